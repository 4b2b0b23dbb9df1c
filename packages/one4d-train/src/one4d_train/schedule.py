"""Learning-rate schedules: linear warmup, then constant, cosine or linear decay to zero."""

from __future__ import annotations

import math

import torch


def lr_lambda(schedule: str, warmup_steps: int, max_steps: int):
    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, max_steps - warmup_steps))
        if schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        if schedule == "linear":
            return 1.0 - progress
        raise ValueError(f"unknown schedule {schedule!r}")

    return factor


def build_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, warmup_steps: int, max_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(schedule, warmup_steps, max_steps))
