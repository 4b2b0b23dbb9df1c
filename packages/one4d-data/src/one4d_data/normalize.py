"""Per-clip pointmap normalization to [-1, 1] (DESIGN section 3) and its exact inverse."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import DataError

_MAX_STAT_POINTS = 1 << 20  # percentiles from at most this many points (a strided subsample)


@dataclass(frozen=True)
class PointmapNormalization:
    """``normalized = (x - center) / scale``: one centre (3,) and one scalar scale per clip."""

    center: np.ndarray
    scale: float

    def __post_init__(self) -> None:
        center = np.asarray(self.center, dtype=np.float64).reshape(3)
        if not np.all(np.isfinite(center)) or not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"invalid normalization: center={center}, scale={self.scale}")
        object.__setattr__(self, "center", center)
        object.__setattr__(self, "scale", float(self.scale))

    def apply(self, points):
        """Normalize points (..., 3), numpy or torch, in their own dtype (float64 for integer input)."""
        if isinstance(points, torch.Tensor):
            points = points if points.is_floating_point() else points.double()
            center = torch.as_tensor(self.center, dtype=points.dtype, device=points.device)
            return (points - center) / self.scale
        points = np.asarray(points)
        dtype = points.dtype if points.dtype.kind == "f" else np.float64
        return (points.astype(dtype, copy=False) - self.center.astype(dtype)) / dtype.type(self.scale)

    def invert(self, points):
        """Inverse of :meth:`apply` (exact up to one rounding in the working dtype)."""
        if isinstance(points, torch.Tensor):
            points = points if points.is_floating_point() else points.double()
            center = torch.as_tensor(self.center, dtype=points.dtype, device=points.device)
            return points * self.scale + center
        points = np.asarray(points)
        dtype = points.dtype if points.dtype.kind == "f" else np.float64
        return points.astype(dtype, copy=False) * dtype.type(self.scale) + self.center.astype(dtype)


def normalization_from_points(
    points: np.ndarray, low: float = 2.0, high: float = 98.0, where: str = "pointmaps"
) -> PointmapNormalization:
    """Robust transform from valid points (N, 3): centre of the [low, high] percentile box, scale = half its
    largest side, so the bulk of the clip lands in [-1, 1] and outliers do not shrink it."""
    if points.shape[0] == 0:
        raise DataError(where, "no valid points to normalize")
    if points.shape[0] > _MAX_STAT_POINTS:
        points = points[:: points.shape[0] // _MAX_STAT_POINTS + 1]
    bounds = np.percentile(points.astype(np.float64), [low, high], axis=0)
    center = bounds.mean(0)
    scale = float((bounds[1] - bounds[0]).max() / 2.0)
    if not scale > 1e-12:
        raise DataError(where, "valid points are degenerate (zero extent); cannot normalize")
    return PointmapNormalization(center, scale)


def robust_normalization(
    pointmaps: np.ndarray, valid: np.ndarray, low: float = 2.0, high: float = 98.0, where: str = "pointmaps"
) -> PointmapNormalization:
    """The transform of :func:`normalization_from_points` for pointmaps (..., 3) and a mask (...), computed
    from a strided subsample of at most ~1M pixels (fast for 81-frame clips)."""
    flat = np.asarray(pointmaps).reshape(-1, 3)
    mask = np.asarray(valid, dtype=bool).reshape(-1)
    step = max(1, flat.shape[0] // _MAX_STAT_POINTS)
    sample = flat[::step][mask[::step]]
    sample = sample[np.isfinite(sample).all(-1)]
    if sample.shape[0] == 0 and step > 1:  # sparse validity: fall back to every valid point
        sample = flat[mask]
        sample = sample[np.isfinite(sample).all(-1)]
    return normalization_from_points(sample, low, high, where)


def normalize_pointmaps(
    pointmaps: np.ndarray, valid: np.ndarray, low: float = 2.0, high: float = 98.0
) -> tuple[np.ndarray, PointmapNormalization]:
    """Pointmaps (F, H, W, 3) + valid (F, H, W) -> normalized float32 pointmaps (NaN where invalid) and the
    transform. Values are not clipped, so :meth:`PointmapNormalization.invert` restores them exactly;
    about (100 - high + low)% of points per axis fall outside [-1, 1] (clamp them for the VAE)."""
    pointmaps = np.asarray(pointmaps, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool) & np.isfinite(pointmaps).all(-1)
    norm = robust_normalization(pointmaps, valid, low, high)
    out = norm.apply(pointmaps)
    out[~valid] = np.nan
    return out, norm
