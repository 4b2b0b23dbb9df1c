"""tools/ensemble_study.py: its prefix means of one set of draws are exactly `ensemble_size` of the pipeline,
scored as `one4d-heldout` scores the full video. (Loaded in-process: a subprocess would spend the test
importing torch.)"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from one4d_model import One4DPipeline
from one4d_train.config import load_config
from one4d_train.evaluation import evaluate_task, pointmap_latents
from one4d_train.trainer import Trainer

TOOL = Path(__file__).resolve().parents[3] / "tools" / "ensemble_study.py"
SMALL_CONFIG = Path(__file__).parent / "small.toml"


def _load_tool():
    spec = importlib.util.spec_from_file_location("ensemble_study", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prefix_means_are_the_pipelines_ensembles(tmp_path, capsys):
    run = tmp_path / "run"
    Trainer(load_config(SMALL_CONFIG, overrides=[f'output_dir="{run}"', "max_steps=1"])).fit(run_eval=False)
    tool = _load_tool()
    clips, seed = tool.held_out_clips(str(run), 2)
    assert len(clips) == 2
    pipeline = One4DPipeline.from_checkpoint(run)
    pipeline.set_progress_bar_config(disable=True)
    draws = tool.draw_latents(pipeline, clips, seed, 2)
    assert [tuple(d.shape[:2]) for d in draws] == [(2, 16)] * 2
    per_scene = tool.ensemble_scores(pipeline, clips, draws, [1, 2])
    for k in (1, 2):
        expected = evaluate_task(pipeline, clips, "full_video", seed, ensemble_size=k)
        mean = tool.summary(per_scene[k])["mean"]
        reference = [expected.abs_rel, expected.delta, expected.focal_error, expected.rotation_error_deg]
        assert mean == pytest.approx(reference, rel=1e-5)
    assert per_scene[1] != per_scene[2]  # the second draw changes the answer
    # Draws that are the truth explain all of it, and do not spread; the model's draws do.
    truth = [pointmap_latents(pipeline.vae, clip).repeat(2, 1, 1, 1, 1) for clip in clips]
    perfect = tool.explained_by_size(pipeline, clips, truth, [1, 2])
    assert perfect["explained"] == {1: pytest.approx(1.0), 2: pytest.approx(1.0)}
    assert perfect["spread"] == pytest.approx(0.0, abs=1e-9)
    model = tool.explained_by_size(pipeline, clips, draws, [1, 2])
    assert model["explained"][1] < 1 and model["spread"] > 0

    assert tool.main([str(run), "--clips", "2", "--sizes", "1", "2", "--json", str(tmp_path / "e.json")]) == 0
    table = capsys.readouterr().out
    assert table.count("\n| 1 | ") == 1 and "| 2 | " in table and "reference: constant depth" in table
    record = json.loads((tmp_path / "e.json").read_text())
    assert set(record["scenes"]) == {"1", "2"} and len(record["scenes"]["2"]) == 2
    assert set(record["explained"]) == {"1", "2"} and "spread of one draw" in table
    one_step = ["--clips", "2", "--sizes", "1", "--steps", "1", "--json", str(tmp_path / "s.json")]
    assert tool.main([str(run), *one_step]) == 0
    assert "| 1 | " in capsys.readouterr().out
    # One sampling step instead of the run's two: another answer for the same draws' noise.
    assert json.loads((tmp_path / "s.json").read_text())["scenes"]["1"] != record["scenes"]["1"]
    for bad in (["--sizes", "0"], ["--steps", "0"]):
        with pytest.raises(SystemExit):
            tool.main([str(run), *bad])
