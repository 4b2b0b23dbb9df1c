"""Weighted Umeyama / Procrustes alignment (SE(3) and Sim(3)) and the ATE RMSE built on it."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import GeometryError

__all__ = ["Similarity", "ate_rmse", "robust_umeyama", "umeyama"]


class Similarity(NamedTuple):
    """Transform x -> scale * R @ x + t."""

    scale: float
    R: np.ndarray
    t: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        return self.scale * np.asarray(points) @ self.R.T + self.t


def umeyama(
    source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None, with_scale: bool = True
) -> Similarity:
    """Least-squares similarity (or rigid, ``with_scale=False``) transform mapping source onto target.

    ``source`` and ``target`` are (P, 3); ``weights`` (P,) are non-negative. Minimises
    sum_p w_p || target_p - (s R source_p + t) ||^2 (Umeyama 1991).
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 3 or src.shape != dst.shape:
        raise GeometryError(f"source and target must both have shape (P, 3), got {src.shape} and {dst.shape}")
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(src),) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise GeometryError(f"weights must be {len(src)} finite non-negative values")
    if not (np.all(np.isfinite(src)) and np.all(np.isfinite(dst))):
        raise GeometryError("source and target must be finite")
    if np.count_nonzero(w) < 3 or w.sum() <= 0:
        raise GeometryError("umeyama needs at least 3 points with positive weight")
    w = w / w.sum()
    mu_src, mu_dst = w @ src, w @ dst
    src_c, dst_c = src - mu_src, dst - mu_dst
    cov = (dst_c * w[:, None]).T @ src_c
    u, d, vt = np.linalg.svd(cov)
    flip = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        flip[2] = -1.0
    R = (u * flip) @ vt
    var_src = float(w @ np.sum(src_c**2, axis=1))
    scale = float((d * flip).sum() / var_src) if with_scale and var_src > 0 else 1.0
    return Similarity(scale, R, mu_dst - scale * R @ mu_src)


def robust_umeyama(
    source: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray | None = None,
    iterations: int = 10,
    cutoff: float = 3.0,
    trials: int = 200,
    seed: int = 0,
) -> Similarity:
    """Sim(3) mapping source onto target that gross errors do not pull (up to about half the points wrong).

    Least median of squares first: `trials` similarities fitted to random 4-point samples, the one with the
    smallest median residual kept (on at most 20,000 points); then iteratively reweighted Umeyama with Cauchy
    weights w = 1 / (1 + (r / (cutoff * sigma))^2), sigma the median residual of the points. Exact
    correspondences give the exact transform. (A plain least-squares start is not enough: wrong points on
    the source side also shrink the scale, and the reweighting then settles on the wrong fit.)
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    base = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    transform = umeyama(src, dst, base)
    usable = np.flatnonzero(base > 0)
    rng = np.random.default_rng(seed)
    scored = usable if len(usable) <= 20_000 else rng.choice(usable, 20_000, replace=False)

    def median_residual(candidate: Similarity) -> float:
        return float(np.median(np.linalg.norm(candidate.apply(src[scored]) - dst[scored], axis=1)))

    best = median_residual(transform)
    if len(usable) > 4:
        for _ in range(trials):
            sample = rng.choice(usable, 4, replace=False)
            try:
                candidate = umeyama(src[sample], dst[sample])
            except GeometryError:
                continue
            score = median_residual(candidate)
            if score < best:
                transform, best = candidate, score
    for _ in range(iterations):
        residual = np.linalg.norm(transform.apply(src) - dst, axis=1)
        sigma = float(np.median(residual[base > 0]))
        if not sigma > 1e-12 * max(1.0, float(np.abs(dst).max())):
            break
        transform = umeyama(src, dst, base / (1.0 + (residual / (cutoff * sigma)) ** 2))
    return transform


def ate_rmse(estimate: np.ndarray, reference: np.ndarray, with_scale: bool = True) -> float:
    """Absolute trajectory error: RMSE of positions (P, 3) after Sim(3) (or SE(3)) Umeyama alignment."""
    transform = umeyama(estimate, reference, with_scale=with_scale)
    errors = transform.apply(estimate) - np.asarray(reference, dtype=np.float64)
    return float(np.sqrt(np.mean(np.sum(errors**2, axis=1))))
