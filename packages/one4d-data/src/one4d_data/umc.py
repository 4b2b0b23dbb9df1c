"""Unified Masked Conditioning (UMC), the one home of the concept: the tasks and their sampling ratios, the
observed-frame masks, the conditioning video, and the mask packed to latent resolution.

The paper's three tasks observe frame 0 (single image), a few frames (sparse frames) or all of them (full
video). A fourth, text to 4D (One4D's README), observes none: the mask is all zero, the conditioning video
black, and the caption is the only condition. Its training ratio is 0 unless a config asks for it.

Packing: Wan's causal VAE maps F = 4k + 1 frames to k + 1 latent frames, the first frame alone, then groups of
four. The mask follows the same grouping (first frame repeated four times, then four frames per latent
frame), so each latent frame carries 4 mask channels, the layout Wan-Fun-InP was trained with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

TASKS = ("single_image", "sparse_frames", "full_video", "text")
TEXT_TASK = "text"  # no observed frame
FRAME_TASKS = tuple(task for task in TASKS if task != TEXT_TASK)  # the paper's three, which observe frames


@dataclass(frozen=True)
class TaskRatios:
    """Sampling weights of the tasks (the paper's 0.35 / 0.30 / 0.35, text to 4D 0); normalized to sum to
    one."""

    single_image: float = 0.35
    sparse_frames: float = 0.30
    full_video: float = 0.35
    text: float = 0.0

    def __post_init__(self) -> None:
        values = self.as_array(normalized=False)
        if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
            raise ValueError(
                f"task ratios must be finite, non-negative and not all zero, got {values.tolist()}"
            )

    def as_array(self, normalized: bool = True) -> np.ndarray:
        values = np.array(
            [self.single_image, self.sparse_frames, self.full_video, self.text], dtype=np.float64
        )
        return values / values.sum() if normalized else values


def sample_task(rng: np.random.Generator, ratios: TaskRatios | None = None) -> str:
    """One task name from ``TASKS`` drawn with ``ratios``."""
    ratios = ratios or TaskRatios()
    return TASKS[int(rng.choice(len(TASKS), p=ratios.as_array()))]


def sparse_frame_indices(num_frames: int, num_observed: int) -> np.ndarray:
    """First and last frames plus the rest spread uniformly in between (sorted, unique)."""
    num_observed = int(min(max(num_observed, 2 if num_frames > 1 else 1), num_frames))
    return np.unique(np.round(np.linspace(0, num_frames - 1, num_observed)).astype(np.int64))


def observed_frame_mask(
    task: str,
    num_frames: int,
    rng: np.random.Generator | None = None,
    sparsity: float | None = None,
    sparsity_range: tuple[float, float] = (0.05, 0.5),
) -> np.ndarray:
    """(F,) bool, True = observed. single_image: frame 0; full_video: all; text: none; sparse_frames:
    round(sparsity * F) frames (at least first and last), with ``sparsity`` drawn uniformly from
    ``sparsity_range`` if None."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    mask = np.zeros(num_frames, dtype=bool)
    if task == "single_image":
        mask[0] = True
    elif task == "full_video":
        mask[:] = True
    elif task == TEXT_TASK:
        pass
    elif task == "sparse_frames":
        if sparsity is None:
            lo, hi = sparsity_range
            if not 0 < lo <= hi <= 1:
                raise ValueError(f"sparsity_range must satisfy 0 < low <= high <= 1, got {sparsity_range}")
            if rng is None:
                raise ValueError("sparse_frames needs an rng when sparsity is not given")
            sparsity = float(rng.uniform(lo, hi))
        if not 0 < sparsity <= 1:
            raise ValueError(f"sparsity must be in (0, 1], got {sparsity}")
        mask[sparse_frame_indices(num_frames, int(round(sparsity * num_frames)))] = True
    else:
        raise ValueError(f"unknown task {task!r}; choose from {TASKS}")
    return mask


def conditioning_video(rgb, frame_mask):
    """RGB video (3, F, H, W) (or with a leading batch dim) with unobserved frames set to zero."""
    if isinstance(rgb, torch.Tensor):
        mask = torch.as_tensor(np.asarray(frame_mask), device=rgb.device).to(rgb.dtype)
    else:
        rgb = np.asarray(rgb)
        mask = np.asarray(frame_mask).astype(rgb.dtype)
    if mask.shape[-1] != rgb.shape[-3]:
        raise ValueError(f"frame mask has {mask.shape[-1]} frames, video has {rgb.shape[-3]}")
    if mask.ndim == 1:  # (F,) -> (F, 1, 1), broadcasts over channels and a batch
        return rgb * mask.reshape(-1, 1, 1)
    return rgb * mask.reshape(mask.shape[0], 1, mask.shape[1], 1, 1)  # (B, F) for (B, 3, F, H, W)


TEMPORAL_FACTOR = 4


def latent_frame_count(num_frames: int, temporal_factor: int = TEMPORAL_FACTOR) -> int:
    """Latent frames of a clip of `num_frames` (which must be temporal_factor * k + 1)."""
    if num_frames < 1 or (num_frames - 1) % temporal_factor:
        raise ValueError(f"num_frames must be {temporal_factor}k + 1 (1, 5, 9, ..., 81), got {num_frames}")
    return (num_frames - 1) // temporal_factor + 1


def pack_frame_mask(
    frame_mask: torch.Tensor, latent_size: tuple[int, int], temporal_factor: int = TEMPORAL_FACTOR
) -> torch.Tensor:
    """Pack a per-frame mask (B, F) (1 = observed) into the latent mask (B, temporal_factor, f, h, w)."""
    if frame_mask.ndim != 2:
        raise ValueError(f"frame_mask must be (B, F), got shape {tuple(frame_mask.shape)}")
    batch, num_frames = frame_mask.shape
    num_latent = latent_frame_count(num_frames, temporal_factor)
    first = frame_mask[:, :1].expand(batch, temporal_factor)
    mask = torch.cat([first, frame_mask[:, 1:]], dim=1).reshape(batch, num_latent, temporal_factor)
    height, width = latent_size
    mask = mask.permute(0, 2, 1)[:, :, :, None, None]
    return mask.expand(batch, temporal_factor, num_latent, height, width).contiguous()


def unpack_frame_mask(latent_mask: torch.Tensor) -> torch.Tensor:
    """Inverse of `pack_frame_mask` (reads the first spatial position): (B, T, f, h, w) -> (B, F)."""
    batch, temporal_factor, num_latent = latent_mask.shape[:3]
    per_frame = latent_mask[:, :, :, 0, 0].permute(0, 2, 1).reshape(batch, num_latent * temporal_factor)
    return per_frame[:, temporal_factor - 1 :]
