"""The direct-regression reference of issue 19 (`one4d_train.learnability`) and the latent scoring it shares
with the held-out evaluation."""

import json
import math

import pytest
from one4d_model.models.vae import build_vae
from one4d_train.batches import held_out_scenes
from one4d_train.config import ConfigError, load_config
from one4d_train.evaluation import pointmap_latents, score_pointmap_latents, vae_reference
from one4d_train.learnability import load_cached_latents, main
from one4d_train.trainer import Trainer


def test_true_latents_score_alike_in_the_models_units_and_in_the_clips():
    """Generated pointmaps are read in the model's normalized units; the geometry of true latents read that
    way must match the ground-truth-through-VAE reference, which reads them in the clip's metric frame."""
    config = load_config(None, "tiny-cpu", ["data.eval_clips=3"])
    clips = held_out_scenes(config)
    vae = build_vae(config.model.vae)
    reference = vae_reference(vae, clips)
    unit = score_pointmap_latents(vae, [pointmap_latents(vae, clip) for clip in clips], clips)
    assert unit.recovered == reference.recovered == 3
    assert unit.abs_rel == pytest.approx(reference.abs_rel, abs=2e-3)
    assert unit.rotation_error_deg == pytest.approx(reference.rotation_error_deg, abs=0.05)
    assert unit.focal_error == pytest.approx(reference.focal_error, abs=2e-3)


def test_the_probe_trains_a_regressor_and_reports_its_held_out_scores(tmp_path, capsys):
    cache = tmp_path / "cache"
    overrides = [f'output_dir="{tmp_path / "run"}"', "data.num_clips=3", f'data.cache_dir="{cache}"']
    Trainer(load_config(None, "tiny-cpu", overrides))  # encodes the clips into the cache
    with pytest.raises(ConfigError, match="3 cached clips, 5 asked for"):
        load_cached_latents(cache, 5)
    out = tmp_path / "probe.json"
    args = ["--cache", str(cache), "--clips", "3", "--held-out", "2", "--steps", "2", "--batch-size", "2"]
    assert main([*args, "--score-every", "1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert list(result["steps"]) == ["1", "2"] and result["held_out"] == 2
    final = result["steps"]["2"]
    assert math.isfinite(final["explained"]) and final["explained"] < 1.0 and final["recovered"] <= 2
    assert "held-out explained" in capsys.readouterr().out
