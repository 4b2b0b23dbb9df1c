"""Helpers for tests and benchmarks on the tiny config (random inputs, perturbing zero-init parameters)."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from .configs import IMAGE_CONTEXT_TOKENS, TEXT_CONTEXT_TOKENS, wan_config


def make_tiny_inputs(
    batch: int = 2,
    frames: int = 2,
    height: int = 4,
    width: int = 6,
    seed: int = 1,
    variant: str = "tiny",
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """Random keyword inputs of One4DTransformer.forward for `variant` (latent sizes f, h, w)."""
    cfg = wan_config(variant)
    g = torch.Generator().manual_seed(seed)
    latent = cfg["out_channels"]
    mask = cfg["in_channels"] - 2 * latent

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(dtype)

    inputs = {
        "rgb_latents": rand(batch, latent, frames, height, width),
        "xyz_latents": rand(batch, latent, frames, height, width),
        "cond_latents": rand(batch, latent, frames, height, width),
        "cond_mask": (torch.rand(batch, mask, frames, height, width, generator=g) > 0.5).to(dtype),
        "timestep": torch.rand(batch, generator=g) * 1000,
        "encoder_hidden_states": rand(batch, TEXT_CONTEXT_TOKENS, cfg["text_dim"]),
    }
    if cfg.get("image_dim") is not None:
        inputs["encoder_hidden_states_image"] = rand(batch, IMAGE_CONTEXT_TOKENS, cfg["image_dim"])
    return inputs


def perturb_(named_params: Iterable[tuple[str, torch.nn.Parameter]], seed: int, scale: float = 0.05) -> None:
    """Add seeded Gaussian noise to parameters in place (e.g. to make zero-initialised LoRA B non-zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in named_params:
            p.add_((torch.randn(p.shape, generator=g) * scale).to(p.device, p.dtype))
