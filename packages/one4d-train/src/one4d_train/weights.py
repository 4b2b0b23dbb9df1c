"""What a checkpoint's `trainable.safetensors` holds and how it goes back into a model.

It holds every trainable tensor under its name in `One4DTransformer` (the four DLC groups; for the tiny
preset, whose random base is trained too, the base weights as well), so `load_training_weights` restores
exactly the model that training produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from one4d_model.trainable_io import load_training_checkpoint
from safetensors.torch import save_file


def save_training_weights(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_file(tensors, str(path), metadata={"format": "pt", "one4d_train": json.dumps(metadata)})


def load_training_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Load the DLC groups strictly; base tensors in the file (trained base) are loaded by name."""
    load_training_checkpoint(model, path)
