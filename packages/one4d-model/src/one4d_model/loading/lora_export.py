"""One branch's LoRA exported for diffusers / peft (the whole trained state is `run_format`'s)."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file

from ..errors import ModelError
from ..models.lora import LORA_TARGETS
from ..models.transformer import One4DTransformer

LORA_ADAPTER_METADATA_KEY = "lora_adapter_metadata"  # diffusers' key for a LoRA's peft config


def _branch_check(model: One4DTransformer, branch: str) -> None:
    if branch not in model.branches:
        raise ModelError(f"branch must be one of {list(model.branches)} for coupling {model.coupling!r}")


def lora_state_dict(model: One4DTransformer, branch: str = "rgb", prefix: str = "transformer") -> dict:
    """One branch's LoRA in the diffusers/peft key layout: `transformer.blocks.N.attn1.to_q.lora_A.weight`."""
    _branch_check(model, branch)
    out = {}
    for name, layer in model.lora_layers().items():
        out[f"{prefix}.{name}.lora_A.weight"] = layer.lora_A[branch].weight.detach()
        out[f"{prefix}.{name}.lora_B.weight"] = layer.lora_B[branch].weight.detach()
    return out


def lora_adapter_config(model: One4DTransformer) -> dict[str, object]:
    """peft LoraConfig kwargs matching the model's LoRA (so peft's scale alpha / r equals ours)."""
    layer = next(iter(model.lora_layers().values()))
    return {
        "r": layer.rank,
        "lora_alpha": layer.alpha,
        "target_modules": list(LORA_TARGETS),
        "lora_dropout": 0.0,
    }


def save_lora(
    model: One4DTransformer, path: str | Path, branch: str = "rgb", prefix: str = "transformer"
) -> None:
    """Write one branch's LoRA as safetensors with rank and alpha in diffusers' adapter metadata.

    Load it with `transformer.load_lora_adapter(folder, weight_name=file_name, prefix=prefix)` (or
    `pipe.load_lora_weights(folder, weight_name=file_name)`): diffusers reads the metadata (and so the
    alpha / rank scale) only when `weight_name` (or `use_safetensors=True`) is given.
    """
    tensors = {k: v.contiguous().cpu() for k, v in lora_state_dict(model, branch, prefix).items()}
    adapter = {f"{prefix}.{k}": v for k, v in lora_adapter_config(model).items()}
    save_file(tensors, str(path), metadata={"format": "pt", LORA_ADAPTER_METADATA_KEY: json.dumps(adapter)})
