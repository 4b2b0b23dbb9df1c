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
            "shipped": {"steps": {"500": scores(0.4), "1000": scores(0.3)}},
        },
        "constant": scores(0.42),
        "vae": scores(0.05),
    }
    table = format_study(study)
    assert "| shipped | 1000 | 0.300 |" in table and "| random | 500 | 0.500 |" in table
    assert "ground truth through the VAE | - | 0.050" in table
    plot_study(study, tmp_path / "study.png")
    assert (tmp_path / "study.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
