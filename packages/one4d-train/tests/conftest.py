from __future__ import annotations

from pathlib import Path

import pytest
from one4d_train.config import load_config

SMALL_CONFIG = Path(__file__).parent / "small.toml"


@pytest.fixture
def small_config(tmp_path):
    def make(*overrides: str, name: str = "run"):
        return load_config(SMALL_CONFIG, overrides=[f'output_dir="{tmp_path / name}"', *overrides])

    return make
