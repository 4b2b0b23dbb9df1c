"""Validation of the One4D transformer's inputs (clear errors naming the field and what was expected)."""

from __future__ import annotations

import torch

from ..errors import ModelError
from .configs import IMAGE_CONTEXT_TOKENS, TEXT_CONTEXT_TOKENS


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def validate_inputs(
    config,
    rgb_latents: torch.Tensor,
    xyz_latents: torch.Tensor,
    cond_latents: torch.Tensor,
    cond_mask: torch.Tensor,
    timestep: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    encoder_hidden_states_image: torch.Tensor | None,
) -> None:
    """Raise ValueError for inputs that do not fit the base `config` (a diffusers WanTransformer config)."""
    latent_ch = config.out_channels
    mask_ch = config.in_channels - 2 * latent_ch
    for name, t in (("rgb_latents", rgb_latents), ("xyz_latents", xyz_latents)):
        if t.ndim != 5 or t.shape[1] != latent_ch:
            raise ModelError(f"{name} must be (B, {latent_ch}, f, h, w), got {_shape(t)}")
    b, _, f, h, w = rgb_latents.shape
    if xyz_latents.shape != rgb_latents.shape:
        raise ModelError(
            f"xyz_latents {_shape(xyz_latents)} must have the shape of rgb_latents {_shape(rgb_latents)}"
        )
    if _shape(cond_latents) != (b, latent_ch, f, h, w):
        raise ModelError(f"cond_latents must be {(b, latent_ch, f, h, w)}, got {_shape(cond_latents)}")
    if _shape(cond_mask) != (b, mask_ch, f, h, w):
        raise ModelError(f"cond_mask must be {(b, mask_ch, f, h, w)}, got {_shape(cond_mask)}")
    p_t, p_h, p_w = config.patch_size
    if f % p_t or h % p_h or w % p_w:
        raise ModelError(
            f"latent size (f, h, w) = {(f, h, w)} must be divisible by the patch size {(p_t, p_h, p_w)}"
        )
    if timestep.ndim != 1 or timestep.shape[0] != b:
        raise ModelError(
            f"timestep must be ({b},) (one value in [0, 1000] per sample), got {_shape(timestep)}"
        )
    if encoder_hidden_states.ndim != 3 or encoder_hidden_states.shape[0] != b:
        raise ModelError(
            f"encoder_hidden_states must be ({b}, tokens, {config.text_dim}), "
            f"got {_shape(encoder_hidden_states)}"
        )
    if encoder_hidden_states.shape[2] != config.text_dim:
        raise ModelError(
            f"encoder_hidden_states must have {config.text_dim} features, got {_shape(encoder_hidden_states)}"
        )
    if config.image_dim is None:
        if encoder_hidden_states_image is not None:
            raise ModelError(
                "encoder_hidden_states_image was given but this variant has no image conditioning"
            )
        return
    if encoder_hidden_states.shape[1] != TEXT_CONTEXT_TOKENS:
        raise ModelError(
            f"encoder_hidden_states must have exactly {TEXT_CONTEXT_TOKENS} tokens (pad the text embedding) "
            f"for image-conditioned variants, got {encoder_hidden_states.shape[1]}"
        )
    if encoder_hidden_states_image is None:
        raise ModelError(
            f"encoder_hidden_states_image ({b}, {IMAGE_CONTEXT_TOKENS}, {config.image_dim}) is required "
            "by this image-conditioned variant"
        )
    if (
        encoder_hidden_states_image.ndim != 3
        or encoder_hidden_states_image.shape[0] != b
        or encoder_hidden_states_image.shape[2] != config.image_dim
    ):
        raise ModelError(
            f"encoder_hidden_states_image must be ({b}, {IMAGE_CONTEXT_TOKENS}, {config.image_dim}), "
            f"got {_shape(encoder_hidden_states_image)}"
        )
