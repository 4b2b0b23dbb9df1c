"""Workspace-wide pytest setup: tests marked `gpu` skip cleanly where no CUDA device exists, and the
`shared_data` fixture finds the real sample data (`../shared/data`, or $ONE4D_SHARED_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample data folder; tests that use it skip (saying where they looked) when it is absent."""
    folder = Path(os.environ.get("ONE4D_SHARED_DATA", DEFAULT_SHARED_DATA))
    if not folder.is_dir():
        pytest.skip(f"real sample data not found at {folder} (set ONE4D_SHARED_DATA)")
    return folder


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
