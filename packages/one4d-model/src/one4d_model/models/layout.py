"""The latent layout every VAE of this package shares (Wan2.1's: x4 time, x8 space), and the size checks
against it; `vae.VideoVAE` and the patch VAEs (`patch_vae`) both use it."""

from __future__ import annotations

import torch

from ..errors import ModelError

TEMPORAL_FACTOR = 4
SPATIAL_FACTOR = 8
"""Wan2.1's VAE layout: 4k + 1 frames -> k + 1 latent frames, x8 downsampling in space."""


def video_latent_shape(
    channels: int,
    num_frames: int,
    height: int,
    width: int,
    temporal_factor: int = TEMPORAL_FACTOR,
    spatial_factor: int = SPATIAL_FACTOR,
) -> tuple[int, int, int, int]:
    """(channels, f, h, w) of a video of `num_frames` x `height` x `width`, checked to fit the layout (every
    VAE of this package: `VideoVAE` and the patch VAEs)."""
    if (
        num_frames < 1
        or (num_frames - 1) % temporal_factor
        or height % spatial_factor
        or width % spatial_factor
    ):
        raise ModelError(
            f"video of {num_frames} frames at {height}x{width} does not fit the VAE: frames must be "
            f"{temporal_factor}k + 1 and height/width multiples of {spatial_factor}"
        )
    return (
        channels,
        (num_frames - 1) // temporal_factor + 1,
        height // spatial_factor,
        width // spatial_factor,
    )


def check_video(video: torch.Tensor, vae) -> None:
    """A (B, 3, F, H, W) video whose size fits `vae`'s latent layout, else `ModelError`."""
    if video.ndim != 5 or video.shape[1] != 3:
        raise ModelError(f"video must be (B, 3, F, H, W), got shape {tuple(video.shape)}")
    vae.latent_shape(*video.shape[2:])
