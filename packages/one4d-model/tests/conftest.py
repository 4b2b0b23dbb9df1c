"""Shared fixtures of the one4d_model tests: the tiny config, CPU, fp32."""

from __future__ import annotations

import pytest
import torch
from one4d_model import build_one4d_transformer
from one4d_model.testing import make_tiny_inputs


@pytest.fixture
def inputs() -> dict:
    return make_tiny_inputs()


@pytest.fixture
def make_model():
    def factory(seed: int = 0, **options):
        torch.manual_seed(seed)
        options.setdefault("lora_rank", 4)
        return build_one4d_transformer("tiny", **options).eval()

    return factory
