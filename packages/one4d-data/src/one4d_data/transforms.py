"""Clip sampling in time and resizing / cropping in space, keeping cameras exact."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from .cameras import unproject_to_world
from .clip import Clip
from .errors import DataError

MAX_FRAMES = 81


def check_frame_count(num_frames: int) -> int:
    """Frame counts must be 4k + 1 (Wan's causal VAE) and at most 81."""
    if num_frames < 1 or (num_frames - 1) % 4 or num_frames > MAX_FRAMES:
        raise ValueError(f"num_frames must be 4k + 1 and at most {MAX_FRAMES}, got {num_frames}")
    return num_frames


def sample_frame_indices(
    num_available: int,
    num_frames: int,
    rng: np.random.Generator | None = None,
    strides: tuple[int, ...] | int = 1,
    where: str = "clip",
) -> np.ndarray:
    """``num_frames`` indices in ``[0, num_available)`` with a stride drawn from ``strides`` (the largest
    ones that do not fit are dropped) and a random start (the first start if ``rng`` is None)."""
    strides = (strides,) if isinstance(strides, int) else tuple(strides)
    if not strides or min(strides) < 1:
        raise ValueError(f"strides must be positive integers, got {strides}")
    fitting = [s for s in strides if (num_frames - 1) * s + 1 <= num_available]
    if not fitting:
        raise DataError(where, f"has {num_available} frames, fewer than the {num_frames} needed")
    stride = int(rng.choice(fitting)) if rng is not None else fitting[0]
    span = (num_frames - 1) * stride + 1
    start = int(rng.integers(0, num_available - span + 1)) if rng is not None else 0
    return start + stride * np.arange(num_frames)


def crop_window(
    height: int, width: int, target_height: int, target_width: int, rng: np.random.Generator | None = None
) -> tuple[int, int, int, int]:
    """(top, left, crop_height, crop_width): the largest window with the target aspect ratio, centred
    (or placed at random with ``rng``)."""
    scale = min(height / target_height, width / target_width)
    crop_h = min(height, max(1, round(target_height * scale)))
    crop_w = min(width, max(1, round(target_width * scale)))
    if rng is None:
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
    else:
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
    return top, left, crop_h, crop_w


def _nearest_source(target: int, crop: int, offset: int) -> np.ndarray:
    """Source index nearest to each target pixel centre of a crop of size ``crop`` resized to ``target``."""
    coords = (np.arange(target) + 0.5) * (crop / target) - 0.5 + offset
    return np.clip(np.floor(coords + 0.5), offset, offset + crop - 1).astype(np.int64)


def resize_and_crop(
    clip: Clip, height: int = 352, width: int = 624, rng: np.random.Generator | None = None
) -> Clip:
    """Crop to the target aspect ratio (centred, or random with ``rng``), then resize to (height, width).

    RGB is resampled bilinearly with antialiasing; depth and masks by nearest neighbour (no blending across
    depth edges); intrinsics follow the pixel-centre mapping u' = (u - left + 0.5) * sx - 0.5; pointmaps are
    recomputed from the new depth and cameras, so they stay consistent with them.
    """
    top, left, crop_h, crop_w = crop_window(clip.height, clip.width, height, width, rng)
    sy, sx = height / crop_h, width / crop_w
    K = np.array(clip.K, dtype=np.float64, copy=True)
    K[:, 0, :] *= sx
    K[:, 1, :] *= sy
    K[:, 0, 2] = (clip.K[:, 0, 2] - left + 0.5) * sx - 0.5
    K[:, 1, 2] = (clip.K[:, 1, 2] - top + 0.5) * sy - 0.5
    K[:, 2] = [0.0, 0.0, 1.0]

    rgb = clip.rgb[:, top : top + crop_h, left : left + crop_w]
    if (crop_h, crop_w) != (height, width):
        frames = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float()
        frames = F.interpolate(
            frames, size=(height, width), mode="bilinear", antialias=True, align_corners=False
        )
        rgb = frames.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    rows = _nearest_source(height, crop_h, top)
    cols = _nearest_source(width, crop_w, left)

    def nearest(a):
        return None if a is None else np.ascontiguousarray(a[:, rows][:, :, cols])

    depth = nearest(clip.depth)
    valid = nearest(clip.valid)
    pointmaps = None
    if clip.pointmaps is not None:
        pointmaps = unproject_to_world(depth, K, clip.c2w)
    return replace(
        clip,
        rgb=np.ascontiguousarray(rgb),
        depth=depth,
        K=K,
        pointmaps=pointmaps,
        valid=valid,
        dynamic=nearest(clip.dynamic),
    )
