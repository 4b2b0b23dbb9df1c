"""`--resume` for the configurations people run: the default preset's frozen shipped base (its checkpoints
hold only what trains), one process and torchrun (DDP, FSDP2 on gloo); a resumed run ends where an
uninterrupted one ends."""

from pathlib import Path

import pytest
import torch
from one4d_model.errors import ModelError
from one4d_model.testing import run_processes
from one4d_train.checkpoint import latest_checkpoint
from one4d_train.cli import main as train_main
from one4d_train.config import load_config
from one4d_train.metrics_log import read_metrics
from one4d_train.trainer import Trainer
from safetensors.torch import load_file

from .conftest import kill_during_step

SMALL_CONFIG = Path(__file__).parent / "small.toml"
# The default preset's own model and optimisation (shipped frozen one4d-tiny base, its VAE, DLC with rank 32
# and 2 links, cosine schedule with warm-up), on fewer clips so that encoding them is quick.
DEFAULT_PRESET_SMALL_DATA = [
    "data.num_clips=8",
    "data.eval_clips=1",
    "batch_size=2",
    "save_every=2",
    "log_every=1",
    "optim.warmup_steps=1",
]


def _weights(output_dir):
    return load_file(str(latest_checkpoint(output_dir) / "trainable.safetensors"))


def _default_preset(tmp_path, name, *overrides):
    return load_config(
        None, "tiny-cpu", [f'output_dir="{tmp_path / name}"', *DEFAULT_PRESET_SMALL_DATA, *overrides]
    )


def test_default_preset_resumes_bit_identical_to_an_uninterrupted_run(tmp_path, monkeypatch):
    config = _default_preset(tmp_path, "reference", "max_steps=4")
    assert config.model.variant == "one4d-tiny" and not config.model.train_base
    reference = Trainer(config)
    reference.fit(run_eval=False)

    interrupted = Trainer(_default_preset(tmp_path, "interrupted", "max_steps=4"))
    kill_during_step(interrupted, 3, monkeypatch)

    resumed = Trainer(_default_preset(tmp_path, "interrupted", "max_steps=4"), resume=True)
    assert resumed.step == 2
    base = {k: v.clone() for k, v in resumed.core.base.state_dict().items() if "lora" not in k}
    resumed.fit(run_eval=False)
    expected, got = _weights(reference.output_dir), _weights(interrupted.output_dir)
    assert expected.keys() == got.keys()
    assert not any(k.startswith("base.") and "lora" not in k for k in got)  # the frozen base is not saved
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
    after = resumed.core.base.state_dict()
    assert all(torch.equal(base[k], after[k]) for k in base)  # and it stays the shipped base

    def losses(output_dir):
        return [r["loss"] for r in read_metrics(output_dir) if "loss" in r]

    assert losses(interrupted.output_dir) == losses(reference.output_dir)


def test_readme_resume_example_continues_the_default_preset(tmp_path):
    out = str(tmp_path / "quick")
    small = [arg for override in DEFAULT_PRESET_SMALL_DATA for arg in ("--set", override)]
    assert train_main(["--output-dir", out, "--max-steps", "3", "--no-eval", *small]) == 0
    assert train_main(["--output-dir", out, "--max-steps", "6", "--resume", "--no-eval", *small]) == 0
    assert latest_checkpoint(out).name == "step_000006"
    assert [r["step"] for r in read_metrics(out) if "loss" in r] == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path, capsys):
    Trainer(_default_preset(tmp_path, "rank32", "max_steps=2")).fit(run_eval=False)
    with pytest.raises(ModelError, match="step_000002"):
        Trainer(
            _default_preset(tmp_path, "rank32", "max_steps=4", "model.num_links=3"),
            resume=True,
        )


def _torchrun_train(out, max_steps, strategy, resume=False):
    args = ["--config", str(SMALL_CONFIG), "--output-dir", str(out), "--max-steps", str(max_steps)]
    args += ["--no-eval", "--set", "batch_size=1", "--set", "model.train_base=false"]
    args += ["--set", f"distributed={strategy}", "--set", 'optim.schedule="constant"']
    args += ["--resume"] if resume else []
    run_processes(["-m", "one4d_train.cli", *args], nproc=2)
    return _weights(out)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_frozen_base_resumes_under_torchrun(tmp_path, strategy):
    """Two processes: 2 steps, then 2 more resumed, end where 4 at once end (a constant learning rate, so
    the step count does not change the schedule)."""
    uninterrupted = _torchrun_train(tmp_path / "uninterrupted", max_steps=4, strategy=strategy)
    out = tmp_path / "resumed"
    after_two = _torchrun_train(out, max_steps=2, strategy=strategy)
    resumed = _torchrun_train(out, max_steps=4, strategy=strategy, resume=True)
    assert resumed.keys() == uninterrupted.keys()
    for key in uninterrupted:
        torch.testing.assert_close(resumed[key], uninterrupted[key], rtol=0, atol=1e-6, msg=key)
    assert any(not torch.equal(resumed[k], after_two[k]) for k in resumed)
    assert [r["step"] for r in read_metrics(out) if "loss" in r] == [1, 2, 3, 4]  # continued, not restarted
