"""Robust focal length from a camera-frame pointmap (Weiszfeld iterations, as DUSt3R / MonST3R do)."""

from __future__ import annotations

import numpy as np

from .cameras import default_principal_point, pixel_grid
from .errors import GeometryError

__all__ = ["estimate_focal"]


def estimate_focal(
    points_cam: np.ndarray,
    principal_point: tuple[float, float] | None = None,
    mask: np.ndarray | None = None,
    iterations: int = 20,
) -> float:
    """Focal f (pixels, fx = fy) minimising sum_uv || (u - cx, v - cy) - f (x / z, y / z) ||.

    ``points_cam`` is an (H, W, 3) pointmap in the camera frame; NaN points, points with z <= 0 and
    points outside ``mask`` are ignored. The principal point defaults to the image centre.
    """
    points = np.asarray(points_cam, dtype=np.float64)
    if points.ndim != 3 or points.shape[2] != 3:
        raise GeometryError(f"points_cam must have shape (H, W, 3), got {points.shape}")
    height, width = points.shape[:2]
    cx, cy = default_principal_point(height, width) if principal_point is None else principal_point
    u, v = pixel_grid(height, width)
    valid = np.all(np.isfinite(points), axis=-1) & (points[..., 2] > 0)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (height, width):
            raise GeometryError(f"mask must have shape {(height, width)}, got {mask.shape}")
        valid &= mask
    pixels = np.stack([u[valid] - cx, v[valid] - cy], axis=-1)
    rays = points[valid][:, :2] / points[valid][:, 2:3]
    usable = np.sum(rays**2, axis=1) > 1e-12
    pixels, rays = pixels[usable], rays[usable]
    if len(rays) < 1:
        raise GeometryError("points_cam has no valid off-axis point in front of the camera")
    focal = float(np.sum(pixels * rays) / np.sum(rays * rays))
    for _ in range(iterations):
        residual = np.linalg.norm(pixels - focal * rays, axis=1)
        weights = 1.0 / np.maximum(residual, 1e-8 * max(height, width))
        focal = float(np.sum(weights[:, None] * pixels * rays) / np.sum(weights[:, None] * rays * rays))
    return focal
