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


def kill_during_step(trainer, step: int, monkeypatch) -> None:
    """Run `trainer.fit` until it is about to take step `step + 1`, then interrupt it as a kill would."""
    from one4d_train.trainer import Trainer

    original_step = Trainer.train_step

    def killed(self):
        if self.step == step:
            raise KeyboardInterrupt
        return original_step(self)

    monkeypatch.setattr(Trainer, "train_step", killed)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(run_eval=False)
    monkeypatch.setattr(Trainer, "train_step", original_step)
