"""Readers on real frames from ../shared/data (ICL-NUIM RGB-D with poses, one TUM Kinect frame)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from one4d_data.cameras import unproject_to_world
from one4d_data.dataset import ClipDataset
from one4d_data.files import read_png16, write_png16
from one4d_data.readers import load_sequence, open_sequence
from one4d_geometry.cameras import invert_pose
from PIL import Image
from scipy.spatial.transform import Rotation


def read_redwood_log(path: Path) -> np.ndarray:
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return np.array(
        [[[float(v) for v in row] for row in lines[i + 1 : i + 5]] for i in range(0, len(lines), 5)]
    )


@pytest.fixture(scope="module")
def icl_folder(tmp_path_factory, shared_data):
    """The ICL-NUIM frames converted to our folder format (depth PNG in millimetres, scale 1000)."""
    icl = shared_data / "icl-nuim-rgbd"
    root = tmp_path_factory.mktemp("icl")
    shutil.copytree(icl / "color", root / "rgb")
    shutil.copytree(icl / "depth", root / "depth")
    K = np.array(json.loads((icl / "camera_primesense.json").read_text())["intrinsic_matrix"]).reshape(3, 3).T
    poses = read_redwood_log(icl / "odometry.log")
    meta = {"K": K.tolist(), "depth_scale": 1000.0, "frames": [{"c2w": p.tolist()} for p in poses]}
    (root / "cameras.json").write_text(json.dumps(meta))
    return root


def test_icl_pointmaps_agree_across_frames(icl_folder):
    clip = load_sequence("folder", icl_folder)
    assert clip.rgb.shape == (5, 480, 640, 3)
    np.testing.assert_allclose(clip.K[0], [[525, 0, 319.5], [0, 525, 239.5], [0, 0, 1]])
    lifted = clip.lifted()
    np.testing.assert_allclose(lifted.c2w[0], np.eye(4), atol=1e-12)
    np.testing.assert_allclose(
        lifted.pointmaps, unproject_to_world(lifted.depth, lifted.K, lifted.c2w), atol=1e-5, equal_nan=True
    )
    # Frame 0's points, projected into frame 4, land where frame 4 sees the same depth (to about 5 mm).
    pts = lifted.pointmaps[0][lifted.valid[0]][::37]
    w2c = invert_pose(lifted.c2w[4])
    cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
    uv = cam @ lifted.K[4].T
    u, v = np.round(uv[:, 0] / uv[:, 2]).astype(int), np.round(uv[:, 1] / uv[:, 2]).astype(int)
    inside = (u >= 0) & (u < 640) & (v >= 0) & (v < 480)
    seen = lifted.depth[4][v[inside], u[inside]]
    diff = np.abs(seen - cam[inside, 2])
    assert inside.sum() > 1000
    assert np.nanmedian(diff) < 0.01


def test_icl_frames_in_pointodyssey_and_tartanair_layouts(icl_folder, tmp_path):
    """The same real frames written as PointOdyssey and TartanAir give the same geometry."""
    clip = load_sequence("folder", icl_folder).select([0, 2, 4])
    po = tmp_path / "po"
    (po / "rgbs").mkdir(parents=True)
    (po / "depths").mkdir()
    ta = tmp_path / "ta"
    (ta / "image_left").mkdir(parents=True)
    (ta / "depth_left").mkdir()
    P = np.array([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]])
    lines = []
    for i in range(3):
        depth = np.nan_to_num(clip.depth[i], nan=0.0)
        Image.fromarray(clip.rgb[i]).save(po / "rgbs" / f"rgb_{i:05d}.jpg")
        write_png16(po / "depths" / f"depth_{i:05d}.png", np.round(depth / 1000 * 65535).astype(np.uint16))
        Image.fromarray(clip.rgb[i]).save(ta / "image_left" / f"{i:06d}_left.png")
        np.save(ta / "depth_left" / f"{i:06d}_left_depth.npy", depth.astype(np.float32))
        quat = Rotation.from_matrix(P.T @ clip.c2w[i, :3, :3] @ P).as_quat()
        lines.append(" ".join(f"{x:.10f}" for x in [*(P.T @ clip.c2w[i, :3, 3]), *quat]))
    np.savez(po / "anno.npz", intrinsics=clip.K, extrinsics=invert_pose(clip.c2w))
    (ta / "pose_left.txt").write_text("\n".join(lines))
    reference = clip.lifted()
    for fmt, path, atol in (("pointodyssey", po, 0.02), ("tartanair", ta, 1e-5)):
        lifted = open_sequence(fmt, path).read_all().lifted()
        # The log's 6-digit rotations are not exactly orthonormal; quaternions make them so.
        np.testing.assert_allclose(lifted.c2w, reference.c2w, atol=1e-5)
        np.testing.assert_allclose(lifted.depth, reference.depth, atol=atol, equal_nan=True)
        if fmt == "pointodyssey":
            np.testing.assert_allclose(
                lifted.pointmaps, reference.pointmaps, atol=0.02 * 3, equal_nan=True
            )  # 1.5 cm depth steps


def test_icl_dataset_items(icl_folder):
    clip = load_sequence("folder", icl_folder)
    item = ClipDataset([clip], num_frames=5, height=64, width=96)[0]
    assert item["xyz"].shape == (3, 5, 64, 96)
    assert item["xyz_valid"].float().mean() > 0.9
    assert item["xyz"].abs().max() <= 1.0


def test_real_tum_frame(tmp_path, shared_data):
    frame = shared_data / "tum-frame"
    root = tmp_path / "rgbd_dataset_freiburg1_xyz"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    shutil.copy(frame / "TUM_color.png", root / "rgb" / "1.000000.png")
    shutil.copy(frame / "TUM_depth.png", root / "depth" / "1.010000.png")
    (root / "rgb.txt").write_text("# rgb\n1.000000 rgb/1.000000.png\n")
    (root / "depth.txt").write_text("# depth\n1.010000 depth/1.010000.png\n")
    (root / "groundtruth.txt").write_text("# gt\n0.995 0.1 0.2 0.3 0 0 0 1\n")
    clip = load_sequence("tum", root)
    raw = read_png16(frame / "TUM_depth.png")
    assert clip.rgb.shape == (1, 480, 640, 3)
    np.testing.assert_allclose(clip.K[0], [[517.3, 0, 318.6], [0, 516.5, 255.3], [0, 0, 1]])
    np.testing.assert_array_equal(np.isnan(clip.depth[0]), raw == 0)
    np.testing.assert_allclose(clip.depth[0][raw > 0], raw[raw > 0] / 5000.0, rtol=1e-6)
    depth_ok = clip.depth[0][raw > 0]
    assert 0.3 < np.median(depth_ok) < 5.0  # a Kinect indoor scene
    lifted = clip.lifted()
    assert np.isnan(lifted.pointmaps[0][raw == 0]).all()
    np.testing.assert_allclose(lifted.pointmaps[0][..., 2][raw > 0], depth_ok, rtol=1e-6)
    # Depth 20 ms from the RGB frame is outside the 0.02 s association window.
    (root / "depth.txt").write_text("1.020000 depth/1.010000.png\n")
    with pytest.raises(Exception, match="within 0.02 s"):
        load_sequence("tum", root)
