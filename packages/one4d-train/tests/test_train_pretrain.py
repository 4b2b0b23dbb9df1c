"""The two `one4d-pretrain` stages and `one4d-ablate`, at sizes a CI machine runs in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from one4d_train.pretrain.cli import main as pretrain_main

TINY_VAE_STAGE = [
    "steps=4",
    "batch_size=2",
    "pca_clips=8",
    "stats_clips=4",
    "eval_clips=2",
    "num_frames=5",
    "height=32",
    "width=32",
    "net_width=16",
    "blocks=1",
    "save_every=2",
    "log_every=1",
    "warmup_steps=0",
]


def _sets(settings: list[str]) -> list[str]:
    return [arg for s in settings for arg in ("--set", s)]


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def vae_stage(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pretrain") / "vae"
    assert pretrain_main(["vae", "--output-dir", str(out), *_sets(TINY_VAE_STAGE)]) == 0
    return out


def test_vae_stage_writes_a_loadable_vae_with_its_log(vae_stage):
    from one4d_model.models.patch_vae import RefinedPatchVAE
    from one4d_model.models.vae import build_vae

    vae = build_vae(vae_stage / "vae.safetensors")
    assert isinstance(vae, RefinedPatchVAE)
    assert vae.latent_shape(5, 32, 32) == (16, 2, 4, 4)
    records = _records(vae_stage)
    assert records[0]["step"] == 0 and "eval/pca_l1_xyz" in records[0]
    assert records[-1]["step"] == 4 and "eval/final_l1_xyz" in records[-1]
    # The latents are normalised per channel (statistics set after training).
    assert not torch.equal(vae.latents_std, torch.ones(16))
    assert json.loads((vae_stage / "stage.json").read_text())["steps"] == 4


def test_vae_stage_resumes_where_it_stopped(vae_stage, tmp_path):
    import shutil

    out = tmp_path / "vae"
    shutil.copytree(vae_stage, out)
    settings = [s for s in TINY_VAE_STAGE if not s.startswith("steps=")] + ["steps=6"]
    assert pretrain_main(["vae", "--output-dir", str(out), *_sets(settings)]) == 0
    steps = [r["step"] for r in _records(out)]
    # The second run logged steps 5 and 6 only: it did not start again from 0.
    assert steps.count(0) == 1 and steps[-1] == 6 and 5 in steps


def test_base_stage_pretrains_a_wan_inp_base_that_loads_as_one4d_tiny(vae_stage, tmp_path):
    from diffusers import WanTransformer3DModel
    from one4d_model.loading.build import build_one4d_transformer

    out = tmp_path / "base"
    settings = [
        "steps=2",
        "batch_size=2",
        "num_clips=4",
        "eval_clips=2",
        "num_frames=5",
        "height=32",
        "width=32",
        "log_every=1",
        "eval_every=2",
        "warmup_steps=0",
    ]
    args = ["base", "--output-dir", str(out), "--vae", str(vae_stage / "vae.safetensors"), *_sets(settings)]
    assert pretrain_main(args) == 0
    base = WanTransformer3DModel.from_pretrained(out / "base")
    assert base.config.in_channels == 36  # the InP layout: 16 noisy + 4 mask + 16 conditioning
    records = _records(out)
    assert "eval/loss" in records[0] and "eval/loss" in records[-1]
    model = build_one4d_transformer("one4d-tiny", base_path=out / "base", lora_rank=4, num_links=2)
    weight = dict(model.base.named_parameters())["blocks.0.attn1.to_q.base_layer.weight"]
    torch.testing.assert_close(weight, base.blocks[0].attn1.to_q.weight)


def test_pretrain_rejects_unknown_settings(capsys, tmp_path):
    assert pretrain_main(["vae", "--output-dir", str(tmp_path), "--set", "stepz=3"]) == 2
    assert "unknown setting 'stepz'" in capsys.readouterr().err
    assert pretrain_main(["base", "--output-dir", str(tmp_path), "--set", "variant=wan2.1-fun-14b-inp"]) == 2
    assert "setting 'variant': expected one of ('one4d-tiny', 'one4d-tiny-p1')" in capsys.readouterr().err


def test_ablation_trains_each_coupling_under_the_same_budget_and_prints_one_table(tmp_path):
    from one4d_train.ablation import format_ablation, run_ablation

    config = Path(__file__).parent / "small.toml"
    rows = run_ablation(tmp_path, ["dlc", "channel"], str(config), None, ["max_steps=2"])
    assert list(rows) == ["base (before fine-tuning)", "dlc", "channel"]
    for name in ("dlc", "channel"):
        assert rows[name]["s_per_step"] > 0
        assert set(rows[name]) >= {"val_loss_rgb", "abs_rel", "focal_error", "rotation_error_deg"}
    # The couplings train different parameter sets (channel coupling: no XYZ branch, a widened embedding).
    assert rows["dlc"]["trainable"] != rows["channel"]["trainable"]
    table = format_ablation(rows)
    assert "| dlc |" in table and "| channel |" in table and "constant depth AbsRel" in table
    assert json.loads((tmp_path / "ablation.json").read_text()).keys() == rows.keys()
