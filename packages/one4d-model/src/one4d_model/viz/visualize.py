"""Pictures of geometry, as the paper shows it: depth as a colour map and pointmaps as RGB images.

Each uses one range for the whole clip (not per frame), so colours mean the same distance or position in every
frame and a video of them does not flicker. Invalid pixels are black.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError

DEPTH_COLORMAP = "turbo"  # near = red, far = blue (matplotlib's Turbo)


def colorize_depth(
    depth: np.ndarray,
    valid: np.ndarray | None = None,
    colormap: str = DEPTH_COLORMAP,
    percentiles: tuple[float, float] = (2.0, 98.0),
) -> np.ndarray:
    """(F, H, W) depth -> (F, H, W, 3) uint8. Inverse depth is mapped linearly between its `percentiles` over
    the clip's valid pixels (so near structure gets most of the colours, as in depth-estimation figures)."""
    from matplotlib import colormaps

    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 3:
        raise ModelError(f"depth must be (F, H, W), got {depth.shape}")
    ok = np.isfinite(depth) & (depth > 0)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    out = np.zeros((*depth.shape, 3), np.uint8)
    if not ok.any():
        return out
    inverse = np.zeros_like(depth)
    inverse[ok] = 1.0 / depth[ok]
    low, high = np.percentile(inverse[ok], percentiles)
    scaled = np.clip((inverse - low) / max(high - low, 1e-12), 0.0, 1.0)
    rgb = colormaps[colormap](scaled[ok])[:, :3]
    out[ok] = np.round(rgb * 255).astype(np.uint8)
    return out


def pointmaps_to_rgb(
    pointmaps: np.ndarray, valid: np.ndarray | None = None, percentiles: tuple[float, float] = (1.0, 99.0)
) -> np.ndarray:
    """(F, H, W, 3) XYZ -> (F, H, W, 3) uint8: each axis mapped linearly from its `percentiles` over the
    clip's valid points to 0..255 (x -> red, y -> green, z -> blue)."""
    points = np.asarray(pointmaps, dtype=np.float64)
    if points.ndim != 4 or points.shape[-1] != 3:
        raise ModelError(f"pointmaps must be (F, H, W, 3), got {points.shape}")
    ok = np.isfinite(points).all(axis=-1)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool)
    out = np.zeros(points.shape, np.uint8)
    if not ok.any():
        return out
    low, high = np.percentile(points[ok], percentiles, axis=0)
    scaled = np.clip((points[ok] - low) / np.maximum(high - low, 1e-12), 0.0, 1.0)
    out[ok] = np.round(scaled * 255).astype(np.uint8)
    return out


def side_by_side(*videos: np.ndarray) -> np.ndarray:
    """Videos (F, H, W, 3) of one size placed left to right."""
    shapes = {v.shape for v in videos}
    if len(shapes) != 1:
        raise ModelError(f"side_by_side needs videos of one shape, got {sorted(shapes)}")
    return np.concatenate(videos, axis=2)
