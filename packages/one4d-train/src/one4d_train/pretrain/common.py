"""What the pretraining stages share: resumable state, atomic writes of the result, the stage log."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from one4d_geometry.files import atomic_write_text
from safetensors.torch import load_file, save_file

from ..metrics_log import MetricsLog

STATE_DIR = "state"


def atomic_save_pretrained(model, folder: Path) -> None:
    """`model.save_pretrained(folder)` (diffusers layout, safetensors) written beside it and renamed."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(str(tmp), safe_serialization=True)
    old = folder.with_name(f".{folder.name}.old")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def save_stage_state(out: Path, model: torch.nn.Module, optimizer, scheduler, step: int) -> None:
    """Weights (safetensors), optimizer and scheduler state and the step, replaced atomically."""
    final = Path(out) / STATE_DIR
    tmp = final.with_name(f".{STATE_DIR}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file(
        {k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors")
    )
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step},
        tmp / "optimizer.pt",
    )
    old = final.with_name(f".{STATE_DIR}.old")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def load_stage_state(out: Path, model: torch.nn.Module, optimizer, scheduler) -> int:
    """Restore what `save_stage_state` wrote (if anything); returns the step to continue from."""
    folder = Path(out) / STATE_DIR
    if not (folder / "optimizer.pt").is_file():
        return 0
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    state = torch.load(folder / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"])


def apply_update(loss: torch.Tensor, params, optimizer, scheduler, where: str, step: int) -> dict[str, float]:
    """One optimiser step of a stage on `loss` (gradients clipped to norm 1); a non-finite loss raises
    before anything is updated. Returns the values every stage logs."""
    if not math.isfinite(loss.item()):
        raise FloatingPointError(f"{where}: loss is {loss.item()} at step {step + 1}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    scheduler.step()
    return {"loss": loss.item(), "grad_norm": float(grad_norm), "lr": scheduler.get_last_lr()[0]}


class StageLog(MetricsLog):
    """The stage's `metrics.jsonl`, TensorBoard scalars and progress bar, and its settings in `stage.json`."""

    def __init__(self, out: Path, desc: str, total_steps: int, start_step: int, settings: dict[str, Any]):
        super().__init__(out, True, total_steps, start_step, desc=desc)
        atomic_write_text(Path(out) / "stage.json", json.dumps(settings, indent=2) + "\n")
