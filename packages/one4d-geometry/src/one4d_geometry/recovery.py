"""Cameras and depth from pointmaps: the One4D post-optimization (paper section 3.4, DESIGN section 6).

For each frame i we look for K_i (focal f_i, fixed principal point), R_i (world-to-camera), o_i (centre) and
depth D_i such that X_uv ~= R_i^T (D_uv K_i^-1 [u, v, 1]) + o_i, robustly (L1), plus the paper's temporal
smoothness term. Instead of hundreds of joint gradient steps over every pixel, the solver uses the
problem's structure:

1. Given a camera, the best depth of each pixel is closed-form (projection of X onto the pixel's ray), so
   the cameras can be found first, from a random subsample of pixels, and the depth afterwards.
2. A pinhole pointmap is a set of 3D-2D correspondences whose rays all meet at o: this is camera
   resectioning. A direct linear transform per frame gives K, R and o without any initial guess, including
   the unknown centre. Robustly (the default), as DUSt3R and MonST3R start from PnP-RANSAC: hundreds of
   fits of 6 random points per frame, each judged as a pinhole camera by its median point-to-ray distance,
   the best few refined on their inliers (LO-RANSAC). Gross errors up to about half of a frame's points
   (by confidence) do not move it.
3. Gauss-Newton with iteratively reweighted least squares then minimises the L1 point-to-ray distance with
   the exact model (square pixels, orthonormal R, shared or per-frame focal) jointly with the L1 smoothness
   term; robustly, over the points within `INLIER_CUTOFF` x the median distance (truncated L1). The normal
   equations are small (6 per frame + focal) and banded.
4. The fit is judged (`CameraRecovery.quality`, :mod:`one4d_geometry.quality`): residual over scene size,
   points set aside, points behind the cameras and how well the focal is determined. Garbage in still
   gives cameras; the quality report says they are not a camera's view.

Confidences weight every stage: the points minimal fits are drawn from and scored on (drawn with
probability proportional to confidence, so medians are weighted medians), the inlier cutoffs, both
least-squares fits and the quality figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solveh_banded
from scipy.spatial.transform import Rotation

from .cameras import default_principal_point, extrinsics_to_c2w, pixel_grid
from .errors import GeometryError, RecoveryError
from .quality import RecoveryQuality
from .rotations import axis_angle_to_matrix, orthonormalize

__all__ = ["CameraRecovery", "depth_along_rays", "recover_cameras"]

MIN_POINTS_PER_FRAME = 12
# Robust fits keep the points within INLIER_CUTOFF x the median distance to their ray: 94 % of Gaussian noise;
# a looser cut lets in wrong points that are nearly right, and a region of them biases the camera.
INLIER_CUTOFF = 2.0
_CUTOFF_FLOOR = 1e-5  # of the scene size: float32 rounding is never an outlier
_DLT_ITERATIONS = 5
_DLT_SAMPLE = 1024  # pixels per frame for the initial resection
_HYPOTHESES = 256  # minimal fits per frame; at 40 % gross errors none is clean with probability 5e-6
_MINIMAL_SAMPLE = 6  # points per minimal fit (11 unknowns of the projection, 2 equations a point)
_SCORE_POINTS = 256  # points a hypothesis is scored on
_REFINED = 4  # best hypotheses per frame refined on their inliers before the final choice
_LOCAL_ITERATIONS = 3  # IRLS steps of that refinement


@dataclass
class CameraRecovery:
    """Result of :func:`recover_cameras` (N frames of H x W pixels)."""

    K: np.ndarray  # (N, 3, 3) intrinsics
    R: np.ndarray  # (N, 3, 3) world-to-camera rotations
    o: np.ndarray  # (N, 3) camera centres in world coordinates
    depth: np.ndarray  # (N, H, W) float32 z-depth, NaN where the input point was invalid
    residuals: np.ndarray  # (N,) mean distance between input points and their recovered points
    iterations: int  # Gauss-Newton iterations used
    quality: RecoveryQuality | None = None  # is it a camera's view? (`quality.problems()`)

    @property
    def c2w(self) -> np.ndarray:
        """(N, 4, 4) camera-to-world matrices [R^T | o]."""
        return extrinsics_to_c2w(self.R, self.o)

    @property
    def focal(self) -> np.ndarray:
        """(N,) focal lengths in pixels."""
        return self.K[:, 0, 0].copy()


def recover_cameras(
    pointmaps: np.ndarray,
    mask: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    *,
    fit_mask: np.ndarray | None = None,
    shared_focal: bool = True,
    principal_point: tuple[float, float] | None = None,
    smoothness_weight: float = 0.01,
    iterations: int = 30,
    tolerance: float = 1e-9,
    sample_size: int = 2048,
    seed: int = 0,
    robust: bool = True,
) -> CameraRecovery:
    """Recover intrinsics, extrinsics and depth from N pointmaps (N, H, W, 3) in one world frame.

    Points that are NaN, outside ``mask`` (N, H, W) or with ``confidence`` (N, H, W) <= 0 are ignored.
    Confidences (any non-negative scale, e.g. DUSt3R's 1 + exp(x), or 0/1 validity; only their ratios
    within a frame matter) weight every stage: which points the robust start draws and how it scores them,
    the fits and the quality figures. ``fit_mask`` (N, H, W) narrows the points the cameras are fitted on
    (e.g. without points clamped at a bound, whose direction is right but whose distance is not) while the
    depth is still computed at every point that is not ignored. ``smoothness_weight`` weighs the smoothness
    term against the per-frame mean point error, with the scene normalised to unit size (so the result does
    not depend on the pointmaps' scale). Cameras are estimated from ``sample_size`` random valid pixels per
    frame (``seed``), depth at full resolution. Iterations stop when the largest update is below
    ``tolerance`` (relative to the scene size).

    ``robust=False`` is the plain L1 fit of earlier versions (IRLS DLT start, every point in the
    refinement): a little faster and as exact on clean input, but 10-20 % of gross errors can turn it
    around. Either way bad geometry does not raise: ``result.quality.problems()`` says what is wrong and
    ``result.quality.is_camera_view`` whether the input is a camera's view at all.
    """
    points, valid, weights = _validate(pointmaps, mask, confidence)
    fit_valid = valid
    if fit_mask is not None:
        fit_valid = valid & _check_fit_mask(fit_mask, points.shape[:3])
        _check_counts(fit_valid, "valid points inside fit_mask")
    n_frames, height, width, _ = points.shape
    cx, cy = default_principal_point(height, width) if principal_point is None else principal_point
    if iterations < 0 or sample_size < MIN_POINTS_PER_FRAME or smoothness_weight < 0:
        raise GeometryError(
            f"need iterations >= 0, sample_size >= {MIN_POINTS_PER_FRAME}, smoothness_weight >= 0; got "
            f"{iterations}, {sample_size}, {smoothness_weight}"
        )

    rng = np.random.default_rng(seed)
    sample = _sample_pixels(points, fit_valid, weights, sample_size, (cx, cy), rng)
    centre, scale = _median_point(sample.points.reshape(1, -1, 3), sample.weights.reshape(1, -1))
    centre, scale = centre[0], float(scale[0])
    if not scale > 0:
        raise RecoveryError("pointmaps: all valid points coincide; cannot recover cameras")
    normalized = (sample.points - centre) / scale

    R, o, focal = _initial_cameras(normalized, sample.pixels, sample.weights, max(height, width), robust, rng)
    if shared_focal:
        focal = np.full(n_frames, np.median(focal))
    fit = _refine(
        normalized,
        sample.pixels,
        sample.weights,
        R,
        o,
        focal,
        shared_focal,
        smoothness_weight,
        iterations,
        tolerance,
        robust,
    )
    R, o, focal = fit.R, fit.o * scale + centre, fit.focal

    K = np.tile(np.eye(3), (n_frames, 1, 1))
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, 0, 2], K[:, 1, 2] = cx, cy
    depth, residuals, behind = _depth_along_rays(points, valid, R, o, focal, (cx, cy), weights)
    w = sample.weights
    quality = RecoveryQuality(
        relative_residual=_weighted_median(fit.distance, w),  # the sample is in scene sizes
        outlier_fraction=1.0 - np.sum(w * fit.inlier, axis=1) / np.sum(w, axis=1),
        behind_fraction=behind,
        focal_relative_error=fit.focal_error,
        focal_over_image=focal / max(height, width),
    )
    return CameraRecovery(
        K=K, R=R, o=o, depth=depth, residuals=residuals, iterations=fit.iterations, quality=quality
    )


def depth_along_rays(
    pointmaps: np.ndarray, recovery: CameraRecovery, mask: np.ndarray | None = None
) -> np.ndarray:
    """Depth (N, H, W) of each point along its pixel's ray under the recovered cameras, NaN outside `mask`
    and at non-finite points. Cameras fitted on some pixels (e.g. without clamped or doubtful points) give
    the depth of all the others this way."""
    points = np.asarray(pointmaps)
    if points.ndim != 4 or points.shape[-1] != 3 or len(points) != len(recovery.R):
        raise GeometryError(
            f"pointmaps must be (N, H, W, 3) with N = {len(recovery.R)} recovered frames, got {points.shape}"
        )
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(points).all(-1)
    if mask is not None:
        if np.shape(mask) != points.shape[:3]:
            raise GeometryError(f"mask must have shape {points.shape[:3]}, got {np.shape(mask)}")
        valid &= np.asarray(mask, dtype=bool)
    principal = (float(recovery.K[0, 0, 2]), float(recovery.K[0, 1, 2]))
    depth, _, _ = _depth_along_rays(points, valid, recovery.R, recovery.o, recovery.focal, principal)
    return depth


def _check_fit_mask(fit_mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    fit_mask = np.asarray(fit_mask)
    if fit_mask.shape != shape:
        raise GeometryError(f"fit_mask must have shape {shape}, got {fit_mask.shape}")
    return fit_mask.astype(bool)


def _validate(
    pointmaps: np.ndarray, mask: np.ndarray | None, confidence: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    points = np.asarray(pointmaps)
    if points.ndim != 4 or points.shape[-1] != 3:
        raise GeometryError(f"pointmaps must have shape (N, H, W, 3), got {points.shape}")
    if points.shape[0] < 1 or points.shape[1] < 2 or points.shape[2] < 2:
        raise GeometryError(f"pointmaps need N >= 1 frames of at least 2 x 2 pixels, got {points.shape}")
    if not np.issubdtype(points.dtype, np.floating):
        points = points.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        nonfinite = ~np.isfinite(points[..., 0] + points[..., 1] + points[..., 2])
    valid = ~nonfinite
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != points.shape[:3]:
            raise GeometryError(f"mask must have shape {points.shape[:3]}, got {mask.shape}")
        valid &= mask.astype(bool)
    suspicious = points[nonfinite if mask is None else nonfinite & mask.astype(bool)]
    if np.any(~np.isnan(suspicious).any(axis=-1)):
        raise GeometryError("pointmaps contain infinite values at valid points; mark invalid points as NaN")
    weights = None
    if confidence is not None:
        weights = np.asarray(confidence, dtype=np.float64)
        if weights.shape != points.shape[:3]:
            raise GeometryError(f"confidence must have shape {points.shape[:3]}, got {weights.shape}")
        if not np.all(np.isfinite(weights[valid])) or np.any(weights[valid] < 0):
            raise GeometryError("confidence must be finite and non-negative at valid points")
        valid &= weights > 0
    _check_counts(valid, "valid points")
    return points, valid, weights


def _check_counts(valid: np.ndarray, what: str) -> None:
    counts = valid.reshape(len(valid), -1).sum(axis=1)
    bad = np.flatnonzero(counts < MIN_POINTS_PER_FRAME)
    if len(bad):
        raise RecoveryError(
            f"pointmaps: frame(s) {bad.tolist()[:10]} have fewer than {MIN_POINTS_PER_FRAME} {what} "
            f"(counts {counts[bad].tolist()[:10]})"
        )


@dataclass
class _Sample:
    points: np.ndarray  # (N, M, 3) world points
    pixels: np.ndarray  # (N, M, 2) pixel coordinates relative to the principal point
    weights: np.ndarray  # (N, M) confidences, 0 for padding


def _sample_pixels(points, valid, weights, size, principal_point, rng) -> _Sample:
    n_frames, height, width, _ = points.shape
    counts = valid.reshape(n_frames, -1).sum(axis=1)
    m = int(min(size, counts.max()))
    flat_points = points.reshape(n_frames, -1, 3)
    out_idx = np.zeros((n_frames, m), dtype=np.int64)
    out_w = np.zeros((n_frames, m))
    for i in range(n_frames):
        candidates = np.flatnonzero(valid[i].ravel())
        take = min(m, len(candidates))
        chosen = rng.choice(candidates, size=take, replace=False) if take < len(candidates) else candidates
        out_idx[i, :take] = chosen
        out_idx[i, take:] = chosen[0]
        out_w[i, :take] = 1.0 if weights is None else weights[i].ravel()[chosen]
    sampled = np.take_along_axis(flat_points, out_idx[..., None], axis=1).astype(np.float64)
    pixels = np.stack([out_idx % width - principal_point[0], out_idx // width - principal_point[1]], axis=-1)
    return _Sample(sampled, pixels.astype(np.float64), out_w)


def _initial_cameras(points, pixels, weights, image_size, robust, rng):
    """Direct linear resection per frame (all frames at once): P ~ diag(f, f, 1) R [I | -o].

    Plain (``robust=False``): IRLS (L1) on all points. Robust: :func:`_robust_resection`.
    """
    points, pixels, weights = points[:, :_DLT_SAMPLE], pixels[:, :_DLT_SAMPLE], weights[:, :_DLT_SAMPLE]
    n_frames, m, _ = points.shape
    if robust:  # medians: a frame's gross errors should not set its coordinates' origin and unit
        mean, spread = _median_point(points, weights)
        spread = np.where(spread > 0, spread, 1.0)
    else:
        mean = np.sum(weights[..., None] * points, axis=1) / weights.sum(axis=1)[:, None]
        spread = np.sqrt(np.sum(weights * np.sum((points - mean[:, None]) ** 2, axis=-1), 1) / weights.sum(1))
    local = (points - mean[:, None]) / spread[:, None, None]
    homogeneous = np.concatenate([local, np.ones((n_frames, m, 1))], axis=-1)
    uv = pixels / (image_size / 2.0)
    rows = np.zeros((n_frames, m, 2, 12))
    rows[:, :, 0, 0:4] = rows[:, :, 1, 4:8] = homogeneous
    rows[:, :, 0, 8:12] = -uv[..., :1] * homogeneous
    rows[:, :, 1, 8:12] = -uv[..., 1:] * homogeneous
    if robust:
        p = _robust_resection(rows, homogeneous, weights, rng)
    else:
        flat_rows = rows.reshape(n_frames, 2 * m, 12)
        irls = weights
        for _ in range(_DLT_ITERATIONS):
            p = _dlt_solve(flat_rows, irls[:, None])[:, 0]
            residual = np.linalg.norm((flat_rows @ p[..., None]).reshape(n_frames, m, 2), axis=-1)
            irls = weights / np.maximum(residual, _irls_floor(residual))
    projection = p.reshape(n_frames, 3, 4)
    projection[:, :2] *= image_size / 2.0  # undo the pixel normalisation
    normalize = np.zeros((n_frames, 4, 4))
    normalize[:, :3, :3] = np.eye(3) / spread[:, None, None]
    normalize[:, :3, 3] = -mean / spread[:, None]
    normalize[:, 3, 3] = 1.0
    projection = projection @ normalize
    projection *= np.sign(np.linalg.det(projection[:, :, :3]))[:, None, None]
    left = projection[:, :, :3]
    row_norms = np.linalg.norm(left, axis=2)
    focal = (row_norms[:, 0] + row_norms[:, 1]) / (2 * row_norms[:, 2])
    R = orthonormalize(left / row_norms[..., None])
    o = -np.linalg.solve(left, projection[:, :, 3:])[..., 0]
    if not (np.all(np.isfinite(focal)) and np.all(focal > 0) and np.all(np.isfinite(o))):
        raise RecoveryError("could not initialise cameras: the pointmaps look degenerate (e.g. planar)")
    return R, o, focal


def _dlt_solve(flat_rows: np.ndarray, irls: np.ndarray) -> np.ndarray:
    """(N, K, 12) unit vectors p minimising sum_m irls_km |rows_m . p|^2, for K weightings (N, K, M) of
    each frame's (N, 2M, 12) equations."""
    weighted = flat_rows[:, None] * np.repeat(np.sqrt(irls), 2, axis=-1)[..., None]
    _, vectors = np.linalg.eigh(np.swapaxes(weighted, -1, -2) @ weighted)
    return vectors[..., 0]


def _robust_resection(rows: np.ndarray, homogeneous: np.ndarray, weights: np.ndarray, rng) -> np.ndarray:
    """LO-RANSAC with least median scoring: the projection (N, 12) of each frame that gross errors do not
    pull, from its points' DLT equations (N, M, 2, 12).

    1. Hypotheses: the least-squares fit of all points and `_HYPOTHESES` fits of `_MINIMAL_SAMPLE` points
       drawn with probability proportional to their confidence. With a fraction e of gross errors a sample
       is clean with probability (1 - e)^6 (4.7 % at e = 40 %), so some of them are. The minimal fits fix
       P[2, 3] = 1, the depth of the frame's median point, which is in front of a camera that sees it.
    2. Score: the median point-to-ray distance over `_SCORE_POINTS` points drawn by confidence (a weighted
       median); points behind the camera count as infinitely far, so mirrored fits lose.
    3. The `_REFINED` best are refined by IRLS (L1) on their inliers (:func:`_inliers`, re-chosen at every
       step: in front, within `INLIER_CUTOFF` x the median distance) and the best after that is kept: a fit
       of six noisy points is rough, the fit of its inliers is not.
    """
    n_frames, m = weights.shape
    minimal = _weighted_choice(weights, _HYPOTHESES * _MINIMAL_SAMPLE, rng)
    minimal = minimal.reshape(n_frames, _HYPOTHESES, _MINIMAL_SAMPLE)
    scored = _weighted_choice(weights, _SCORE_POINTS, rng)
    best = np.empty((n_frames, 12))
    for chunk in np.array_split(np.arange(n_frames), max(1, n_frames // 16)):
        c_rows, c_homogeneous, c_weights = rows[chunk], homogeneous[chunk], weights[chunk]
        flat_rows = c_rows.reshape(len(chunk), 2 * m, 12)
        system = c_rows[np.arange(len(chunk))[:, None, None], minimal[chunk]]  # (C, T, 6, 2, 12)
        system = system.reshape(len(chunk), _HYPOTHESES, 2 * _MINIMAL_SAMPLE, 12)
        lhs, rhs = system[..., :11], -system[..., 11:]
        normal = np.swapaxes(lhs, -1, -2) @ lhs
        normal += 1e-12 * np.trace(normal, axis1=-2, axis2=-1)[..., None, None] * np.eye(11)
        solution = np.linalg.solve(normal, np.swapaxes(lhs, -1, -2) @ rhs)[..., 0]
        hypotheses = np.concatenate([solution, np.ones((*solution.shape[:2], 1))], axis=-1)
        plain = _dlt_solve(flat_rows, c_weights[:, None])
        hypotheses = _pinhole(np.concatenate([plain, hypotheses], axis=1))
        take = scored[chunk][:, :, None]
        distance, front = _ray_distances(
            np.take_along_axis(c_rows, take[..., None], axis=1),
            np.take_along_axis(c_homogeneous, take, axis=1),
            hypotheses,
        )
        score = np.median(np.where(front, distance, np.inf), axis=1)  # (C, T + 1)
        top = np.argsort(score, axis=1)[:, :_REFINED]
        candidates = np.take_along_axis(hypotheses, top[..., None], axis=1)  # (C, K, 12)
        repeated = np.repeat(c_weights, _REFINED, axis=0)  # (C * K, M)
        cutoff = np.full(len(repeated), np.inf)
        for step in range(_LOCAL_ITERATIONS + 1):
            distance, front = _ray_distances(c_rows, c_homogeneous, candidates)  # (C, M, K)
            distance = np.swapaxes(distance, 1, 2).reshape(-1, m)
            front = np.swapaxes(front, 1, 2).reshape(-1, m)
            keep, cutoff = _inliers(distance, front, repeated, cutoff)
            irls = repeated * keep / np.maximum(distance, _robust_floor(cutoff, distance))
            irls = np.where(np.isfinite(irls), irls, 0.0).reshape(len(chunk), _REFINED, m)
            if step < _LOCAL_ITERATIONS:
                candidates = _pinhole(_dlt_solve(flat_rows, irls))
        judged = np.where(front, distance, np.inf)
        score = _weighted_median(judged, repeated).reshape(len(chunk), _REFINED)
        best[chunk] = candidates[np.arange(len(chunk)), np.argmin(score, axis=1)]
    return best


def _pinhole(projections: np.ndarray) -> np.ndarray:
    """The pinhole cameras (..., 12) nearest to general projections (..., 12): square pixels, no skew,
    the principal point at the origin, P = diag(f, f, 1) R [I | -o] with the same centre o. A general fit
    can use those four extra freedoms to explain points that no camera explains, so hypotheses are judged as
    the cameras they stand for. Degenerate projections give NaN (scored as infinitely bad)."""
    P = projections.reshape(*projections.shape[:-1], 3, 4)
    left = P[..., :3]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        determinant = np.linalg.det(left)
        P = P * np.sign(determinant)[..., None, None]
        left = P[..., :3]
        norms = np.linalg.norm(left, axis=-1)
        focal = (norms[..., 0] + norms[..., 1]) / (2 * norms[..., 2])
        directions = left / norms[..., None]
        usable = np.isfinite(directions).all(axis=(-1, -2)) & (np.abs(determinant) > 0) & (focal > 0)
        R = orthonormalize(np.where(usable[..., None, None], directions, np.eye(3)))
        # the centre is the null vector of P, whatever its other freedoms: o = -left^-1 P[:, 3] by Cramer's
        # rule (no exception on singular matrices); det(left) = |determinant| after the sign flip
        minors = [np.linalg.det(np.concatenate([np.delete(left, k, -1), P[..., 3:]], -1)) for k in range(3)]
        centre = np.stack(minors, axis=-1) * np.array([-1.0, 1.0, -1.0]) / np.abs(determinant)[..., None]
        scaled = R * np.stack([focal, focal, np.ones_like(focal)], axis=-1)[..., None]
        out = np.concatenate([scaled, -(scaled @ centre[..., None])], axis=-1)
    return np.where(usable[..., None, None], out, np.nan).reshape(projections.shape)


def _weighted_choice(weights: np.ndarray, count: int, rng) -> np.ndarray:
    """(N, count) indices drawn per frame with replacement, with probability proportional to weights."""
    n_frames, m = weights.shape
    cdf = np.cumsum(weights, axis=1)
    cdf = cdf / cdf[:, -1:]
    draws = rng.random((n_frames, count)) + np.arange(n_frames)[:, None]
    flat = (cdf + np.arange(n_frames)[:, None]).ravel()
    index = np.searchsorted(flat, draws.ravel(), side="right").reshape(n_frames, count)
    return np.clip(index - m * np.arange(n_frames)[:, None], 0, m - 1)


def _ray_distances(rows, homogeneous, cameras) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, T) distances of K points to their pixels' rays under T cameras (N, T, 12) per frame (from
    :func:`_pinhole`), in the frame's local units at the point's depth, and whether each point is in front
    of the camera. Degenerate (NaN) cameras put every point infinitely far."""
    n_frames, k = rows.shape[:2]
    algebraic = np.swapaxes(rows.reshape(n_frames, 2 * k, 12) @ np.swapaxes(cameras, 1, 2), 1, 2)
    algebraic = algebraic.reshape(n_frames, -1, k, 2)  # (N, T, K, 2): q_xy - uv q_z = f (p_xy - uv p_z / f)
    focal = np.linalg.norm(cameras[..., :3], axis=-1)  # first row: f R_0
    with np.errstate(invalid="ignore"):
        depth = homogeneous @ np.swapaxes(cameras[..., 8:], 1, 2)  # (N, K, T): third row, R_2 (X - o)
        distance = np.swapaxes(np.hypot(algebraic[..., 0], algebraic[..., 1]), 1, 2) / focal[:, None]
        return np.where(np.isfinite(distance), distance, np.inf), depth > 0


def _inliers(
    distance: np.ndarray, front: np.ndarray, weights: np.ndarray, cutoff: np.ndarray, clip: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(N, M) points in front of the camera within the frame's cutoff, and the cutoffs (N,): `INLIER_CUTOFF`
    x the frame's weighted median distance (``clip``: or the median of those over the frames, if smaller),
    never more than the previous `cutoff` (N,) nor less than `_CUTOFF_FLOOR` (scene sizes in the refinement).

    A camera between two point sets (the scene and a region moving with another camera, such as a backdrop
    stuck to the screen) has a larger median distance than the right camera, large enough to take both sets
    in; the cutoff must not follow it. So it only shrinks, and with ``clip`` (distances in one unit for all
    frames) no frame's cutoff exceeds what is typical in the clip. A frame where fewer than
    `MIN_POINTS_PER_FRAME` points remain (most of it behind the camera: no camera's view, which the quality
    report says) keeps them all.
    """
    judged = np.where(front, distance, np.inf)
    median = _weighted_median(judged, weights)
    if clip:
        median = np.minimum(median, np.median(median))
    cutoff = np.minimum(cutoff, np.maximum(INLIER_CUTOFF * median, _CUTOFF_FLOOR))
    keep = judged <= cutoff[:, None]
    few = np.count_nonzero(keep & (weights > 0), axis=1) < MIN_POINTS_PER_FRAME
    keep[few] = True
    return keep, np.where(few, np.inf, cutoff)


def _median_point(points: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of (N, M, 3) points: the coordinate-wise weighted median point (N, 3) and the weighted median
    distance to it (N,), a centre and a size that half of the points (by weight) can set."""
    centre = np.stack([_weighted_median(points[..., k], weights) for k in range(3)], axis=-1)
    return centre, _weighted_median(np.linalg.norm(points - centre[:, None], axis=-1), weights)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(N,) weighted median of each row of (N, M) values (the lower one of an even count)."""
    if np.all(weights == weights[:, :1]):  # no confidences: a partition is faster than a sort
        k = (values.shape[1] - 1) // 2
        return np.partition(values, k, axis=1)[:, k]
    order = np.argsort(values, axis=1)
    sorted_values = np.take_along_axis(values, order, axis=1)
    cumulative = np.cumsum(np.take_along_axis(weights, order, axis=1), axis=1)
    middle = np.argmax(cumulative >= 0.5 * cumulative[:, -1:], axis=1)
    return sorted_values[np.arange(len(values)), middle]


def _irls_floor(residual: np.ndarray) -> np.ndarray:
    """Per-frame floor for IRLS residuals: a tenth of the median, never zero."""
    return np.maximum(0.1 * np.median(residual, axis=1, keepdims=True), 1e-12)


def _robust_floor(cutoff: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """The same from the robust cutoffs (N,), i.e. from the weighted median: a floor set by gross errors
    would flatten the L1 data term near the solution and let the smoothness term pull the cameras. Frames
    without a cutoff (no camera's view) fall back to the plain floor."""
    plain = _irls_floor(np.where(np.isfinite(distance), distance, 0.0))
    robust = np.maximum(0.1 * cutoff / INLIER_CUTOFF, 1e-12)[:, None]
    return np.where(np.isfinite(cutoff)[:, None], robust, plain)


@dataclass
class _Fit:
    R: np.ndarray
    o: np.ndarray
    focal: np.ndarray
    iterations: int
    distance: np.ndarray  # (N, M) distance of each sampled point to its ray, in scene sizes
    inlier: np.ndarray  # (N, M) within the robust cutoff and in front of the camera
    focal_error: np.ndarray  # (N,) relative standard error of each frame's focal (NaN without iterations)


def _refine(points, pixels, weights, R, o, focal, shared_focal, smoothness, iterations, tolerance, robust):
    """Joint IRLS Gauss-Newton on (rotation, centre, 1/focal) of all frames.

    Data residual of a point: r = (p_x - g u' p_z, p_y - g v' p_z) with p = R (X - o) and g = 1 / f, i.e. the
    offset of X from the pixel's ray, measured at the point's depth. Rotations are updated as
    R <- R exp([delta]_x) (delta in world axes), which makes the smoothness residuals nearly linear.
    Robust: truncated L1, points off their rays by more than the cutoff of :func:`_inliers` (or behind the
    camera) count for nothing, and each frame's data term is the mean over the others.
    """
    n_frames, m, _ = points.shape
    block = 6 if shared_focal else 7  # parameters per frame: delta, o (and 1/f); a shared 1/f comes last
    n_params = block * n_frames + (1 if shared_focal else 0)
    frame_weight = weights / weights.sum(axis=1, keepdims=True)  # data term = per-frame mean
    inv_focal = 1.0 / (focal[:1] if shared_focal else focal)
    focal_of_frame = np.zeros(n_frames, dtype=int) if shared_focal else np.arange(n_frames)
    cutoff = np.full(n_frames, np.inf)
    last = None
    used = 0

    def distances(R, o, inv_focal):
        g = inv_focal[focal_of_frame][:, None, None]
        offset = points - o[:, None]
        p = offset @ np.swapaxes(R, 1, 2)
        residual = p[..., :2] - g * pixels * p[..., 2:]
        return g, offset, p, residual, np.linalg.norm(residual, axis=-1)

    for used in range(1, iterations + 1):  # noqa: B007
        g, offset, p, residual, distance = distances(R, o, inv_focal)
        if robust:
            keep, cutoff = _inliers(distance, p[..., 2] > 0, weights, cutoff, clip=True)
            kept = weights * keep
            frame_weight = kept / kept.sum(axis=1, keepdims=True)
            floor = _robust_floor(cutoff, distance)
        else:
            floor = _irls_floor(distance)
        irls = frame_weight / (2 * np.maximum(distance, floor))

        # p_k = R_k . (X - o): d p_k / d delta = (X - o) x R_k, d p_k / d o = -R_k; r = p_xy - g uv' p_z.
        d_rot = _cross_rows(offset, R)  # (N, M, 3 rows k, 3)
        jac = np.empty((n_frames, m, 2, 7))
        jac[..., 0:3] = d_rot[:, :, :2] - g[..., None] * pixels[..., None] * d_rot[:, :, 2:3]
        jac[..., 3:6] = -R[:, None, :2] + g[..., None] * pixels[..., None] * R[:, None, 2:3]
        jac[..., 6] = -pixels * p[..., 2:]
        sqrt_w = np.sqrt(irls)[..., None, None]
        jw = (jac * sqrt_w).reshape(n_frames, 2 * m, 7)
        rw = (residual[..., None] * sqrt_w).reshape(n_frames, 2 * m, 1)
        blocks = np.swapaxes(jw, 1, 2) @ jw
        grads = (np.swapaxes(jw, 1, 2) @ rw)[..., 0]

        hessian = np.zeros((n_params, n_params))
        gradient = np.zeros(n_params)
        for i in range(n_frames):
            idx = np.r_[block * i : block * i + 6, n_params - 1 if shared_focal else block * i + 6]
            hessian[np.ix_(idx, idx)] += blocks[i]
            gradient[idx] += grads[i]
        if smoothness > 0 and n_frames > 1:
            _add_smoothness(hessian, gradient, R, o, smoothness, block)
        hessian[np.diag_indices(n_params)] += 1e-12 * np.trace(hessian) / n_params
        step = -_solve_normal_equations(hessian, gradient, block, shared_focal)
        last = (hessian, irls, distance)

        per_frame = step[: block * n_frames].reshape(n_frames, block)
        pose_step = per_frame[:, :6]
        R = R @ axis_angle_to_matrix(pose_step[:, :3])
        o = o + pose_step[:, 3:]
        focal_step = step[-1:] if shared_focal else per_frame[:, 6]
        inv_focal = inv_focal + focal_step
        if np.max(np.abs(pose_step)) < tolerance and np.max(np.abs(focal_step / inv_focal)) < tolerance:
            break
    R = orthonormalize(R)
    _, _, p, _, distance = distances(R, o, inv_focal)
    inlier, _ = _inliers(distance, p[..., 2] > 0, weights, cutoff, clip=True)
    g = inv_focal[focal_of_frame]
    variance = np.full(n_frames, np.nan) if last is None else _focal_variance(*last, block, shared_focal)
    return _Fit(R, o, 1.0 / g, used, distance, inlier, np.sqrt(variance) / np.abs(g))


def _focal_variance(hessian, irls, distance, block, shared_focal) -> np.ndarray:
    """(N,) variance of each frame's 1 / f: s^2 (H^-1)_ff, H the Gauss-Newton matrix of the weighted problem
    and s^2 = sum w r^2 / (observations - parameters) its residual variance. It is how far 1 / f can move
    before the fit gets noticeably worse, so it is large when the points hardly pin the focal down (a
    dolly zoom explains them as well: narrow views, or points that no camera explains) and tends to zero
    for exact input."""
    n_frames = len(distance)
    observations = 2 * np.count_nonzero(irls > 0)
    s2 = np.sum(irls * distance**2) / max(observations - len(hessian), 1)
    n_band = len(hessian) - 1 if shared_focal else len(hessian)
    banded = _banded(hessian[:n_band, :n_band], block)
    if shared_focal:
        y = solveh_banded(banded, hessian[:n_band, n_band], check_finite=False)
        return np.full(n_frames, s2 / (hessian[n_band, n_band] - hessian[n_band, :n_band] @ y))
    index = block * np.arange(n_frames) + 6
    unit = np.zeros((n_band, n_frames))
    unit[index, np.arange(n_frames)] = 1.0
    return s2 * solveh_banded(banded, unit, check_finite=False)[index, np.arange(n_frames)]


def _cross_rows(offset: np.ndarray, R: np.ndarray) -> np.ndarray:
    """(N, M, 3, 3) array whose [n, m, k] entry is offset[n, m] x R[n, k]."""
    a = [offset[..., j][..., None] for j in range(3)]  # (N, M, 1)
    b = [R[:, None, :, j] for j in range(3)]  # (N, 1, 3)
    return np.stack(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]], axis=-1
    )


def _solve_normal_equations(hessian: np.ndarray, gradient: np.ndarray, block: int, shared_focal: bool):
    """Solve H x = g where H is block-tridiagonal (frame after frame) plus, with a shared focal, one last
    dense row and column (eliminated by a Schur complement). Banded Cholesky: O(N), no BLAS threads."""
    n_band = len(hessian) - 1 if shared_focal else len(hessian)
    banded = _banded(hessian[:n_band, :n_band], block)
    if not shared_focal:
        return solveh_banded(banded, gradient, check_finite=False)
    rhs = np.stack([gradient[:n_band], hessian[:n_band, n_band]], axis=1)
    y = solveh_banded(banded, rhs, check_finite=False)
    focal_step = (gradient[n_band] - hessian[n_band, :n_band] @ y[:, 0]) / (
        hessian[n_band, n_band] - hessian[n_band, :n_band] @ y[:, 1]
    )
    return np.concatenate([y[:, 0] - y[:, 1] * focal_step, [focal_step]])


def _banded(core: np.ndarray, block: int) -> np.ndarray:
    """Upper band storage of a symmetric block-tridiagonal matrix (blocks of `block`) for solveh_banded."""
    bandwidth = 2 * block - 1
    banded = np.zeros((bandwidth + 1, len(core)))
    for k in range(bandwidth + 1):
        banded[bandwidth - k, k:] = np.diagonal(core, k)
    return banded


def _add_smoothness(hessian, gradient, R, o, weight, block):
    """IRLS terms for sum_i ||R_i^T R_{i+1} - I||_F + ||o_{i+1} - o_i||, weighted by ``weight``."""
    n_frames = len(R)
    relative = np.swapaxes(R[:-1], 1, 2) @ R[1:]  # R_i^T R_{i+1}
    phi = Rotation.from_matrix(relative).as_rotvec()
    # ||A - I||_F = 2 sqrt(2) |sin(theta / 2)| ~ sqrt(2) theta; residual phi + delta_{i+1} - A^T delta_i.
    rot_w = weight * np.sqrt(2) / (2 * np.maximum(np.linalg.norm(phi, axis=1), 1e-6))
    delta_t = o[1:] - o[:-1]
    trans_w = weight / (2 * np.maximum(np.linalg.norm(delta_t, axis=1), 1e-6))
    eye = np.eye(3)
    for i in range(n_frames - 1):
        a, b = block * i, block * (i + 1)
        for offset, w, e, j_prev in (
            (0, rot_w[i], phi[i], -relative[i].T),
            (3, trans_w[i], delta_t[i], -eye),
        ):
            pa, pb = slice(a + offset, a + offset + 3), slice(b + offset, b + offset + 3)
            hessian[pa, pa] += w * j_prev.T @ j_prev
            hessian[pb, pb] += w * eye
            hessian[pa, pb] += w * j_prev.T
            hessian[pb, pa] += w * j_prev
            gradient[pa] += w * j_prev.T @ e
            gradient[pb] += w * e


def _depth_along_rays(points, valid, R, o, focal, principal_point, weights=None):
    """Closed-form depth per pixel (X projected onto its ray), the per-frame mean point error and the
    per-frame share of valid points (weighted by `weights`, if given) at depth <= 0.

    With c = R^T K^-1 [u, v, 1] (the ray in world axes, c_z = 1 in camera axes) the depth is
    D = c . (X - o) / |c|^2 and the point error is |X - o - D c|. Computed in float32, frame by frame.
    """
    n_frames, height, width, _ = points.shape
    u, v = pixel_grid(height, width)
    depth = np.empty((n_frames, height, width), dtype=np.float32)
    residuals = np.zeros(n_frames)
    behind = np.zeros(n_frames)
    for i in range(n_frames):  # invalid points may hold anything; their results are discarded
        ray_x = ((u - principal_point[0]) / focal[i]).astype(np.float32)
        ray_y = ((v - principal_point[1]) / focal[i]).astype(np.float32)
        rt = R[i].astype(np.float32)
        ray = [ray_x * rt[0, k] + ray_y * rt[1, k] + rt[2, k] for k in range(3)]
        with np.errstate(invalid="ignore", over="ignore"):
            offset = [points[i, ..., k] - np.float32(o[i, k]) for k in range(3)]
            d = (ray[0] * offset[0] + ray[1] * offset[1] + ray[2] * offset[2]) / (ray_x**2 + ray_y**2 + 1)
            error = np.sqrt(sum((offset[k] - d * ray[k]) ** 2 for k in range(3)))
        depth[i] = np.where(valid[i], d, np.nan)
        residuals[i] = np.sum(error, where=valid[i]) / max(np.count_nonzero(valid[i]), 1)
        back = valid[i] & ~(d > 0)
        if weights is None:
            behind[i] = np.count_nonzero(back) / max(np.count_nonzero(valid[i]), 1)
        else:
            behind[i] = np.sum(weights[i], where=back) / max(np.sum(weights[i], where=valid[i]), 1e-300)
    return depth, residuals, behind
