"""Unified Masked Conditioning on the model side: the per-frame observation mask packed to latent size.

Wan's causal VAE maps F = 4k + 1 frames to k + 1 latent frames: the first frame alone, then groups of four.
The mask follows the same grouping (first frame repeated four times, then four frames per latent frame), so
each latent frame carries 4 mask channels, the layout Wan-Fun-InP was trained with.
"""

from __future__ import annotations

import torch

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
