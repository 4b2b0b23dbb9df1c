"""Text to 4D trains when a config gives it a ratio, from clips encoded on the fly and from a latent cache."""

from __future__ import annotations

import json

import pytest
import torch
from one4d_data.umc import TASKS
from one4d_train.trainer import Trainer


@pytest.mark.parametrize("pre_encode", ["false", "true"])
def test_text_only_training_sees_no_observed_frame(small_config, pre_encode):
    trainer = Trainer(
        small_config("max_steps=2", "data.task_ratios=[0, 0, 0, 1]", f"data.pre_encode={pre_encode}")
    )
    batches = []
    original = trainer.data.to_batch

    def spy(samples):
        batch = original(samples)
        batches.append(batch)
        return batch

    trainer.data.to_batch = spy
    trainer.fit(run_eval=False)
    assert batches, "no training batch was built"
    for batch in batches:
        assert (batch.task == TASKS.index("text")).all()
        assert (batch.mask == 0).all()
    metrics = [json.loads(line) for line in (trainer.output_dir / "metrics.jsonl").read_text().splitlines()]
    logged = [m for m in metrics if "loss_task/text" in m]
    assert logged and all(torch.isfinite(torch.tensor(m["loss_task/text"])) for m in logged)
