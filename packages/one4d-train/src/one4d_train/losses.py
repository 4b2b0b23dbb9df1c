"""The joint flow-matching objective: same sigma, independent noise for the RGB and XYZ latents."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from one4d_model.pipelines.flow_matching import (
    add_noise,
    sample_training_sigmas,
    timesteps_from_sigmas,
    velocity_target,
)

from .batches import Batch, sample_generator


@dataclass
class LossTerms:
    total: torch.Tensor  # scalar, what backward sees
    rgb: torch.Tensor  # (B,) per-sample MSE
    xyz: torch.Tensor  # (B,)


def draw_noise(batch: Batch, seed: int, shift: float, cfg_dropout: float):
    """Per-sample sigma, RGB/XYZ noise and context-dropout flag, seeded by the sample's global position."""
    sigmas, noise_rgb, noise_xyz, drop = [], [], [], []
    for position in batch.positions:
        gen = sample_generator(seed, position)
        sigmas.append(sample_training_sigmas(1, shift=shift, generator=gen))
        noise_rgb.append(torch.randn(batch.rgb.shape[1:], generator=gen))
        noise_xyz.append(torch.randn(batch.xyz.shape[1:], generator=gen))
        drop.append(torch.rand(1, generator=gen) < cfg_dropout)
    device = batch.rgb.device
    return (
        torch.cat(sigmas).to(device),
        torch.stack(noise_rgb).to(device, batch.rgb.dtype),
        torch.stack(noise_xyz).to(device, batch.xyz.dtype),
        torch.cat(drop).to(device),
    )


def flow_matching_loss(
    model: torch.nn.Module,
    batch: Batch,
    sigmas: torch.Tensor,
    noise_rgb: torch.Tensor,
    noise_xyz: torch.Tensor,
    drop_context: torch.Tensor | None = None,
) -> LossTerms:
    """MSE between predicted and true velocities (eps - x0) on both modalities. Where `drop_context` is set,
    the caption is replaced by the empty caption's states (`batch.empty_text`) and the image context stays:
    the unconditional input that classifier-free guidance samples with (`one4d_model.pipelines.sampling`)."""
    text, image = batch.text, batch.image
    if drop_context is not None and bool(drop_context.any()):
        empty = batch.empty_text.to(text).expand_as(text)
        text = torch.where(drop_context.view(-1, 1, 1).to(text.device), empty, text)
    noisy_rgb = add_noise(batch.rgb, noise_rgb, sigmas)
    noisy_xyz = add_noise(batch.xyz, noise_xyz, sigmas)
    timesteps = timesteps_from_sigmas(sigmas)
    out = model(noisy_rgb, noisy_xyz, batch.cond, batch.mask, timesteps, text, image)
    rgb = (out.rgb.float() - velocity_target(batch.rgb, noise_rgb).float()).pow(2).flatten(1).mean(1)
    xyz = (out.xyz.float() - velocity_target(batch.xyz, noise_xyz).float()).pow(2).flatten(1).mean(1)
    return LossTerms(total=(rgb + xyz).mean(), rgb=rgb, xyz=xyz)
