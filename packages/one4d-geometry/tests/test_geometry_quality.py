"""Garbage geometry is flagged (issue 13): `CameraRecovery.quality` and `one4d-recover`'s refusal."""

import json
from pathlib import Path

import numpy as np
import pytest
from one4d_geometry import RecoveryQuality, recover_cameras
from one4d_geometry.cli import main
from one4d_geometry.quality import BEHIND_FATAL, FOCAL_ERROR_FATAL, RESIDUAL_FATAL, RESIDUAL_WARN, Problem
from one4d_geometry.synthetic import add_noise, synthetic_scene


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(8, 32, 40, focal=36.0, seed=0)


def mirrored(scene):
    points = scene.pointmaps.copy()
    points[..., 0] *= -1  # a reflection: no rotation turns it into a camera's view
    return points


def noise_cloud(frames=8, height=24, width=32, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (frames, height, width, 3)).astype(np.float32)


@pytest.mark.parametrize(
    "points",
    [
        lambda s: s.pointmaps,
        lambda s: add_noise(s, seed=1),  # 1 % depth noise, 5 % outliers
        lambda s: add_noise(s, 0.01, 0.05, seed=1, point_noise=0.01),  # and 1 % isotropic noise
    ],
    ids=["exact", "depth-noise", "isotropic-noise"],
)
@pytest.mark.parametrize("shared_focal", [True, False])
def test_exact_and_mildly_noisy_views_raise_no_problem(scene, points, shared_focal):
    quality = recover_cameras(points(scene), shared_focal=shared_focal).quality
    assert quality.problems() == [] and quality.is_camera_view
    assert np.all(quality.behind_fraction == 0) and np.all(quality.relative_residual < RESIDUAL_WARN)
    assert np.all(quality.focal_relative_error < 0.01)


def test_a_mirrored_scene_is_not_a_camera_view_but_the_library_does_not_raise(scene):
    result = recover_cameras(mirrored(scene))
    quality = result.quality
    assert np.all(quality.behind_fraction == 1.0) and np.all(np.nan_to_num(result.depth) <= 0)
    assert not quality.is_camera_view
    assert quality.problems() == [
        Problem(True, "100 % of points behind the cameras: not a camera's view (all frames)", tuple(range(8)))
    ]


def test_some_mirrored_frames_are_named(scene):
    points = scene.pointmaps.copy()
    points[2:4] = mirrored(scene)[2:4]
    problems = recover_cameras(points).quality.problems()
    assert problems[0].fatal and problems[0].frames == (2, 3)
    assert problems[0].message.endswith("not a camera's view (frames 2, 3: 2 of 8)")


@pytest.mark.parametrize("shared_focal", [True, False])
def test_a_cloud_of_noise_is_not_a_camera_view(shared_focal):
    quality = recover_cameras(noise_cloud(), shared_focal=shared_focal).quality
    assert not quality.is_camera_view
    assert np.all(quality.behind_fraction > BEHIND_FATAL) and np.all(
        quality.relative_residual > RESIDUAL_FATAL
    )
    fatal = [p.message for p in quality.problems() if p.fatal]
    assert any("of points behind the cameras: not a camera's view" in m for m in fatal)
    assert any("from their pixels' rays (median): not a camera's view" in m for m in fatal)


def test_focal_conditioning_separates_views_from_noise(scene):
    """Relative standard error of the focal: ~1e-9 for an exact view, ~1e-3 with 1 % noise, large for
    noise (the cloud's fitted focal is arbitrary)."""
    exact = recover_cameras(scene.pointmaps).quality.focal_relative_error
    noisy = recover_cameras(add_noise(scene, 0.0, 0.0, seed=1, point_noise=0.01)).quality.focal_relative_error
    cloud = recover_cameras(noise_cloud(frames=8, height=32, width=40, seed=3)).quality.focal_relative_error
    assert exact.max() < 1e-6 and 1e-4 < noisy.max() < 0.01
    assert cloud.min() > 0.1 and np.all(cloud == cloud[0])  # shared focal: one figure for all frames
    assert np.isnan(recover_cameras(scene.pointmaps, iterations=0).quality.focal_relative_error).all()


def test_confidence_weights_the_quality_figures(scene):
    rng = np.random.default_rng(0)
    points = scene.pointmaps.astype(np.float64)
    back = rng.random(scene.depth.shape) < 0.3
    frames = np.nonzero(back)[0]
    points[back] = scene.o[frames] - (points[back] - scene.o[frames])  # on their rays, behind the camera
    trusted = recover_cameras(points.astype(np.float32)).quality
    assert not trusted.is_camera_view and np.all(trusted.behind_fraction > BEHIND_FATAL)
    doubted = recover_cameras(points.astype(np.float32), confidence=np.where(back, 0.01, 1.0)).quality
    assert doubted.problems() == [] and np.all(doubted.behind_fraction < 0.01)


def test_problems_read_the_thresholds():
    def quality(**figures):
        base = {
            "relative_residual": np.full(3, 0.01),
            "outlier_fraction": np.full(3, 0.05),
            "behind_fraction": np.zeros(3),
            "focal_relative_error": np.full(3, 1e-3),
            "focal_over_image": np.full(3, 0.9),
        }
        return RecoveryQuality(**{**base, **{k: np.asarray(v, dtype=float) for k, v in figures.items()}})

    assert quality().problems() == [] and quality().is_camera_view
    assert quality(focal_relative_error=[np.nan] * 3).problems() == []
    problems = quality(behind_fraction=[0.0, 0.05, 0.6]).problems()
    assert [(p.fatal, p.frames) for p in problems] == [(True, (2,)), (False, (1,))]
    assert problems[0].message == "60 % of points behind the cameras: not a camera's view (frame 2: 1 of 3)"
    assert problems[1].message == "5 % of points behind the cameras (frame 1: 1 of 3)"
    (problem,) = quality(focal_relative_error=[2 * FOCAL_ERROR_FATAL] * 3).problems()
    assert problem.fatal and "do not determine the focal length" in problem.message
    (problem,) = quality(focal_over_image=[-5.0] * 3).problems()
    assert problem.fatal and problem.message.startswith("negative focal length")
    (problem,) = quality(focal_over_image=[40.0] * 3).problems()
    assert not problem.fatal and "implausible focal length: 40 x the image size" in problem.message
    (problem,) = quality(relative_residual=[0.01, 0.2, 0.01]).problems()
    assert not problem.fatal and problem.message.startswith("noisy geometry")


# --- one4d-recover ---------------------------------------------------------------------------------------


def _run(tmp_path: Path, points: np.ndarray, *extra: str) -> tuple[int, Path]:
    np.save(tmp_path / "points.npy", points)
    out = tmp_path / "out"
    return main([str(tmp_path / "points.npy"), "--out", str(out), *extra]), out


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("mirrored", "100 % of points behind the cameras"), ("noise", "of points behind the cameras")],
)
def test_cli_refuses_geometry_that_is_no_camera_view(tmp_path, capsys, scene, kind, reason):
    points = mirrored(scene) if kind == "mirrored" else noise_cloud()
    code, out = _run(tmp_path, points)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"one4d-recover: error: {tmp_path / 'points.npy'}: ")
    assert reason in err and "not a camera's view" in err and "--keep-going" in err
    assert not (out / "trajectory.txt").exists()


def test_cli_keep_going_writes_and_warns(tmp_path, capsys, scene):
    code, out = _run(tmp_path, mirrored(scene), "--keep-going")
    err = capsys.readouterr().err
    assert code == 0
    assert (
        "one4d-recover: warning: 100 % of points behind the cameras: not a camera's view (all frames)" in err
    )
    assert (out / "trajectory.txt").is_file() and (out / "depth.npz").is_file()
    quality = json.loads((out / "intrinsics.json").read_text())["quality"]
    assert quality["is_camera_view"] is False and quality["behind_fraction"] == [1.0] * 8
    assert quality["problems"][0]["fatal"] is True


def test_cli_prints_the_per_frame_summary_and_no_warning_for_a_view(tmp_path, capsys, scene):
    code, out = _run(tmp_path, add_noise(scene, seed=1))
    err = capsys.readouterr().err
    assert code == 0 and "warning" not in err
    lines = err.splitlines()
    assert lines[0].split() == ["frame", "residual/scene", "outliers", "behind", "focal", "rel.", "error"]
    assert len(lines) == 1 + 8 + 1 and lines[-1].startswith("8 frames, focal 36.00 px")
    quality = json.loads((out / "intrinsics.json").read_text())["quality"]
    assert quality["is_camera_view"] is True and quality["problems"] == []
