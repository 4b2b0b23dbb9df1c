"""Loading the frozen Wan2.1 base transformer from local files (safetensors only).

Accepted: a diffusers-format directory (config.json + diffusion_pytorch_model*.safetensors), or
original-Wan-layout safetensors (one file, an index JSON of shards, or a directory of them) plus a config
(a WAN_CONFIGS variant name, a dict of diffusers config kwargs, or a directory with a diffusers config.json).
Original keys are converted with diffusers' own Wan converter.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import WanTransformer3DModel
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed
from safetensors import safe_open
from safetensors.torch import load_file

from ..errors import ModelError, WeightsError
from .configs import wan_config

_ORIGINAL_KEY_MARKERS = ("self_attn.", "cross_attn.", "head.head.", "time_embedding.", "text_embedding.")


def safetensors_files(path: str | Path) -> list[Path]:
    """The safetensors files behind `path`: a file, an `*.index.json` of shards, or a directory."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"base weights path does not exist: {path}")
    if path.is_file() and path.name.endswith(".json"):
        weight_map = json.loads(path.read_text()).get("weight_map")
        if not isinstance(weight_map, dict):
            raise ModelError(f"{path} is not a safetensors index (no 'weight_map' object)")
        return [path.parent / name for name in sorted(set(weight_map.values()))]
    if path.is_file():
        if path.suffix != ".safetensors":
            raise ModelError(f"base weights must be .safetensors (got {path.name}); pickles are not loaded")
        return [path]
    indexes = sorted(path.glob("*.safetensors.index.json"))
    if indexes:
        return safetensors_files(indexes[0])
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no .safetensors files in {path}")
    return files


def is_original_wan_layout(keys) -> bool:
    """True for original Wan keys (self_attn/cross_attn/head.head...), False for diffusers keys."""
    return any(marker in key for key in keys for marker in _ORIGINAL_KEY_MARKERS)


def _checkpoint_keys(files: list[Path]) -> list[str]:
    keys: list[str] = []
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            keys.extend(handle.keys())
    return keys


def _resolve_config(config: str | dict[str, Any] | Path | None, where: Path) -> dict[str, Any]:
    if config is None:
        candidate = where if where.is_dir() else where.parent
        if (candidate / "config.json").is_file():
            config = candidate
        else:
            raise ModelError(
                f"original-layout weights at {where} need `config` (a variant name, a dict of diffusers "
                "config kwargs, or a directory with a diffusers config.json)"
            )
    if isinstance(config, dict):
        return dict(config)
    if isinstance(config, str) and not Path(config).exists():
        return wan_config(config)
    config_path = Path(config)
    config_file = config_path / "config.json" if config_path.is_dir() else config_path
    raw = json.loads(config_file.read_text())
    if "num_attention_heads" not in raw:
        raise ModelError(
            f"{config_file} is not a diffusers WanTransformer3DModel config (no 'num_attention_heads'); "
            "pass a variant name or a dict instead"
        )
    return WanTransformer3DModel.extract_init_dict(raw)[0]


def _keeps_fp32(name: str, keep: list[str]) -> bool:
    return any(part in name.split(".") for part in keep)


def _cast_keeping_fp32(model: WanTransformer3DModel, dtype: torch.dtype) -> None:
    """Cast parameters to `dtype` except those Wan keeps in fp32 (modulation, time embedder, norms)."""
    keep = model._keep_in_fp32_modules or []
    for name, param in model.named_parameters():
        param.data = param.data.float() if _keeps_fp32(name, keep) else param.data.to(dtype)


def _read_state_dict(
    files: list[Path], original: bool, device: str | torch.device, dtype: torch.dtype, keep: list[str]
) -> dict[str, torch.Tensor]:
    """Shard by shard, straight to `device`, each tensor cast to its final dtype as soon as it is read: the
    peak is the model at its final dtype plus one shard, never a second copy in host memory."""
    state: dict[str, torch.Tensor] = {}
    for file in files:
        part = load_file(str(file), device=str(device))
        if original:
            part = convert_wan_transformer_to_diffusers(part)
        for name in list(part):
            tensor = part.pop(name)
            if tensor.is_floating_point():
                tensor = tensor.to(torch.float32 if _keeps_fp32(name, keep) else dtype)
            state[name] = tensor
    return state


def load_wan_base(
    path: str | Path,
    config: str | dict[str, Any] | Path | None = None,
    *,
    dtype: torch.dtype = torch.bfloat16,
    device: str | torch.device = "cpu",
) -> WanTransformer3DModel:
    """A WanTransformer3DModel with the weights at `path` (see the module docstring for the layouts).

    Both layouts build the model on the meta device and read the safetensors straight to `device`, so a
    14B base costs its own size once (a plain `from_pretrained` without accelerate materialises a random
    model in host memory first, per process).
    """
    path = Path(path)
    files = safetensors_files(path)
    original = is_original_wan_layout(_checkpoint_keys(files))
    if not original:
        if not (path.is_dir() and (path / "config.json").is_file()):
            raise ModelError(f"diffusers-format weights must be a directory with config.json, got {path}")
        config = path if config is None else config
    init_kwargs = _resolve_config(config, path)
    with torch.device("meta"):
        model = WanTransformer3DModel(**init_kwargs)
    keep = list(model._keep_in_fp32_modules or [])
    state_dict = _read_state_dict(files, original, device, dtype, keep)
    layout = "original Wan" if original else "diffusers"
    expected = set(model.state_dict())
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise WeightsError(
            f"{layout} checkpoint at {path} does not fit the config: missing {missing[:8]} "
            f"({len(missing)}), unexpected {unexpected[:8]} ({len(unexpected)})"
        )
    for name, param in model.state_dict().items():
        if tuple(param.shape) != tuple(state_dict[name].shape):
            raise ModelError(
                f"checkpoint tensor {name} has shape {tuple(state_dict[name].shape)}, "
                f"the config expects {tuple(param.shape)}"
            )
    model.load_state_dict(state_dict, strict=True, assign=True)
    # RoPE tables are non-persistent buffers: rebuild them off the meta device (in fp64/fp32 as Wan does).
    cfg = model.config
    with torch.device(device):
        model.rope = WanRotaryPosEmbed(cfg.attention_head_dim, cfg.patch_size, cfg.rope_max_seq_len)
    _cast_keeping_fp32(model, dtype)
    return model.to(device)
