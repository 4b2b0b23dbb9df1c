"""Workspace-wide pytest setup: tests marked `gpu` skip cleanly where no CUDA device exists."""

from __future__ import annotations

import pytest


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items or _cuda_available():
        return
    skip = pytest.mark.skip(
        reason="needs a CUDA device (run with `uv run nox -s tests_gpu` on a GPU machine)"
    )
    for item in gpu_items:
        item.add_marker(skip)
