"""Evaluation formats (Sintel, TUM, Bonn) and the folder format, on files written in their exact layout."""

import struct

import numpy as np
import pytest
from one4d_data.cameras import unproject_to_world
from one4d_data.errors import DataError
from one4d_data.files import write_png16
from one4d_data.readers import load_sequence, open_sequence, write_folder
from one4d_data.readers.sintel import read_dpt, write_cam, write_dpt
from one4d_data.readers.tum import associate, read_tum_trajectory
from one4d_data.synthetic import make_clip
from one4d_geometry.cameras import invert_pose
from PIL import Image
from scipy.spatial.transform import Rotation


def _check_lifted(clip):
    lifted = clip.lifted()
    np.testing.assert_allclose(lifted.c2w[0], np.eye(4), atol=1e-9)
    expected = unproject_to_world(lifted.depth, lifted.K, lifted.c2w)
    np.testing.assert_allclose(lifted.pointmaps, expected, atol=1e-5, equal_nan=True)
    return lifted


def _write_sintel(root, seq, clip):
    for sub in ("final", "depth", "camdata_left"):
        (root / "training" / sub / seq).mkdir(parents=True)
    for i in range(clip.num_frames):
        name = f"frame_{i + 1:04d}"
        Image.fromarray(clip.rgb[i]).save(root / "training" / "final" / seq / f"{name}.png")
        write_dpt(root / "training" / "depth" / seq / f"{name}.dpt", np.nan_to_num(clip.depth[i], nan=0.0))
        write_cam(
            root / "training" / "camdata_left" / seq / f"{name}.cam", clip.K[i], invert_pose(clip.c2w[i])[:3]
        )


def test_sintel_reads_depth_cameras_and_frames(tmp_path):
    clip = make_clip(0, 4, 24, 32, scene="room")
    _write_sintel(tmp_path, "alley_2", clip)
    seq = load_sequence("sintel", tmp_path, sequence="alley_2")
    np.testing.assert_array_equal(seq.rgb, clip.rgb)
    np.testing.assert_array_equal(seq.depth, clip.depth)
    np.testing.assert_allclose(seq.K, clip.K)
    np.testing.assert_allclose(seq.c2w, clip.c2w, atol=1e-12)
    lifted = _check_lifted(seq)
    np.testing.assert_allclose(lifted.pointmaps, clip.pointmaps, atol=1e-5)


def test_sintel_bad_files_raise_with_file_name(tmp_path):
    path = tmp_path / "x.dpt"
    path.write_bytes(struct.pack("<fii", 1.0, 2, 2) + b"\0" * 16)
    with pytest.raises(DataError, match=r"x\.dpt: bad \.dpt tag"):
        read_dpt(path)
    write_dpt(path, np.ones((3, 4), np.float32))
    path.write_bytes(path.read_bytes()[:-4])
    with pytest.raises(DataError, match=r"x\.dpt: truncated \.dpt"):
        read_dpt(path)
    with pytest.raises(DataError, match="file not found"):
        read_dpt(tmp_path / "missing.dpt")
    clip = make_clip(0, 3, 8, 8)
    _write_sintel(tmp_path, "s", clip)
    (tmp_path / "training" / "depth" / "s" / "frame_0003.dpt").unlink()
    with pytest.raises(DataError, match="mismatched frame counts: images=3, depths=2, cameras=3"):
        load_sequence("sintel", tmp_path, sequence="s")


def _write_tum(root, clip, rgb_times, depth_times, pose_times, poses):
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rgb_lines, depth_lines = ["# color images"], ["# depth maps"]
    for i, (tr, td) in enumerate(zip(rgb_times, depth_times, strict=True)):
        Image.fromarray(clip.rgb[i]).save(root / "rgb" / f"{tr:.6f}.png")
        raw = np.round(np.nan_to_num(clip.depth[i], nan=0.0) * 5000).astype(np.uint16)
        write_png16(root / "depth" / f"{td:.6f}.png", raw)
        rgb_lines.append(f"{tr:.6f} rgb/{tr:.6f}.png")
        depth_lines.append(f"{td:.6f} depth/{td:.6f}.png")
    (root / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")
    (root / "depth.txt").write_text("\n".join(depth_lines) + "\n")
    quats = Rotation.from_matrix(poses[:, :3, :3]).as_quat()  # x y z w
    lines = ["# timestamp tx ty tz qx qy qz qw"]
    lines += [
        " ".join(f"{v:.9f}" for v in [t, *p[:3, 3], *q])
        for t, p, q in zip(pose_times, poses, quats, strict=True)
    ]
    (root / "groundtruth.txt").write_text("\n".join(lines) + "\n")


def test_tum_associates_within_tolerance_and_reads_depth(tmp_path):
    clip = make_clip(2, 5, 24, 32, scene="room")
    rgb_t = 100.0 + np.arange(5) / 30.0
    depth_t = rgb_t + np.array([0.004, -0.01, 0.03, 0.0, 0.015])  # frame 2 is too far from its depth
    pose_t = rgb_t + 0.005
    _write_tum(tmp_path / "rgbd_dataset_freiburg3_walking_xyz", clip, rgb_t, depth_t, pose_t, clip.c2w)
    seq = load_sequence("tum", tmp_path / "rgbd_dataset_freiburg3_walking_xyz")
    keep = [0, 1, 3, 4]
    np.testing.assert_allclose(seq.timestamps, rgb_t[keep])
    np.testing.assert_array_equal(seq.rgb, clip.rgb[keep])
    # 16-bit PNG / 5000 quantizes depth to 0.2 mm.
    np.testing.assert_allclose(seq.depth, clip.depth[keep], atol=1.01e-4)
    np.testing.assert_allclose(seq.c2w, clip.c2w[keep], atol=1e-6)
    np.testing.assert_allclose(seq.K[0], [[535.4, 0, 320.1], [0, 539.2, 247.6], [0, 0, 1]])
    _check_lifted(seq)
    sliced = load_sequence("tum", tmp_path / "rgbd_dataset_freiburg3_walking_xyz", frames=slice(0, 4, 2))
    np.testing.assert_allclose(sliced.timestamps, rgb_t[[0, 3]])


def test_bonn_defaults_to_evaluation_slice(tmp_path):
    clip = make_clip(3, 1, 8, 8)
    n = 150
    times = 10.0 + np.arange(n) / 30.0
    frames = clip.select(np.zeros(n, dtype=int))
    _write_tum(tmp_path / "bonn", frames, times, times, times, np.repeat(np.eye(4)[None], n, 0))
    seq = open_sequence("bonn", tmp_path / "bonn")
    assert len(seq) == 110
    np.testing.assert_allclose(seq.timestamps[[0, -1]], times[[30, 139]])
    full = open_sequence("bonn", tmp_path / "bonn", frames=None)
    assert len(full) == n


def test_tum_association_matches_greedy_nearest_rule():
    a = np.array([0.0, 1.0, 2.0, 3.0])
    b = np.array([0.015, 0.99, 1.01, 3.5])
    assert associate(a, b, 0.02) == [(0, 0), (1, 1)]


def test_tum_trajectory_with_non_unit_or_bad_quaternions(tmp_path):
    path = tmp_path / "traj.txt"
    path.write_text("# c\n1.0 0 0 0 0 0 0 2\n2.0 1 2 3 0 0 0.7071068 0.7071068\n")
    stamps, poses = read_tum_trajectory(path)
    np.testing.assert_allclose(poses[0], np.eye(4))
    np.testing.assert_allclose(poses[1, :3, 3], [1, 2, 3])
    path.write_text("1.0 0 0 0 0 0 0 0\n")
    with pytest.raises(DataError, match="traj.txt"):
        read_tum_trajectory(path)


@pytest.mark.parametrize("depth_format", ["npy", "png"])
def test_folder_round_trip(tmp_path, depth_format):
    clip = make_clip(6, 5, 32, 48)
    write_folder(clip, tmp_path / "seq", depth_format=depth_format, depth_scale=1000.0)
    seq = load_sequence("folder", tmp_path / "seq")
    np.testing.assert_array_equal(seq.rgb, clip.rgb)
    atol = 0 if depth_format == "npy" else 5e-4
    np.testing.assert_allclose(seq.depth, clip.depth, atol=atol, equal_nan=True)
    np.testing.assert_allclose(seq.c2w, clip.c2w, atol=1e-12)
    np.testing.assert_allclose(seq.timestamps, clip.timestamps)
    assert seq.caption == clip.caption
    lifted = _check_lifted(seq)
    np.testing.assert_allclose(lifted.pointmaps, clip.pointmaps, atol=0.02, equal_nan=True)


def test_folder_bad_data_errors(tmp_path):
    clip = make_clip(1, 3, 16, 16)
    root = write_folder(clip, tmp_path / "a")
    np.save(root / "depth" / "000001.npy", np.zeros((8, 16), np.float32))
    with pytest.raises(DataError, match=r"000001\.npy: depth has shape \(8, 16\), expected \(16, 16\)"):
        load_sequence("folder", root)
    root = write_folder(clip, tmp_path / "b")
    (root / "depth" / "000002.npy").unlink()
    with pytest.raises(DataError, match="mismatched frame counts"):
        load_sequence("folder", root)
    root = write_folder(clip, tmp_path / "c")
    meta = (root / "cameras.json").read_text().replace("[1.0, 0.0, 0.0, 0.0]", "[2.0, 0.0, 0.0, 0.0]", 1)
    (root / "cameras.json").write_text(meta)
    with pytest.raises(DataError, match="is not a rotation"):
        load_sequence("folder", root)
    root = write_folder(clip, tmp_path / "d")
    (root / "depth" / "000000.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(DataError, match=r"000000\.npy: unreadable"):
        load_sequence("folder", root)
    with pytest.raises(ValueError, match="unknown format"):
        load_sequence("kitti", root)
