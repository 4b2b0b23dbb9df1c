"""What a later run reads back is written whole: the fitted VAE and metrics.jsonl survive a kill mid-write."""

from __future__ import annotations

import json

import pytest
import torch
from one4d_model.models.patch_vae import LinearPatchVAE
from one4d_train.metrics_log import MetricsLog


class Killed(BaseException):
    """Stands for SIGKILL in the middle of a write."""


def _killed_after_half(real):
    def write(tensors, path, metadata=None):
        real(tensors, path, metadata=metadata)
        with open(path, "r+b") as handle:
            handle.truncate(handle.seek(0, 2) // 2)  # half the file is on disk
        raise Killed

    return write


def test_a_kill_while_saving_the_fitted_vae_leaves_no_file_to_trust(tmp_path, monkeypatch):
    import safetensors.torch

    vae = LinearPatchVAE.fit(torch.randn(4, 3, 5, 16, 16))
    path = tmp_path / "vae.safetensors"
    monkeypatch.setattr(safetensors.torch, "save_file", _killed_after_half(safetensors.torch.save_file))
    with pytest.raises(Killed):
        vae.save(path)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a partial one: the next run refits
    monkeypatch.undo()
    vae.save(path)
    assert torch.equal(LinearPatchVAE.load(path).components, vae.components)
    path.write_bytes(path.read_bytes()[:100])  # truncated by something else: named, not trusted
    with pytest.raises(ValueError, match="vae.safetensors: not a readable safetensors file"):
        LinearPatchVAE.load(path)


def test_resuming_rewrites_metrics_atomically(tmp_path, monkeypatch):
    log = MetricsLog(tmp_path, enabled=True, total_steps=4, start_step=0)
    for step in range(1, 5):
        log.log(step, {"loss": float(step)})
    log.close()
    before = (tmp_path / "metrics.jsonl").read_text()

    def killed(path, text):
        raise Killed

    monkeypatch.setattr("one4d_train.metrics_log.atomic_write_text", killed)
    with pytest.raises(Killed):
        MetricsLog(tmp_path, enabled=True, total_steps=4, start_step=2)
    assert (tmp_path / "metrics.jsonl").read_text() == before  # nothing lost
    monkeypatch.undo()
    MetricsLog(tmp_path, enabled=True, total_steps=4, start_step=2).close()
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]
