"""Camera metrics (ATE, RPE-trans, RPE-rot) checked against evo, the reference the protocol names."""

import copy
import functools
from pathlib import Path

import numpy as np
import pytest
from evo.core import metrics
from evo.core.geometry import GeometryException
from evo.core.trajectory import PosePath3D
from evo.main_ape import ape
from evo.main_rpe import rpe
from evo.tools import file_interface
from one4d_eval.camera import (
    DEGENERATE_SPREAD,
    CameraScores,
    align_trajectory,
    camera_scores,
    centre_spread,
    evaluate_tum_files,
    mean_camera_scores,
)
from one4d_geometry.rotations import axis_angle_to_matrix
from one4d_geometry.tum import write_tum

REL = 1e-9

REAL_PAIRS = [
    ("freiburg1_xyz-ORB_kf_mono.txt", "freiburg1_xyz-groundtruth.txt"),
    ("freiburg1_xyz-rgbdslam.txt", "freiburg1_xyz-groundtruth.txt"),
    ("fr2_desk_ORB_kf_mono.txt", "fr2_desk_groundtruth.txt"),
]


def poses_from(rotvecs: np.ndarray, positions: np.ndarray) -> np.ndarray:
    c2w = np.tile(np.eye(4), (len(positions), 1, 1))
    c2w[:, :3, :3] = axis_angle_to_matrix(rotvecs)
    c2w[:, :3, 3] = positions
    return c2w


def smooth_trajectory(rng: np.random.Generator, n: int) -> np.ndarray:
    """A hand-held-like camera path: sinusoidal position and orientation drifts."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    freq, phase = rng.uniform(0.5, 2.0, (2, 3)), rng.uniform(0, 2 * np.pi, (2, 3))
    positions = rng.uniform(0.3, 2.0, 3) * np.sin(2 * np.pi * freq[0] * t + phase[0])
    rotvecs = 0.4 * np.sin(2 * np.pi * freq[1] * t + phase[1])
    return poses_from(rotvecs, positions)


def random_sim3(rng: np.random.Generator, scale: float | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    scale = float(np.exp(rng.uniform(-2, 2))) if scale is None else scale
    return scale, axis_angle_to_matrix(rng.normal(size=3)), rng.normal(scale=3.0, size=3)


def transformed(poses: np.ndarray, scale: float, rot: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """The same camera path expressed in another Sim(3) frame (rotations stay rigid)."""
    out = poses.copy()
    out[:, :3, :3] = rot @ poses[:, :3, :3]
    out[:, :3, 3] = scale * poses[:, :3, 3] @ rot.T + trans
    return out


def noisy(rng: np.random.Generator, poses: np.ndarray, sigma_t: float, sigma_r: float) -> np.ndarray:
    out = poses.copy()
    out[:, :3, :3] = poses[:, :3, :3] @ axis_angle_to_matrix(rng.normal(scale=sigma_r, size=(len(poses), 3)))
    out[:, :3, 3] += rng.normal(scale=sigma_t, size=(len(poses), 3))
    return out


def evo_scores(reference, estimate, correct_scale: bool = True) -> CameraScores:
    """evo's own APE / RPE (delta 1 frame, consecutive pairs) after Umeyama alignment, as in the protocol."""
    relations = [metrics.PoseRelation.translation_part, metrics.PoseRelation.rotation_angle_deg]
    ate = ape(
        copy.deepcopy(reference),
        copy.deepcopy(estimate),
        metrics.PoseRelation.translation_part,
        align=True,
        correct_scale=correct_scale,
    ).stats["rmse"]
    rpe_trans, rpe_rot = (
        rpe(
            copy.deepcopy(reference),
            copy.deepcopy(estimate),
            relation,
            delta=1,
            delta_unit=metrics.Unit.frames,
            all_pairs=False,
            align=True,
            correct_scale=correct_scale,
        ).stats["rmse"]
        for relation in relations
    )
    return CameraScores(ate, rpe_trans, rpe_rot, estimate.num_poses)


def evo_scores_of_files(estimate_path: Path, reference_path: Path, max_diff: float) -> CameraScores:
    """The evo command line's path: read both files, reference.sync_with(estimate), then APE and RPE."""
    reference, estimate = _evo_read(reference_path).sync_with(_evo_read(estimate_path), max_diff=max_diff)
    return evo_scores(reference, estimate)


@functools.cache
def _evo_read(path: Path):
    return file_interface.read_tum_trajectory_file(path)


def assert_scores_match(ours: CameraScores, theirs: CameraScores) -> None:
    assert ours.num_poses == theirs.num_poses
    for field in ("ate", "rpe_trans", "rpe_rot"):
        assert getattr(ours, field) == pytest.approx(getattr(theirs, field), rel=REL), field


@pytest.mark.parametrize("correct_scale", [True, False])
@pytest.mark.parametrize("seed", range(3))
def test_matches_evo_on_synthetic_trajectories(seed, correct_scale):
    rng = np.random.default_rng(seed)
    reference = smooth_trajectory(rng, 60)
    scale = None if correct_scale else 1.0  # SE(3) evaluation is meant for metric-scale estimates
    estimate = noisy(rng, transformed(reference, *random_sim3(rng, scale)), sigma_t=0.03, sigma_r=0.02)
    ours = camera_scores(estimate, reference, correct_scale=correct_scale)
    theirs = evo_scores(
        PosePath3D(poses_se3=list(reference)), PosePath3D(poses_se3=list(estimate)), correct_scale
    )
    assert ours.ate > 1e-3 and ours.rpe_trans > 1e-3 and ours.rpe_rot > 0.1
    assert_scores_match(ours, theirs)


@pytest.mark.parametrize("max_diff", [0.01, 0.02])
@pytest.mark.parametrize(("estimate_name", "reference_name"), REAL_PAIRS)
def test_matches_evo_on_real_tum_trajectories(estimate_name, reference_name, max_diff, shared_data):
    folder = shared_data / "tum-trajectories"
    estimate_path, reference_path = folder / estimate_name, folder / reference_name
    ours = evaluate_tum_files(estimate_path, reference_path, max_difference=max_diff)
    assert_scores_match(ours, evo_scores_of_files(estimate_path, reference_path, max_diff))
    assert ours.ate < 0.02 and ours.rpe_trans < 0.02 and ours.rpe_rot < 1.0  # working SLAM: cm, sub-degree


def test_association_follows_evo_when_the_reference_is_the_shorter_file(tmp_path):
    """evo associates from the shorter trajectory; the pair order decides what the RPE calls consecutive."""
    rng = np.random.default_rng(7)
    dense_stamps = 100.0 + np.arange(90) / 30.0 + rng.uniform(-0.004, 0.004, 90)
    dense = smooth_trajectory(rng, 90)
    sparse_ids = np.sort(rng.choice(90, size=25, replace=False))
    sparse_stamps = dense_stamps[sparse_ids] + rng.uniform(-0.015, 0.015, 25)
    estimate = noisy(rng, transformed(dense, *random_sim3(rng)), sigma_t=0.02, sigma_r=0.01)
    estimate_path, reference_path = tmp_path / "estimate.txt", tmp_path / "reference.txt"
    write_tum(estimate_path, dense_stamps, estimate)
    write_tum(reference_path, sparse_stamps, dense[sparse_ids])
    for max_diff in (0.01, 0.02):
        ours = evaluate_tum_files(estimate_path, reference_path, max_difference=max_diff)
        assert 3 <= ours.num_poses <= 25
        assert_scores_match(ours, evo_scores_of_files(estimate_path, reference_path, max_diff))


@pytest.mark.parametrize("seed", range(4))
def test_a_sim3_copy_of_the_reference_scores_zero(seed):
    rng = np.random.default_rng(seed)
    reference = smooth_trajectory(rng, 40)
    scale, rot, trans = random_sim3(rng)
    estimate = transformed(reference, scale, rot, trans)
    scores = camera_scores(estimate, reference)
    assert scores.ate == pytest.approx(0.0, abs=1e-9)
    assert scores.rpe_trans == pytest.approx(0.0, abs=1e-9)
    assert scores.rpe_rot == pytest.approx(0.0, abs=1e-9)
    aligned, sim = align_trajectory(estimate, reference)
    np.testing.assert_allclose(aligned, reference, atol=1e-9)
    assert sim.scale == pytest.approx(1.0 / scale, rel=1e-9)
    np.testing.assert_allclose(sim.R, rot.T, atol=1e-9)


def test_without_scale_correction_a_scaled_estimate_is_penalised():
    rng = np.random.default_rng(11)
    reference = smooth_trajectory(rng, 40)
    estimate = transformed(reference, 2.0, *random_sim3(rng)[1:])
    rigid = camera_scores(estimate, reference, correct_scale=False)
    assert rigid.ate > 0.05 and rigid.rpe_trans > 0.01
    assert rigid.rpe_rot == pytest.approx(0.0, abs=1e-9)  # scale never changes relative rotations
    assert align_trajectory(estimate, reference, correct_scale=False)[1].scale == 1.0


def test_rpe_rot_is_the_rms_relative_angle_in_degrees_over_consecutive_pairs():
    """One camera turned 10 degrees in place spoils exactly the two pairs it belongs to."""
    rng = np.random.default_rng(3)
    reference = smooth_trajectory(rng, 21)
    estimate = reference.copy()
    estimate[10, :3, :3] = reference[10, :3, :3] @ axis_angle_to_matrix(np.radians([0.0, 10.0, 0.0]))
    scores = camera_scores(estimate, reference)
    assert scores.ate == pytest.approx(0.0, abs=1e-12)
    assert scores.rpe_rot == pytest.approx(np.sqrt(2 * 10.0**2 / 20), rel=1e-9)
    assert scores.num_poses == 21


def test_dataset_score_is_the_plain_mean_over_sequences():
    scores = [CameraScores(0.1, 0.02, 1.0, 10), CameraScores(0.3, 0.04, 3.0, 1000)]
    assert mean_camera_scores(scores) == CameraScores(0.2, 0.03, 2.0, 1010)
    assert mean_camera_scores(scores[:1]) == scores[0]
    with pytest.raises(ValueError, match="at least one sequence"):
        mean_camera_scores([])


def test_rejects_mismatched_short_or_invalid_trajectories():
    poses = smooth_trajectory(np.random.default_rng(0), 8)
    with pytest.raises(ValueError, match=r"estimate \(8, 4, 4\) and reference \(7, 4, 4\)"):
        camera_scores(poses, poses[:7])
    with pytest.raises(ValueError, match=r"N >= 3.*\(2, 4, 4\)"):
        camera_scores(poses[:2], poses[:2])
    with pytest.raises(ValueError, match=r"reference_c2w must have shape \(N, 4, 4\), got \(8, 3, 4\)"):
        camera_scores(poses, poses[:, :3])
    bad = poses.copy()
    bad[3, 0, 3] = np.nan
    with pytest.raises(ValueError, match="estimate_c2w contains non-finite"):
        camera_scores(bad, poses)
    scaled = poses.copy()
    scaled[:, :3, :3] *= 2.0
    with pytest.raises(ValueError, match="estimate_c2w: rotation parts must be proper rotations"):
        camera_scores(scaled, poses)


def test_files_that_do_not_associate_name_both_files(tmp_path):
    poses = smooth_trajectory(np.random.default_rng(0), 10)
    stamps = 50.0 + np.arange(10) / 30.0
    write_tum(tmp_path / "est.txt", stamps, poses)
    write_tum(tmp_path / "gt.txt", stamps + 100.0, poses)  # e.g. a clock offset between the recordings
    with pytest.raises(ValueError, match=r"only 0 poses of .*est\.txt .* associate with .*gt\.txt"):
        evaluate_tum_files(tmp_path / "est.txt", tmp_path / "gt.txt")


def test_an_estimate_whose_cameras_do_not_move_is_refused_under_sim3():
    """Coincident centres leave the Sim(3) scale undefined (evo refuses them; a fallback scale of 1 would
    score the reference's own spread); under SE(3) a static estimate is a claim about metric motion."""
    rng = np.random.default_rng(5)
    reference = smooth_trajectory(rng, 30)
    frozen = noisy(rng, reference, sigma_t=0.0, sigma_r=0.05)
    frozen[:, :3, 3] = reference[0, :3, 3] + [3.0, -1.0, 2.0]
    assert centre_spread(frozen) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match=r"estimated camera centres do not move .*Sim\(3\)"):
        camera_scores(frozen, reference)
    with pytest.raises(ValueError, match="do not move"):
        align_trajectory(frozen, reference)
    jitter = frozen.copy()
    jitter[:, :3, 3] += rng.normal(scale=1e-3 * DEGENERATE_SPREAD * centre_spread(reference), size=(30, 3))
    with pytest.raises(ValueError, match="do not move"):
        camera_scores(jitter, reference)  # rounding-level motion is no motion
    with pytest.raises(GeometryException, match="Degenerate covariance rank"):  # evo agrees
        evo_scores(PosePath3D(poses_se3=list(reference)), PosePath3D(poses_se3=list(frozen)))
    static = camera_scores(frozen, reference, correct_scale=False)
    assert static.ate > 0.1  # the reference's own motion, counted as error: right for a metric estimate
    tiny = transformed(reference, 1e-4, np.eye(3), np.zeros(3))  # any real scale is fine
    assert camera_scores(tiny, reference).ate == pytest.approx(0.0, abs=1e-9)
