"""Unified Masked Conditioning: task sampling, observed-frame masks and the conditioning video."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

TASKS = ("single_image", "sparse_frames", "full_video")


@dataclass(frozen=True)
class TaskRatios:
    """Sampling weights of the three tasks (the paper's 0.35 / 0.30 / 0.35); normalized to sum to one."""

    single_image: float = 0.35
    sparse_frames: float = 0.30
    full_video: float = 0.35

    def __post_init__(self) -> None:
        values = self.as_array(normalized=False)
        if not np.all(np.isfinite(values)) or np.any(values < 0) or values.sum() <= 0:
            raise ValueError(
                f"task ratios must be finite, non-negative and not all zero, got {values.tolist()}"
            )

    def as_array(self, normalized: bool = True) -> np.ndarray:
        values = np.array([self.single_image, self.sparse_frames, self.full_video], dtype=np.float64)
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
    """(F,) bool, True = observed. single_image: frame 0; full_video: all; sparse_frames: round(sparsity * F)
    frames (at least first and last), with ``sparsity`` drawn uniformly from ``sparsity_range`` if None."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    mask = np.zeros(num_frames, dtype=bool)
    if task == "single_image":
        mask[0] = True
    elif task == "full_video":
        mask[:] = True
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
