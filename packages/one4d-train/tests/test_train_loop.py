import json

import pytest
import torch
from one4d_data.dataset import collate_samples
from one4d_model import build_one4d_transformer
from one4d_model.loading.run_format import load_trainable
from one4d_train.checkpoint import latest_checkpoint
from one4d_train.losses import draw_noise, flow_matching_loss
from one4d_train.metrics_log import read_metrics
from one4d_train.positions import PositionSchedule
from one4d_train.trainer import Trainer, build_model
from safetensors.torch import load_file

from .conftest import kill_during_step


def _weights(output_dir):
    return load_file(str(latest_checkpoint(output_dir) / "trainable.safetensors"))


def test_loss_falls_on_a_fixed_batch(small_config):
    trainer = Trainer(small_config())
    batch = trainer.data.batch([0, 1])
    sigmas, noise_rgb, noise_xyz, _ = draw_noise(batch, 0, 3.0, 0.0)
    losses = []
    for _ in range(25):
        terms = flow_matching_loss(trainer.model, batch, sigmas, noise_rgb, noise_xyz)
        trainer.optimizer.zero_grad()
        terms.total.backward()
        trainer.optimizer.step()
        losses.append(float(terms.total.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_only_trainable_groups_change_when_the_base_is_frozen(small_config):
    trainer = Trainer(small_config("model.train_base=false", "max_steps=1"))
    base_before = {k: v.clone() for k, v in trainer.core.base.state_dict().items() if "lora" not in k}
    trainer.fit(run_eval=False)
    base_after = {k: v for k, v in trainer.core.base.state_dict().items() if "lora" not in k}
    assert all(torch.equal(base_before[k], base_after[k]) for k in base_before)
    saved = _weights(trainer.output_dir)
    groups = trainer.core.trainable_groups()
    assert set(saved) == {name for params in groups.values() for name, _ in params}


def test_interrupted_run_resumes_to_the_same_weights_and_log(small_config, monkeypatch):
    reference = Trainer(small_config("max_steps=4", name="reference"))
    reference.fit(run_eval=False)

    interrupted = Trainer(small_config("max_steps=4", name="interrupted"))
    kill_during_step(interrupted, 3, monkeypatch)
    assert latest_checkpoint(interrupted.output_dir).name == "step_000002"

    resumed = Trainer(small_config("max_steps=4", name="interrupted"), resume=True)
    assert resumed.step == 2
    resumed.fit(run_eval=False)

    expected, got = _weights(reference.output_dir), _weights(interrupted.output_dir)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-6)

    def losses(output_dir):
        return {r["step"]: r["loss"] for r in read_metrics(output_dir) if "loss" in r}

    resumed_log, reference_log = losses(interrupted.output_dir), losses(reference.output_dir)
    assert list(resumed_log) == list(reference_log) == [1, 2, 3, 4]
    assert list(resumed_log.values()) == pytest.approx(list(reference_log.values()), abs=1e-6)


def test_a_kill_during_save_keeps_the_previous_checkpoint(small_config, monkeypatch):
    import one4d_train.trainer as trainer_module

    trainer = Trainer(small_config("max_steps=2"))
    trainer.fit(run_eval=False)
    first = latest_checkpoint(trainer.output_dir)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(trainer_module, "write_trainable", killed)
    trainer.config.max_steps = 4
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(run_eval=False)
    assert latest_checkpoint(trainer.output_dir) == first
    assert not (trainer.output_dir / "checkpoints" / "step_000004").exists()


def test_checkpoint_loads_into_a_fresh_model_with_identical_outputs(small_config):
    config = small_config("max_steps=2")
    trainer = Trainer(config)
    trainer.fit(run_eval=False)
    fresh = build_model(config, torch.device("cpu"))
    load_trainable(fresh, latest_checkpoint(trainer.output_dir) / "trainable.safetensors")
    batch = trainer.data.batch([0, 1])
    timestep = torch.tensor([300.0, 700.0])
    args = (batch.rgb, batch.xyz, batch.cond, batch.mask, timestep, batch.text, batch.image)
    trainer.core.eval()
    fresh.eval()
    with torch.no_grad():
        a, b = trainer.core(*args), fresh(*args)
    torch.testing.assert_close(a.rgb, b.rgb)
    torch.testing.assert_close(a.xyz, b.xyz)
    untouched = build_one4d_transformer("tiny", lora_rank=4, num_links=2)
    with torch.no_grad():
        assert not torch.allclose(untouched(*args).xyz, a.xyz)


def test_run_writes_config_logs_and_tensorboard(small_config):
    trainer = Trainer(small_config("max_steps=2"))
    summary = trainer.fit(run_eval=True)
    out = trainer.output_dir
    assert (out / "config.toml").is_file() and list((out / "tensorboard").iterdir())
    records = read_metrics(out)
    step_records = [r for r in records if "loss" in r]
    assert [r["step"] for r in step_records] == [1, 2]
    for key in ("loss_rgb", "loss_xyz", "lr", "grad_norm", "samples_per_s"):
        assert all(key in r for r in step_records)
    assert {"val_loss", "full_video/abs_rel", "constant/abs_rel", "vae/abs_rel"} <= set(summary["eval_after"])
    assert "| reference: constant |" in summary["eval_table"]
    assert json.loads(json.dumps(summary["eval_before"]))["val_loss"] > 0


def test_dataloader_workers_change_when_items_are_read_not_what_is_trained(small_config):
    inline = Trainer(small_config("max_steps=3", "optim.grad_accum=2", name="inline"))
    inline.fit(run_eval=False)
    workers = Trainer(small_config("max_steps=3", "optim.grad_accum=2", "data.num_workers=2", name="workers"))
    workers.fit(run_eval=False)
    assert workers.data.prefetcher is None  # workers are shut down after training
    one, two = _weights(inline.output_dir), _weights(workers.output_dir)
    assert one.keys() == two.keys()
    assert all(torch.equal(one[k], two[k]) for k in one)
    losses = [[row["loss"] for row in read_metrics(t.output_dir) if "loss" in row] for t in (inline, workers)]
    assert losses[0] == losses[1] and len(losses[0]) == 3


def test_prefetched_batches_equal_batches_read_inline_and_a_detour_falls_back(small_config):
    trainer = Trainer(small_config("max_steps=2", "data.num_workers=1"))
    data = trainer.data
    schedule = PositionSchedule(0, 2, accum=1, world=1, rank=0, batch=2)
    data.start_prefetch(schedule, num_workers=1)
    first = data.batch([0, 1])
    reference = data.to_batch(collate_samples(data.items([0, 1])))
    assert torch.equal(first.rgb, reference.rgb) and torch.equal(first.text, reference.text)
    # Asking for other positions than the schedule's next ones reads them inline and stops prefetching.
    detour = data.batch([6, 7])
    assert detour.positions == [6, 7] and data.prefetcher.loader is None
    data.stop_prefetch()


def test_checkpoints_record_the_model_spec_the_config_maps_to(small_config):
    from one4d_model import read_spec
    from one4d_train.config import model_spec

    trainer = Trainer(small_config("max_steps=1"))
    trainer.fit(run_eval=False)
    spec = read_spec(latest_checkpoint(trainer.output_dir) / "trainable.safetensors")
    assert spec == model_spec(trainer.config)
    assert spec.base_trained and (spec.num_frames, spec.height, spec.width) == (5, 32, 32)
    assert (spec.sampling.num_steps, spec.sampling.guidance_scale) == (2, 1.0)
