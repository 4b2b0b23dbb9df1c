"""Per-clip pointmap normalization to [-1, 1] (DESIGN section 3), its exact inverse, the pointmap code the
VAE sees, and the [-1, 1] range of the RGB frames it sees.

The code (:func:`encode_pointmaps` / :func:`decode_pointmaps`) is how pointmaps become a 3-channel video in
[-1, 1]: normalized points clamped to the unit box, and invalid points (sky, holes) set to the out-of-box
constant ``INVALID_POINT_CODE`` in all three channels (as Geo4D does), so the model learns them as a class of
their own instead of as geometry at the origin. Decoding tells three kinds of pixel apart: invalid (near the
code), saturated (clamped at the box: their direction is kept, their distance is a lower bound, so they must
not steer a camera fit), and reliable (the rest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import DataError

_MAX_STAT_POINTS = 1 << 20  # percentiles from at most this many points (a strided subsample)


def rgb_to_unit(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (any layout) -> float32 in [-1, 1], the range the VAE encodes frames in (one new tensor,
    scaled in place: this runs for every training clip)."""
    return pixels.to(torch.float32, copy=True).div_(127.5).sub_(1.0)


def unit_to_rgb(values: torch.Tensor) -> torch.Tensor:
    """Values in [-1, 1] (any layout; clamped) -> uint8 pixels, the inverse of :func:`rgb_to_unit`."""
    return values.float().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


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


UNIT_NORMALIZATION = PointmapNormalization(np.zeros(3), 1.0)
"""The identity transform: how generated pointmaps are read (they stay in the model's normalized units)."""

NORMALIZATION_PERCENTILES = (1.0, 99.0)
NORMALIZATION_MARGIN = 1.2
"""The box of the 1st-99th percentiles, enlarged by 20 %, maps to [-1, 1]: on the synthetic scenes 0.3 % of
valid points are clamped (6 % with the bare 2nd-98th box), while the bulk keeps 82 % of the range."""

INVALID_POINT_CODE = -1.0
"""Invalid points are coded as (-1, -1, -1): the corner of the box no valid point of a clip reaches (a valid
point there would be the nearest, leftmost and topmost of the clip at once)."""
INVALID_THRESHOLD = -0.5
"""A decoded point whose three coordinates are all below this is read as invalid."""
SATURATION_THRESHOLD = 0.99
"""A decoded point with a coordinate beyond +-this is read as saturated (clamped)."""


def normalization_from_points(
    points: np.ndarray,
    low: float = NORMALIZATION_PERCENTILES[0],
    high: float = NORMALIZATION_PERCENTILES[1],
    where: str = "pointmaps",
    margin: float = NORMALIZATION_MARGIN,
) -> PointmapNormalization:
    """Robust transform from valid points (N, 3): centre of the [low, high] percentile box, scale = `margin`
    times half its largest side, so the bulk of the clip lands in [-1, 1] and outliers do not shrink it."""
    if points.shape[0] == 0:
        raise DataError(where, "no valid points to normalize")
    if points.shape[0] > _MAX_STAT_POINTS:
        points = points[:: points.shape[0] // _MAX_STAT_POINTS + 1]
    bounds = np.percentile(points.astype(np.float64), [low, high], axis=0)
    center = bounds.mean(0)
    scale = float((bounds[1] - bounds[0]).max() / 2.0 * margin)
    if not scale > 1e-12:
        raise DataError(where, "valid points are degenerate (zero extent); cannot normalize")
    return PointmapNormalization(center, scale)


def robust_normalization(
    pointmaps: np.ndarray,
    valid: np.ndarray,
    low: float = NORMALIZATION_PERCENTILES[0],
    high: float = NORMALIZATION_PERCENTILES[1],
    where: str = "pointmaps",
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
    pointmaps: np.ndarray,
    valid: np.ndarray,
    low: float = NORMALIZATION_PERCENTILES[0],
    high: float = NORMALIZATION_PERCENTILES[1],
) -> tuple[np.ndarray, PointmapNormalization]:
    """Pointmaps (F, H, W, 3) + valid (F, H, W) -> normalized float32 pointmaps (NaN where invalid) and the
    transform. Values are not clipped, so :meth:`PointmapNormalization.invert` restores them exactly; a few
    points fall outside [-1, 1] (:func:`encode_pointmaps` clamps them for the VAE)."""
    pointmaps = np.asarray(pointmaps, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool) & np.isfinite(pointmaps).all(-1)
    norm = robust_normalization(pointmaps, valid, low, high)
    out = norm.apply(pointmaps)
    out[~valid] = np.nan
    return out, norm


def encode_pointmaps(points: torch.Tensor, valid: torch.Tensor, norm: PointmapNormalization) -> torch.Tensor:
    """The VAE's view of pointmaps (..., 3) with validity (...): normalized, clamped to [-1, 1], and
    ``INVALID_POINT_CODE`` in every channel where not valid (NaN points count as invalid)."""
    valid = valid.bool() & torch.isfinite(points).all(-1)
    center = torch.as_tensor(norm.center, dtype=torch.float32, device=points.device)
    coded = (points.float() - center).div_(np.float32(norm.scale)).clamp_(-1.0, 1.0)
    return coded.masked_fill_(~valid[..., None], INVALID_POINT_CODE)


@dataclass(frozen=True)
class DecodedPointmaps:
    """Pointmaps read back from their code: ``points`` (..., 3) float32 in the clip's frame (NaN where
    invalid), ``valid`` (...) not the invalid code, ``saturated`` (...) valid but clamped at the box."""

    points: np.ndarray
    valid: np.ndarray
    saturated: np.ndarray

    @property
    def reliable(self) -> np.ndarray:
        """Valid and not saturated: the points a camera fit may trust."""
        return self.valid & ~self.saturated


def decode_pointmaps(coded: np.ndarray, norm: PointmapNormalization) -> DecodedPointmaps:
    """Inverse of :func:`encode_pointmaps` for decoded (hence approximate) codes (..., 3) in [-1, 1]."""
    coded = np.asarray(coded, dtype=np.float32)
    if coded.shape[-1] != 3:
        raise ValueError(f"pointmap codes must end in 3 channels (x, y, z), got shape {coded.shape}")
    valid = np.isfinite(coded).all(-1) & (coded.max(-1, initial=-np.inf) >= INVALID_THRESHOLD)
    saturated = valid & (np.abs(coded).max(-1, initial=0.0) >= SATURATION_THRESHOLD)
    points = norm.invert(coded).astype(np.float32, copy=False)
    points[~valid] = np.nan
    return DecodedPointmaps(points=points, valid=valid, saturated=saturated)
