"""Diffusers configs of the Wan2.1 transformers One4D builds on."""

from __future__ import annotations

from typing import Any

from ..errors import ModelError
from .tiny import TINY_DENSE_NAME

_COMMON: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "in_channels": 36,
    "out_channels": 16,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}

WAN_CONFIGS: dict[str, dict[str, Any]] = {
    # Wan2.1-Fun-V1.1-14B-InP
    "wan2.1-fun-14b-inp": {
        **_COMMON,
        "num_attention_heads": 40,
        "attention_head_dim": 128,
        "text_dim": 4096,
        "freq_dim": 256,
        "ffn_dim": 13824,
        "num_layers": 40,
        "image_dim": 1280,
        "added_kv_proj_dim": 5120,
    },
    # Wan2.1-Fun-V1.1-1.3B-InP
    "wan2.1-fun-1.3b-inp": {
        **_COMMON,
        "num_attention_heads": 12,
        "attention_head_dim": 128,
        "text_dim": 4096,
        "freq_dim": 256,
        "ffn_dim": 8960,
        "num_layers": 30,
        "image_dim": 1280,
        "added_kv_proj_dim": 1536,
    },
    # Random-weight test model (dim 48); other packages' tests depend on exactly this config.
    "tiny": {
        **_COMMON,
        "num_attention_heads": 2,
        "attention_head_dim": 24,
        "text_dim": 32,
        "freq_dim": 32,
        "ffn_dim": 96,
        "num_layers": 4,
        "image_dim": 32,
        "added_kv_proj_dim": 48,
    },
    # The tiny One4D base (`one4d_model.models.tiny`): pretrained here on synthetic videos, shipped with the
    # package.
    "one4d-tiny": {
        **_COMMON,
        "num_attention_heads": 4,
        "attention_head_dim": 32,
        "text_dim": 64,
        "freq_dim": 64,
        "ffn_dim": 512,
        "num_layers": 6,
        "image_dim": 64,
        "added_kv_proj_dim": 128,
    },
}
# The tiny One4D at 4x the token density (latent patch 1 x 1 instead of 2 x 2: a 9 x 64 x 96 clip is 288
# tokens, not 72): a controlled experiment of issue 19 on what limits generalisation. Nothing ships on it; its
# base is pretrained with `one4d-pretrain base --set variant=one4d-tiny-p1`.
WAN_CONFIGS[TINY_DENSE_NAME] = {**WAN_CONFIGS["one4d-tiny"], "patch_size": (1, 1, 1)}

TEXT_CONTEXT_TOKENS = 512
"""Wan's I2V attention processor assumes exactly this many text tokens after the image tokens."""
IMAGE_CONTEXT_TOKENS = 257
"""CLIP ViT-H/14 penultimate hidden states: 256 patches + class token."""


def wan_config(variant: str) -> dict[str, Any]:
    """A copy of the diffusers config kwargs of `variant` (a key of WAN_CONFIGS)."""
    if variant not in WAN_CONFIGS:
        raise ModelError(f"variant must be one of {sorted(WAN_CONFIGS)}, got {variant!r}")
    return dict(WAN_CONFIGS[variant])
