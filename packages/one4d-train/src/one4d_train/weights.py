"""What a checkpoint's `trainable.safetensors` holds and how it goes back into a model.

It holds every trainable tensor under its name in `One4DTransformer` (the four DLC groups; for the tiny
preset, whose random base is trained too, the base weights as well), so `load_training_weights` restores
exactly the model that training produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from one4d_model.trainable_io import load_trainable
from safetensors.torch import load_file, save_file


def save_training_weights(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_file(tensors, str(path), metadata={"format": "pt", "one4d_train": json.dumps(metadata)})


def load_training_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load the DLC groups strictly; base tensors in the file (trained base) are loaded by name."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trainable.safetensors checkpoint file")
    report = load_trainable(model, path, strict=False)
    if report["missing"]:
        raise KeyError(
            f"{path}: missing trainable tensors {report['missing'][:5]} ({len(report['missing'])})"
        )
    if report["unexpected"]:
        tensors = load_file(str(path))
        params = dict(model.named_parameters())
        unknown = [k for k in report["unexpected"] if k not in params]
        if unknown:
            raise KeyError(f"{path}: tensors that this model does not have: {unknown[:5]} ({len(unknown)})")
        with torch.no_grad():
            for key in report["unexpected"]:
                if params[key].shape != tensors[key].shape:
                    raise ValueError(
                        f"{path}: {key} has shape {tuple(tensors[key].shape)}, "
                        f"model {tuple(params[key].shape)}"
                    )
                params[key].copy_(tensors[key].to(params[key].dtype))
