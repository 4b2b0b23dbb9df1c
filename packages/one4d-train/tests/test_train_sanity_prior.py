"""one4d-sanity fails loudly when its targets are missed; one4d-prior's table and plot from a study."""

import math

import pytest
from one4d_train.config import ConfigError
from one4d_train.evaluation import GeometryScores
from one4d_train.prior_study import format_study, parse_base, plot_study
from one4d_train.sanity import TARGETS, main, missed_targets


def _scores(abs_rel, focal, rotation, recovered=1):
    return GeometryScores(abs_rel, 0.9, focal, rotation, recovered=recovered, clips=1)


def test_missed_targets_names_each_miss():
    assert missed_targets({"full_video": _scores(0.05, 0.01, 0.5)}) == []
    missed = missed_targets({"full_video": _scores(0.2, 0.01, math.nan, recovered=0)})
    assert any("abs_rel 0.2 > 0.1" in m for m in missed)
    assert any("rotation_error_deg nan" in m for m in missed)
    assert any("0 of 1 clips" in m for m in missed)
    assert set(TARGETS) == {"abs_rel", "focal_error", "rotation_error_deg"}


def test_sanity_with_too_few_steps_fails_loudly(tmp_path, capsys):
    """Two steps cannot memorise a clip: the command prints its table and exits 1 naming the misses."""
    assert main(["--output-dir", str(tmp_path / "sanity"), "--max-steps", "2"]) == 1
    out = capsys.readouterr().out
    assert "| trained clips | depth AbsRel |" in out and "reference: GT through VAE" in out
    assert "one4d-sanity: FAILED" in out and "full-video abs_rel" in out


def test_sanity_refuses_zero_clips(capsys):
    assert main(["--clips", "0"]) == 2
    assert "--clips must be at least 1" in capsys.readouterr().err


def test_prior_study_bases_are_checked(tmp_path):
    assert parse_base("random") == ("random", "random")
    assert parse_base("shipped") == ("shipped", None)
    assert parse_base(f"longer={tmp_path}") == ("longer", str(tmp_path))
    with pytest.raises(ConfigError, match="NAME=FOLDER"):
        parse_base(f"longer={tmp_path / 'missing'}")


def test_prior_study_table_and_plot(tmp_path):
    def scores(abs_rel):
        return {
            "abs_rel": abs_rel,
            "delta": 0.5,
            "focal_error": 0.3,
            "rotation_error_deg": 9.0,
            "recovered": 16,
            "clips": 16,
            "psnr": math.nan,
        }

    study = {
        "runs": {
            "random": {"steps": {"500": scores(0.5), "1000": scores(0.45)}},
            "shipped": {"steps": {"500": scores(0.4), "1000": {**scores(0.3), "xyz_explained": 0.25}}},
        },
        "constant": scores(0.42),
        "vae": scores(0.05),
    }
    table = format_study(study)
    assert "| shipped | 1000 | 0.300 |" in table and "| random | 500 | 0.500 |" in table
    assert "ground truth through the VAE | - | 0.050" in table
    # Studies written before `xyz_explained` existed show "-" there; the references are 0 and 1 by definition.
    assert "| shipped | 1000 | 0.300 |" in table and table.count("| 0.250 |") == 1
    assert "| random | 500 | 0.500 | 0.500 | 30.0 % | 9.00 deg | 16/16 | - |" in table
    assert table.endswith("| 16/16 | 1.000 |")
    plot_study(study, tmp_path / "study.png")
    assert (tmp_path / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one4d_prior_trains_scores_each_checkpoint_and_writes_its_study(tmp_path, capsys, monkeypatch):
    import json

    import one4d_train.evaluation
    from one4d_train.prior_study import main as prior_main

    out = tmp_path / "prior"
    settings = ["max_steps=2", "save_every=1", "batch_size=1", "data.num_clips=2", "data.eval_clips=2"]
    settings += ["sampling.steps=2"]
    # Interrupted while scoring the second checkpoint: the first checkpoint's scores are on disk already.
    evaluate_task, calls = one4d_train.evaluation.evaluate_task, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate_task(*args, **kwargs)

    monkeypatch.setattr(one4d_train.evaluation, "evaluate_task", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prior_main(["--output-dir", str(out), "--base", "random", *[f"--set={s}" for s in settings]])
    partial = json.loads((out / "study.json").read_text())
    assert list(partial["runs"]["random"]["steps"]) == ["1"]
    partial["runs"]["random"]["steps"]["1"]["abs_rel"] = 456.0  # marked: the rerun must keep it
    (out / "study.json").write_text(json.dumps(partial))
    monkeypatch.setattr(one4d_train.evaluation, "evaluate_task", evaluate_task)

    assert prior_main(["--output-dir", str(out), "--base", "random", *[f"--set={s}" for s in settings]]) == 0
    study = json.loads((out / "study.json").read_text())
    steps = study["runs"]["random"]["steps"]
    assert list(steps) == ["1", "2"] and study["held_out_clips"] == 2 and steps["1"]["abs_rel"] == 456.0
    assert all(math.isfinite(s["xyz_explained"]) and s["clips"] == 2 for s in steps.values())
    assert (out / "study.png").is_file()
    assert "| random | 2 |" in capsys.readouterr().out
    # Run again: the scores written are kept (a marked value survives), the missing one is computed.
    explained = steps["2"].pop("xyz_explained")
    steps["1"]["abs_rel"] = 123.0
    (out / "study.json").write_text(json.dumps(study))
    assert prior_main(["--output-dir", str(out), "--base", "random", *[f"--set={s}" for s in settings]]) == 0
    again = json.loads((out / "study.json").read_text())["runs"]["random"]["steps"]
    assert again["1"]["abs_rel"] == 123.0 and again["2"]["xyz_explained"] == explained
