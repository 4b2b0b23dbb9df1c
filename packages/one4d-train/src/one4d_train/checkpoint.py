"""Checkpoints that survive a kill: trainable weights (safetensors) + full training state (DCP).

Layout of `<output_dir>/checkpoints/`:
    step_000100/trainable.safetensors   the run format (`one4d_model.loading.run_format`: tensors + ModelSpec)
    step_000100/state/                  torch.distributed.checkpoint: optimizer, scheduler, step, RNG
    latest                              name of the newest complete checkpoint
A checkpoint is written under a temporary name and renamed when complete, so a kill during a save leaves the
previous checkpoint as `latest`. Only the last `keep_last` are kept.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from one4d_geometry.files import atomic_write_text
from one4d_model.errors import ModelError
from one4d_model.loading.run_format import TRAINABLE_FILE, find_checkpoint
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from .distributed import DistEnv, barrier

STEP_DIR = re.compile(r"^step_(\d{6,})$")


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def step_dir_name(step: int) -> str:
    return f"step_{step:06d}"


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint: the `latest` pointer, else the highest complete step directory."""
    if not checkpoint_root(output_dir).is_dir():
        return None
    try:
        return find_checkpoint(output_dir).parent
    except FileNotFoundError:
        return None


def _trainable_only(model: torch.nn.Module) -> StateDictOptions:
    return StateDictOptions(ignore_frozen_params=True)


@contextmanager
def _single_process_is_intended():
    """DCP warns on every save/load without a process group; a single-process run is meant to be one."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled", category=UserWarning)
        yield


def save_checkpoint(
    output_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    env: DistEnv,
    keep_last: int,
    save_trainable_fn,
) -> Path:
    """Write checkpoint `step` atomically on every rank (DCP is collective); returns its directory."""
    root = checkpoint_root(output_dir)
    final = root / step_dir_name(step)
    tmp = root / f".tmp-{step_dir_name(step)}"
    if env.is_main:
        root.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    barrier(env)
    model_state, optim_state = get_state_dict(model, optimizer, options=_trainable_only(model))
    state = {
        "model": model_state,
        "optim": optim_state,
        "scheduler": scheduler.state_dict(),
        "step": torch.tensor(step),
        f"rng_cpu_rank{env.rank}": torch.get_rng_state(),
    }
    with _single_process_is_intended():
        dcp.save(state, checkpoint_id=str(tmp / "state"), no_dist=not dist.is_initialized())
    full = get_model_state_dict(
        model, options=StateDictOptions(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)
    )
    if env.is_main:
        save_trainable_fn(full, tmp / TRAINABLE_FILE)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        atomic_write_text(root / "latest", final.name)
        _prune(root, keep_last)
    barrier(env)
    return final


def _prune(root: Path, keep_last: int) -> None:
    steps = sorted((int(m.group(1)), p) for p in root.glob("step_*") if (m := STEP_DIR.match(p.name)))
    for _, path in steps[:-keep_last]:
        shutil.rmtree(path, ignore_errors=True)


def _check_only_frozen_missing(path: Path, model: torch.nn.Module, incompatible) -> None:
    """A resumed run must get back every parameter that trains; only frozen ones may be absent."""
    # Both sides name tensors as the (possibly wrapped) model does, so they compare as they are.
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    frozen |= {n for n, _ in model.named_buffers()}
    missing = [k for k in incompatible.missing_keys if k not in frozen]
    unexpected = list(incompatible.unexpected_keys)
    if missing or unexpected:
        problems = []
        if missing:
            problems.append(f"{len(missing)} trainable tensor(s) missing (first: {missing[0]})")
        if unexpected:
            problems.append(f"{len(unexpected)} unknown tensor(s) (first: {unexpected[0]})")
        raise ModelError(
            f"{path}: the checkpoint does not match this run's model: {'; '.join(problems)}; "
            "resume with the configuration that wrote it (its config.toml)"
        )


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    env: DistEnv,
) -> int:
    """Restore model, optimizer, scheduler and RNG from `path`; returns the step it was taken at."""
    model_state, optim_state = get_state_dict(model, optimizer, options=_trainable_only(model))
    state = {
        "model": model_state,
        "optim": optim_state,
        "scheduler": scheduler.state_dict(),
        "step": torch.tensor(0),
        f"rng_cpu_rank{env.rank}": torch.get_rng_state(),
    }
    try:
        with _single_process_is_intended():
            dcp.load(state, checkpoint_id=str(path / "state"), no_dist=not dist.is_initialized())
    except CheckpointException as err:
        missing = re.search(r"Missing key in checkpoint state_dict: ([^\s]+?)\.?\n", str(err))
        what = f"it has no {missing.group(1)}" if missing else str(err).splitlines()[0]
        raise ModelError(
            f"{path}: the checkpoint does not match this run's model or optimizer ({what}); "
            "resume with the configuration that wrote it (its config.toml)"
        ) from err
    # The checkpoint holds what trains, never the frozen base (it comes from its own files): load it
    # non-strictly, then insist that exactly the frozen parameters were left out.
    incompatible = set_state_dict(
        model,
        optimizer,
        model_state_dict=state["model"],
        optim_state_dict=state["optim"],
        options=StateDictOptions(ignore_frozen_params=True, strict=False),
    )
    _check_only_frozen_missing(path, model, incompatible)
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state[f"rng_cpu_rank{env.rank}"])
    if dist.is_initialized():
        dist.barrier()
    return int(state["step"])
