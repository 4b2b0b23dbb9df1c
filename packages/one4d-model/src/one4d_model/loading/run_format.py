"""The run format: one writer and one reader for what a trained One4D leaves on disk.

    <run>/checkpoints/step_NNNNNN/trainable.safetensors   trained tensors, the `ModelSpec` in the metadata
    <run>/checkpoints/latest                              name of the newest complete step folder
    <run>/vae.safetensors                                 only for spec.vae == "linear-patch" (fitted)

`trainable.safetensors` holds every trained tensor under its name in `One4DTransformer` (the DLC groups, and
the base weights when `spec.base_trained`), and, under the metadata key `one4d_spec`, the spec that rebuilds
the model (`one4d_model.loading.components.build_components`). Training adds its own records under other keys
(`one4d_train` keeps the training config and step), which this package never reads. `save_trainable` writes
the same format from a bare model, so any such file loads with `One4DPipeline.from_checkpoint`.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from one4d_geometry.files import atomic_path
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import ModelError, WeightsError
from ..models.configs import WAN_CONFIGS
from ..models.tiny import TINY_DLC_FILE, TINY_NAME
from ..models.transformer import One4DTransformer
from .spec import ModelSpec, default_vae

TRAINABLE_FILE = "trainable.safetensors"
SPEC_METADATA_KEY = "one4d_spec"
LINEAR_PATCH_VAE_FILE = "vae.safetensors"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def trainable_state_dict(model: One4DTransformer, base_trained: bool = False) -> dict[str, torch.Tensor]:
    """The trained tensors by their name in `model`: the four groups of `trainable_groups`, plus every base
    tensor when the base was trained too."""
    state = {name: p.detach() for params in model.trainable_groups().values() for name, p in params}
    if base_trained:
        state.update({name: p.detach() for name, p in model.named_parameters() if name not in state})
    return state


def write_trainable(
    path: str | Path, tensors: dict[str, torch.Tensor], spec: ModelSpec, extra: dict[str, str] | None = None
) -> None:
    """Write trained tensors and their spec (the one writer of the format); `extra` metadata is kept as is."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    metadata = {"format": "pt", **(extra or {}), SPEC_METADATA_KEY: spec.to_json()}
    with atomic_path(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)


def describe_model(model: One4DTransformer) -> ModelSpec:
    """A spec for a bare model: the variant nearest to its base config (plus the keys that differ, as
    `config_overrides`), its coupling, LoRA and links."""
    config = dict(model.base.config)

    def differences(dims: dict) -> dict:
        return {k: config[k] for k, v in dims.items() if k in config and config[k] != _plain(v)}

    variant = min(WAN_CONFIGS, key=lambda name: len(differences(WAN_CONFIGS[name])))
    layer = next(iter(model.lora_layers().values()))
    return ModelSpec(
        variant=variant,
        config_overrides=differences(WAN_CONFIGS[variant]),
        coupling=model.coupling,
        lora_rank=layer.rank,
        lora_alpha=layer.alpha,
        num_links=len(model.link_blocks),
        link_blocks=list(model.link_blocks),
        xyz_condition=model.xyz_condition,
        vae=default_vae(variant),
    )


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def save_trainable(model: One4DTransformer, path: str | Path, spec: ModelSpec | None = None) -> None:
    """Write the model's trained tensors in the run format (spec: `describe_model(model)` if not given)."""
    spec = spec or describe_model(model)
    write_trainable(path, trainable_state_dict(model, spec.base_trained), spec)


def read_spec(path: str | Path) -> ModelSpec:
    """The spec recorded in a `trainable.safetensors` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such trainable file")
    metadata = _read_safetensors(path, tensors=False)[1]
    if SPEC_METADATA_KEY not in metadata:
        raise ModelError(
            f"{path}: no model spec in its metadata (key {SPEC_METADATA_KEY!r}); write it with "
            "one4d_model.save_trainable or one4d-train"
        )
    return ModelSpec.from_json(metadata[SPEC_METADATA_KEY], where=f"{path}: model spec")


def _read_safetensors(path: Path, tensors: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; a truncated or foreign file raises `WeightsError` naming
    it (safetensors' own error names neither the file nor what to do)."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            loaded = {key: handle.get_tensor(key) for key in handle.keys()} if tensors else {}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own error types for bad headers and short files
        raise WeightsError(
            f"{path}: not a readable safetensors file (truncated, or another format: {error}); "
            "use a complete checkpoint, e.g. the run's checkpoints/latest"
        ) from None
    return loaded, metadata


def load_trainable(model: One4DTransformer, path: str | Path, strict: bool = True) -> dict[str, list[str]]:
    """Put a trainable file's tensors into `model` (the one loader of the format).

    The DLC groups must all be there when `strict`; base tensors are loaded by name where the file holds
    them (a run that trained its base). Tensors the model does not have raise when `strict`; shapes that
    differ always raise. Returns {"missing": [...], "unexpected": [...]} (both empty when strict).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such trainable file")
    loaded = _read_safetensors(path)[0]
    groups = dict(p for params in model.trainable_groups().values() for p in params)
    params = dict(model.named_parameters())
    missing = sorted(set(groups) - set(loaded))
    unexpected = sorted(set(loaded) - set(params))
    if strict and (missing or unexpected):
        raise WeightsError(
            f"{path} does not fit this model (coupling {model.coupling!r}, links {list(model.link_blocks)}): "
            f"{len(missing)} missing tensors {missing[:5]}, "
            f"{len(unexpected)} unknown tensors {unexpected[:5]}"
        )
    non_finite = [
        k for k in sorted(loaded) if loaded[k].is_floating_point() and not loaded[k].isfinite().all()
    ]
    if non_finite:
        others = f" (and {len(non_finite) - 1} more)" if len(non_finite) > 1 else ""
        raise WeightsError(
            f"{path}: tensor {non_finite[0]}{others} holds NaN or infinite values (non-finite weights: the "
            "run diverged or the file was damaged); use an earlier checkpoint of the run"
        )
    mismatched = [k for k in sorted(loaded) if k in params and loaded[k].shape != params[k].shape]
    if mismatched:
        first = mismatched[0]
        others = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
        raise ModelError(
            f"{path}: tensor {first} has shape {tuple(loaded[first].shape)}, the model its spec describes "
            f"has {tuple(params[first].shape)}{others}: the file was changed after training or written for "
            "another configuration; use the run's own checkpoint, or the spec it was trained with"
        )
    with torch.no_grad():
        for name, tensor in loaded.items():
            if name in params:
                params[name].copy_(tensor.to(params[name].dtype))
    return {"missing": missing, "unexpected": unexpected}


def find_checkpoint(path: str | Path) -> Path:
    """The `trainable.safetensors` behind `path`: the file itself, a `step_N` folder, a run folder (its
    `checkpoints/latest`, else its highest complete step), or the name `one4d-tiny` (the shipped model, unless
    a file or folder of that name exists here)."""
    if str(path) == TINY_NAME and not Path(path).exists():
        if not TINY_DLC_FILE.is_file():
            raise ModelError(
                f"{TINY_DLC_FILE}: the shipped {TINY_NAME} weights are missing from this install"
            )
        return TINY_DLC_FILE
    path = Path(path)
    if path.is_file():
        return path
    if (path / TRAINABLE_FILE).is_file():
        return path / TRAINABLE_FILE
    root = path / "checkpoints"
    pointer = root / "latest"
    if pointer.is_file() and (root / pointer.read_text().strip() / TRAINABLE_FILE).is_file():
        return root / pointer.read_text().strip() / TRAINABLE_FILE
    steps = sorted(
        (int(m.group(1)), p / TRAINABLE_FILE)
        for p in root.glob("step_*")
        if (m := _STEP_DIR.match(p.name)) and (p / TRAINABLE_FILE).is_file()
    )
    if not steps:
        raise FileNotFoundError(f"{path}: no {TRAINABLE_FILE}, step_N folder or run folder with checkpoints")
    return steps[-1][1]


def run_folder(checkpoint: str | Path) -> Path:
    """The run folder of a checkpoint file laid out as above (`<run>/checkpoints/step_N/<file>`); for a file
    elsewhere, its own folder."""
    checkpoint = Path(checkpoint).resolve()
    step_dir = checkpoint.parent
    if _STEP_DIR.match(step_dir.name) and step_dir.parent.name == "checkpoints":
        return step_dir.parent.parent
    return step_dir
