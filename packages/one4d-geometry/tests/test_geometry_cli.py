import json

import numpy as np
import pytest
from one4d_geometry import read_tum, rotation_angle_deg
from one4d_geometry.cli import main
from one4d_geometry.synthetic import synthetic_scene


def test_cli_writes_trajectory_intrinsics_and_depth(tmp_path):
    scene = synthetic_scene(6, 32, 40, focal=36.0, seed=0)
    mask = np.ones(scene.depth.shape, bool)
    mask[:, :2] = False
    np.savez(tmp_path / "clip.npz", xyz=scene.pointmaps, valid=mask)
    out = tmp_path / "out"
    assert (
        main(
            [str(tmp_path / "clip.npz"), "--out", str(out), "--key", "xyz", "--mask", "valid", "--fps", "10"]
        )
        == 0
    )

    stamps, c2w = read_tum(out / "trajectory.txt")
    np.testing.assert_allclose(stamps, np.arange(6) / 10)
    assert rotation_angle_deg(np.swapaxes(c2w[:, :3, :3], 1, 2), scene.R).max() < 0.01
    np.testing.assert_allclose(c2w[:, :3, 3], scene.o, atol=1e-4)
    intrinsics = json.loads((out / "intrinsics.json").read_text())
    assert (intrinsics["width"], intrinsics["height"]) == (40, 32)
    np.testing.assert_allclose(intrinsics["fx"], 36.0, rtol=1e-3)
    np.testing.assert_allclose(intrinsics["cx"], 19.5)
    depth = np.load(out / "depth.npz")["depth"]
    assert depth.shape == (6, 32, 40) and np.isnan(depth[:, :2]).all()
    np.testing.assert_allclose(depth[:, 2:], scene.depth[:, 2:], rtol=1e-4)


def test_cli_npy_per_frame_focal_and_timestamp_file(tmp_path):
    scene = synthetic_scene(4, 24, 32, focal=np.array([20.0, 25.0, 30.0, 35.0]), seed=1)
    np.save(tmp_path / "points.npy", scene.pointmaps)
    (tmp_path / "stamps.txt").write_text("0.5\n1.5\n2.5\n3.5\n")
    out = tmp_path / "out"
    argv = [
        str(tmp_path / "points.npy"),
        "--out",
        str(out),
        "--per-frame-focal",
        "--timestamps",
        str(tmp_path / "stamps.txt"),
    ]
    assert main(argv) == 0
    np.testing.assert_allclose(read_tum(out / "trajectory.txt")[0], [0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(
        json.loads((out / "intrinsics.json").read_text())["fx"], [20, 25, 30, 35], rtol=1e-3
    )


def test_cli_reports_bad_input(tmp_path):
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 4, 4, 3)), b=np.zeros(3))
    with pytest.raises(SystemExit, match="choose the pointmaps with --key"):
        main([str(tmp_path / "two.npz"), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="has no array 'm'"):
        main([str(tmp_path / "two.npz"), "--out", str(tmp_path / "o"), "--key", "a", "--mask", "m"])
    with pytest.raises(SystemExit, match=r"shape \(N, H, W, 3\)"):
        main([str(tmp_path / "two.npz"), "--out", str(tmp_path / "o"), "--key", "b"])
    with pytest.raises(SystemExit, match="does not exist"):
        main([str(tmp_path / "missing.npy"), "--out", str(tmp_path / "o")])
