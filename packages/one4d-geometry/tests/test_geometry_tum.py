import numpy as np
import pytest
from one4d_geometry import (
    associate_timestamps,
    ate_rmse,
    axis_angle_to_matrix,
    extrinsics_to_c2w,
    read_tum,
    write_tum,
)


def test_write_then_read_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    c2w = extrinsics_to_c2w(axis_angle_to_matrix(rng.normal(size=(6, 3))), rng.normal(size=(6, 3)))
    stamps = 1305031102.0 + np.arange(6) / 30.0
    path = tmp_path / "traj.txt"
    write_tum(path, stamps, c2w, header="test")
    assert path.read_text().startswith("# test\n# timestamp tx ty tz qx qy qz qw\n")
    read_stamps, read_c2w = read_tum(path)
    np.testing.assert_allclose(read_stamps, stamps, atol=1e-6)
    np.testing.assert_allclose(read_c2w, c2w, atol=1e-8)


def test_reads_the_real_tum_files_as_camera_to_world(shared_data):
    folder = shared_data / "tum-trajectories"
    stamps, poses = read_tum(folder / "freiburg1_xyz-groundtruth.txt")
    assert stamps.shape == (3000,) and poses.shape == (3000, 4, 4)
    assert np.all(np.diff(stamps) > 0)
    np.testing.assert_allclose(poses[0, :3, 3], [1.3563, 0.6305, 1.6380])  # first data line
    rot = poses[:, :3, :3]
    np.testing.assert_allclose(rot @ np.swapaxes(rot, 1, 2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-9)
    assert read_tum(folder / "freiburg1_xyz-ORB_kf_mono.txt")[1].shape == (32, 4, 4)
    assert read_tum(folder / "fr2_desk_ORB_kf_mono.txt")[1].shape == (157, 4, 4)


def test_real_estimate_associates_and_aligns_to_ground_truth(shared_data):
    folder = shared_data / "tum-trajectories"
    gt_stamps, gt = read_tum(folder / "freiburg1_xyz-groundtruth.txt")
    est_stamps, est = read_tum(folder / "freiburg1_xyz-rgbdslam.txt")
    idx_est, idx_gt = associate_timestamps(est_stamps, gt_stamps, max_difference=0.01)
    assert len(idx_est) > 0.9 * len(est_stamps)
    assert np.all(np.abs(est_stamps[idx_est] - gt_stamps[idx_gt]) <= 0.01)
    error = ate_rmse(est[idx_est, :3, 3], gt[idx_gt, :3, 3])
    motion = np.linalg.norm(gt[idx_gt, :3, 3] - gt[idx_gt, :3, 3].mean(0), axis=1).mean()
    assert error < 0.2 * motion  # a working SLAM system: centimetres on a decimetre-scale motion
    # the monocular estimate has an arbitrary scale: Sim(3) alignment is much better than SE(3)
    mono_stamps, mono = read_tum(folder / "freiburg1_xyz-ORB_kf_mono.txt")
    i_m, i_g = associate_timestamps(mono_stamps, gt_stamps, 0.01)
    sim3 = ate_rmse(mono[i_m, :3, 3], gt[i_g, :3, 3])
    assert sim3 < 0.5 * ate_rmse(mono[i_m, :3, 3], gt[i_g, :3, 3], with_scale=False)


def test_association_picks_the_nearest_within_the_limit():
    a = np.array([0.0, 1.0, 2.0, 3.0])
    b = np.array([2.004, 0.03, 0.995, 3.2])
    idx_a, idx_b = associate_timestamps(a, b, max_difference=0.01)
    np.testing.assert_array_equal(idx_a, [1, 2])
    np.testing.assert_array_equal(idx_b, [2, 0])
    assert len(associate_timestamps(a, np.array([]))[0]) == 0


def test_bad_files_raise_errors_naming_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("# comment\n1.0 0 0 0 0 0 0 1\n2.0 0 0 0 0 0 1\n")
    with pytest.raises(ValueError, match=r"bad.txt:3: expected 8 fields"):
        read_tum(path)
    path.write_text("# only comments\n")
    with pytest.raises(ValueError, match="no poses"):
        read_tum(path)
    with pytest.raises(ValueError, match="timestamps must have shape"):
        write_tum(path, np.zeros(2), np.tile(np.eye(4), (3, 1, 1)))
