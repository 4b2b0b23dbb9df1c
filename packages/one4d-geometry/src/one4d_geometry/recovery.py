"""Cameras and depth from pointmaps: the One4D post-optimization (paper section 3.4, DESIGN section 6).

For each frame i we look for K_i (focal f_i, fixed principal point), R_i (world-to-camera), o_i (centre) and
depth D_i such that X_uv ~= R_i^T (D_uv K_i^-1 [u, v, 1]) + o_i, robustly (L1), plus the paper's temporal
smoothness term. Instead of hundreds of joint gradient steps over every pixel, the solver uses the
problem's structure:

1. Given a camera, the best depth of each pixel is closed-form (projection of X onto the pixel's ray), so
   the cameras can be found first, from a random subsample of pixels, and the depth afterwards.
2. A pinhole pointmap is a set of 3D-2D correspondences whose rays all meet at o: this is camera
   resectioning. A robust (IRLS) direct linear transform per frame gives K, R and o without any initial
   guess, including the unknown centre.
3. Gauss-Newton with iteratively reweighted least squares then minimises the L1 point-to-ray distance with
   the exact model (square pixels, orthonormal R, shared or per-frame focal) jointly with the L1 smoothness
   term; the normal equations are small (6 per frame + focal) and are solved densely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solveh_banded
from scipy.spatial.transform import Rotation

from .cameras import default_principal_point, extrinsics_to_c2w, pixel_grid
from .errors import GeometryError, RecoveryError
from .rotations import axis_angle_to_matrix, orthonormalize

__all__ = ["CameraRecovery", "depth_along_rays", "recover_cameras"]

MIN_POINTS_PER_FRAME = 12
_DLT_ITERATIONS = 5
_DLT_SAMPLE = 1024  # pixels per frame for the initial resection


@dataclass
class CameraRecovery:
    """Result of :func:`recover_cameras` (N frames of H x W pixels)."""

    K: np.ndarray  # (N, 3, 3) intrinsics
    R: np.ndarray  # (N, 3, 3) world-to-camera rotations
    o: np.ndarray  # (N, 3) camera centres in world coordinates
    depth: np.ndarray  # (N, H, W) float32 z-depth, NaN where the input point was invalid
    residuals: np.ndarray  # (N,) mean distance between input points and their recovered points
    iterations: int  # Gauss-Newton iterations used

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
) -> CameraRecovery:
    """Recover intrinsics, extrinsics and depth from N pointmaps (N, H, W, 3) in one world frame.

    Points that are NaN, outside ``mask`` (N, H, W) or with ``confidence`` (N, H, W) <= 0 are ignored;
    confidences weight the data term. ``fit_mask`` (N, H, W) narrows the points the cameras are fitted on
    (e.g. without points clamped at a bound, whose direction is right but whose distance is not) while the
    depth is still computed at every point that is not ignored. ``smoothness_weight`` weighs the smoothness
    term against the per-frame mean point error, with the scene normalised to unit size (so the result does
    not depend on the pointmaps' scale). Cameras are estimated from ``sample_size`` random valid pixels per
    frame (``seed``), depth at full resolution. Iterations stop when the largest update is below ``tolerance``
    (relative to the scene size).
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

    sample = _sample_pixels(points, fit_valid, weights, sample_size, (cx, cy), np.random.default_rng(seed))
    centre = np.median(sample.points[sample.weights > 0], axis=0)
    scale = float(np.median(np.linalg.norm(sample.points[sample.weights > 0] - centre, axis=-1)))
    if not scale > 0:
        raise RecoveryError("pointmaps: all valid points coincide; cannot recover cameras")
    normalized = (sample.points - centre) / scale

    R, o, focal = _initial_cameras(normalized, sample.pixels, sample.weights, max(height, width))
    if shared_focal:
        focal = np.full(n_frames, np.median(focal))
    R, o, focal, used = _refine(
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
    )
    o = o * scale + centre

    K = np.tile(np.eye(3), (n_frames, 1, 1))
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, 0, 2], K[:, 1, 2] = cx, cy
    depth, residuals = _depth_along_rays(points, valid, R, o, focal, (cx, cy))
    return CameraRecovery(K=K, R=R, o=o, depth=depth, residuals=residuals, iterations=used)


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
    depth, _ = _depth_along_rays(points, valid, recovery.R, recovery.o, recovery.focal, principal)
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


def _initial_cameras(points, pixels, weights, image_size):
    """Robust DLT resection per frame (all frames at once): P ~ diag(f, f, 1) R [I | -o]."""
    points, pixels, weights = points[:, :_DLT_SAMPLE], pixels[:, :_DLT_SAMPLE], weights[:, :_DLT_SAMPLE]
    n_frames, m, _ = points.shape
    mean = np.sum(weights[..., None] * points, axis=1) / weights.sum(axis=1)[:, None]
    spread = np.sqrt(np.sum(weights * np.sum((points - mean[:, None]) ** 2, axis=-1), 1) / weights.sum(1))
    local = (points - mean[:, None]) / spread[:, None, None]
    homogeneous = np.concatenate([local, np.ones((n_frames, m, 1))], axis=-1)
    uv = pixels / (image_size / 2.0)
    rows = np.zeros((n_frames, m, 2, 12))
    rows[:, :, 0, 0:4] = rows[:, :, 1, 4:8] = homogeneous
    rows[:, :, 0, 8:12] = -uv[..., :1] * homogeneous
    rows[:, :, 1, 8:12] = -uv[..., 1:] * homogeneous
    rows = rows.reshape(n_frames, 2 * m, 12)
    irls = weights.copy()
    for _ in range(_DLT_ITERATIONS):
        weighted = rows * np.repeat(np.sqrt(irls), 2, axis=1)[..., None]
        _, vectors = np.linalg.eigh(np.swapaxes(weighted, 1, 2) @ weighted)
        p = vectors[:, :, :1]
        residual = np.linalg.norm((rows @ p).reshape(n_frames, m, 2), axis=-1)
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


def _irls_floor(residual: np.ndarray) -> np.ndarray:
    """Per-frame floor for IRLS residuals: a tenth of the median, never zero."""
    return np.maximum(0.1 * np.median(residual, axis=1, keepdims=True), 1e-12)


def _refine(points, pixels, weights, R, o, focal, shared_focal, smoothness, iterations, tolerance):
    """Joint IRLS Gauss-Newton on (rotation, centre, 1/focal) of all frames.

    Data residual of a point: r = (p_x - g u' p_z, p_y - g v' p_z) with p = R (X - o) and g = 1 / f, i.e. the
    offset of X from the pixel's ray, measured at the point's depth. Rotations are updated as
    R <- R exp([delta]_x) (delta in world axes), which makes the smoothness residuals nearly linear.
    """
    n_frames, m, _ = points.shape
    block = 6 if shared_focal else 7  # parameters per frame: delta, o (and 1/f); a shared 1/f comes last
    n_params = block * n_frames + (1 if shared_focal else 0)
    frame_weight = weights / weights.sum(axis=1, keepdims=True)  # data term = per-frame mean
    inv_focal = 1.0 / (focal[:1] if shared_focal else focal)
    focal_of_frame = np.zeros(n_frames, dtype=int) if shared_focal else np.arange(n_frames)
    used = 0
    for used in range(1, iterations + 1):  # noqa: B007
        g = inv_focal[focal_of_frame][:, None, None]
        offset = points - o[:, None]
        p = offset @ np.swapaxes(R, 1, 2)
        residual = p[..., :2] - g * pixels * p[..., 2:]
        distance = np.linalg.norm(residual, axis=-1)
        irls = frame_weight / (2 * np.maximum(distance, _irls_floor(distance)))

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

        per_frame = step[: block * n_frames].reshape(n_frames, block)
        pose_step = per_frame[:, :6]
        R = R @ axis_angle_to_matrix(pose_step[:, :3])
        o = o + pose_step[:, 3:]
        focal_step = step[-1:] if shared_focal else per_frame[:, 6]
        inv_focal = inv_focal + focal_step
        if np.max(np.abs(pose_step)) < tolerance and np.max(np.abs(focal_step / inv_focal)) < tolerance:
            break
    focal = 1.0 / inv_focal[focal_of_frame]
    return orthonormalize(R), o, focal, used


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
    bandwidth = 2 * block - 1
    banded = np.zeros((bandwidth + 1, n_band))
    core = hessian[:n_band, :n_band]
    for k in range(bandwidth + 1):
        banded[bandwidth - k, k:] = np.diagonal(core, k)
    if not shared_focal:
        return solveh_banded(banded, gradient, check_finite=False)
    rhs = np.stack([gradient[:n_band], hessian[:n_band, n_band]], axis=1)
    y = solveh_banded(banded, rhs, check_finite=False)
    focal_step = (gradient[n_band] - hessian[n_band, :n_band] @ y[:, 0]) / (
        hessian[n_band, n_band] - hessian[n_band, :n_band] @ y[:, 1]
    )
    return np.concatenate([y[:, 0] - y[:, 1] * focal_step, [focal_step]])


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


def _depth_along_rays(points, valid, R, o, focal, principal_point):
    """Closed-form depth per pixel (X projected onto its ray) and the per-frame mean point error.

    With c = R^T K^-1 [u, v, 1] (the ray in world axes, c_z = 1 in camera axes) the depth is
    D = c . (X - o) / |c|^2 and the point error is |X - o - D c|. Computed in float32, frame by frame.
    """
    n_frames, height, width, _ = points.shape
    u, v = pixel_grid(height, width)
    depth = np.empty((n_frames, height, width), dtype=np.float32)
    residuals = np.zeros(n_frames)
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
    return depth, residuals
