"""Building a One4DTransformer for a named Wan2.1 variant (random weights, real weights, or on `meta`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import WanTransformer3DModel

from ..errors import ModelError
from ..models.configs import wan_config
from ..models.tiny import TINY_BASE_DIR, TINY_NAME
from ..models.transformer import One4DTransformer
from ..models.wan_weights import _cast_keeping_fp32, load_wan_base


def build_one4d_transformer(
    variant: str = "tiny",
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    base_path: str | Path | None = None,
    config_overrides: dict[str, Any] | None = None,
    **dlc_options: Any,
) -> One4DTransformer:
    """A One4DTransformer on the `variant` base (a key of WAN_CONFIGS).

    base_path: local weights (diffusers directory or original-Wan-layout safetensors, see `load_wan_base`);
    without it the base has random weights, except for `one4d-tiny`, whose pretrained base ships with this
    package (`one4d_model.models.tiny`). device="meta" allocates nothing (for counting and sharding).
    Weights Wan keeps in fp32 (modulation, time embedder, norms, RoPE) stay fp32 under a lower `dtype`.
    dlc_options go to One4DTransformer (coupling, lora_rank, lora_alpha, lora_dropout, link_blocks,
    num_links, gradient_checkpointing, attention_backend).
    """
    config = {**wan_config(variant), **(config_overrides or {})}
    device = torch.device(device)
    if base_path is None and variant == TINY_NAME and device.type != "meta" and not config_overrides:
        base_path = TINY_BASE_DIR
    if base_path is not None:
        if device.type == "meta":
            raise ModelError("base_path cannot be loaded onto the meta device; build without base_path")
        base = load_wan_base(base_path, config, dtype=dtype, device=device)
        mismatched = {
            k: (v, base.config[k])
            for k, v in config.items()
            if k in base.config and _differs(v, base.config[k])
        }
        if mismatched:
            raise ModelError(f"weights at {base_path} do not match variant {variant!r}: {mismatched}")
    else:
        with device:
            base = WanTransformer3DModel(**config)
        if dtype != torch.float32:
            _cast_keeping_fp32(base, dtype)
    with device:
        return One4DTransformer(base, **dlc_options)


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) != list(b)
    return a != b
