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


def _one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("one4d-recover: error: "), err
    assert "Traceback" not in err
    return err


def test_cli_reports_bad_input_in_one_line_naming_the_file(tmp_path, capsys):
    out = str(tmp_path / "o")
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 4, 4, 3)), b=np.zeros(3))
    assert "choose the pointmaps with --key" in _one_line_error(
        capsys, main([str(tmp_path / "two.npz"), "--out", out])
    )
    code = main([str(tmp_path / "two.npz"), "--out", out, "--key", "a", "--mask", "m"])
    assert "has no array 'm'" in _one_line_error(capsys, code)
    code = main([str(tmp_path / "two.npz"), "--out", out, "--key", "b"])
    assert "shape (N, H, W, 3)" in _one_line_error(capsys, code)
    assert "missing.npy: no such file" in _one_line_error(
        capsys, main([str(tmp_path / "missing.npy"), "--out", out])
    )
    # A PLY or a text file renamed to .npz, an empty .npz, an object array.
    (tmp_path / "cloud.npz").write_bytes(b"ply\nformat binary_little_endian 1.0\nend_header\n")
    (tmp_path / "notes.npz").write_text("hello")
    (tmp_path / "empty.npz").write_bytes(b"")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    for name in ("cloud.npz", "notes.npz", "empty.npz"):
        message = _one_line_error(capsys, main([str(tmp_path / name), "--out", out]))
        assert f"{name}: not a readable .npz file" in message
    message = _one_line_error(capsys, main([str(tmp_path / "objects.npy"), "--out", out]))
    assert "objects.npy: holds Python objects" in message and "allow_pickle" not in message


def test_cli_reports_bad_outputs_and_timestamps_in_one_line(tmp_path, capsys, monkeypatch):
    scene = synthetic_scene(3, 16, 20, focal=20.0, seed=1)
    np.save(tmp_path / "points.npy", scene.pointmaps)
    (tmp_path / "taken").write_text("a file")
    message = _one_line_error(capsys, main([str(tmp_path / "points.npy"), "--out", str(tmp_path / "taken")]))
    assert "taken: exists and is not a folder" in message
    code = main(
        [str(tmp_path / "points.npy"), "--out", str(tmp_path / "o"), "--timestamps", str(tmp_path / "t.txt")]
    )
    assert "t.txt: no such timestamps file" in _one_line_error(capsys, code)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "locked"))

    monkeypatch.setattr("pathlib.Path.mkdir", refuse)  # root ignores chmod: simulate the folder's refusal
    code = main([str(tmp_path / "points.npy"), "--out", str(tmp_path / "locked")])
    assert "locked: Permission denied" in _one_line_error(capsys, code)


def test_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    scene = synthetic_scene(3, 16, 20, focal=20.0, seed=1)
    np.save(tmp_path / "points.npy", scene.pointmaps)

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("one4d_geometry.cli.recover_cameras", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main([str(tmp_path / "points.npy"), "--out", str(tmp_path / "o")])


def test_outputs_are_marked_complete_only_at_the_end(tmp_path, monkeypatch):
    from one4d_geometry.files import check_complete

    scene = synthetic_scene(3, 16, 20, focal=20.0, seed=1)
    np.save(tmp_path / "points.npy", scene.pointmaps)
    out = tmp_path / "o"
    assert main([str(tmp_path / "points.npy"), "--out", str(out)]) == 0
    assert check_complete(out)

    # An interrupted rerun (killed while writing depth) leaves a folder no reader trusts, old files or not.
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("one4d_geometry.recovery_files.atomic_savez", killed)
    with pytest.raises(KeyboardInterrupt):
        main([str(tmp_path / "points.npy"), "--out", str(out)])
    with pytest.raises(ValueError, match="incomplete output"):
        check_complete(out)
    assert not list(out.glob("*.partial*"))
