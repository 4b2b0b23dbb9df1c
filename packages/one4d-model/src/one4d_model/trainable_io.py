"""Saving and loading the trainable state (safetensors), and exporting a branch's LoRA for diffusers/peft."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .errors import ModelError, WeightsError
from .lora import LORA_TARGETS
from .transformer import One4DTransformer

_METADATA_KEY = "one4d_trainable"
LORA_ADAPTER_METADATA_KEY = "lora_adapter_metadata"  # diffusers' key for a LoRA's peft config


def trainable_state_dict(model: One4DTransformer) -> dict[str, torch.Tensor]:
    """All trainable tensors by their name in `model` (the four groups of `trainable_groups`)."""
    return {name: p.detach() for params in model.trainable_groups().values() for name, p in params}


def _describe(model: One4DTransformer) -> dict[str, object]:
    return {
        "coupling": model.coupling,
        "branches": list(model.branches),
        "link_blocks": list(model.link_blocks),
    }


def save_trainable(model: One4DTransformer, path: str | Path) -> None:
    """Write the trainable state to a safetensors file (with the coupling recorded in its metadata)."""
    tensors = {k: v.contiguous().cpu() for k, v in trainable_state_dict(model).items()}
    save_file(tensors, str(path), metadata={"format": "pt", _METADATA_KEY: json.dumps(_describe(model))})


def load_trainable(model: One4DTransformer, path: str | Path, strict: bool = True) -> dict[str, list[str]]:
    """Load a file written by `save_trainable` into `model`.

    Shape mismatches always raise; missing/unexpected keys raise when `strict`, else are returned as
    {"missing": [...], "unexpected": [...]}.
    """
    loaded = load_file(str(path))
    own = dict(p for params in model.trainable_groups().values() for p in params)
    missing = sorted(set(own) - set(loaded))
    unexpected = sorted(set(loaded) - set(own))
    if strict and (missing or unexpected):
        with safe_open(str(path), framework="pt") as handle:
            saved = (handle.metadata() or {}).get(_METADATA_KEY, "unknown")
        raise WeightsError(
            f"trainable state {path} does not fit this model ({_describe(model)}; file: {saved}): "
            f"{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}"
        )
    mismatched = [
        f"{k}: file {tuple(loaded[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in loaded and loaded[k].shape != own[k].shape
    ]
    if mismatched:
        raise ModelError(f"trainable state {path} has mismatched shapes: {mismatched[:5]}")
    with torch.no_grad():
        for name, param in own.items():
            if name in loaded:
                param.copy_(loaded[name].to(param.dtype))
    return {"missing": missing, "unexpected": unexpected}


def _branch_check(model: One4DTransformer, branch: str) -> None:
    if branch not in model.branches:
        raise ModelError(f"branch must be one of {list(model.branches)} for coupling {model.coupling!r}")


def load_training_checkpoint(model: One4DTransformer, path: str | Path) -> None:
    """Load a training checkpoint's `trainable.safetensors`: the DLC groups strictly, and base tensors by
    name where training updated the base too (the tiny preset)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trainable.safetensors checkpoint file")
    report = load_trainable(model, path, strict=False)
    if report["missing"]:
        missing = report["missing"]
        raise WeightsError(f"{path}: missing trainable tensors {missing[:5]} ({len(missing)})")
    if not report["unexpected"]:
        return
    tensors = load_file(str(path))
    params = dict(model.named_parameters())
    unknown = [k for k in report["unexpected"] if k not in params]
    if unknown:
        raise WeightsError(f"{path}: tensors that this model does not have: {unknown[:5]} ({len(unknown)})")
    with torch.no_grad():
        for key in report["unexpected"]:
            if params[key].shape != tensors[key].shape:
                raise ModelError(
                    f"{path}: {key} has shape {tuple(tensors[key].shape)}, model {tuple(params[key].shape)}"
                )
            params[key].copy_(tensors[key].to(params[key].dtype))


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
