"""Benchmarks of the protocol scored from prediction folders, on small fake copies of the datasets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from one4d_data.errors import DataError
from one4d_data.files import write_png16
from one4d_data.readers.sintel import write_cam, write_dpt
from one4d_eval import cli
from one4d_eval.camera import camera_scores, mean_camera_scores
from one4d_eval.depth import aggregate_depth, evaluate_depth_sequence
from one4d_eval.protocols import BENCHMARKS, get_benchmark, ground_truth_depth, ground_truth_trajectory
from one4d_eval.runner import PredictionError, evaluate_benchmark
from one4d_geometry.cameras import invert_pose
from one4d_geometry.errors import One4DError
from one4d_geometry.files import begin_outputs, finish_outputs
from one4d_geometry.tum import read_tum, write_tum
from PIL import Image
from scipy.spatial.transform import Rotation

H, W = 12, 16


def _trajectory(n: int, seed: int) -> np.ndarray:
    """A smooth camera-to-world path."""
    t = np.linspace(0, 1, n)
    rng = np.random.default_rng(seed)
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, :3, :3] = Rotation.from_rotvec(np.outer(t, rng.normal(size=3) * 0.5)).as_matrix()
    c2w[:, :3, 3] = np.stack([np.sin(2 * t), t, 0.3 * np.cos(3 * t)], axis=1) + rng.normal(size=3)
    return c2w


def _depth(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W]
    return np.stack([2 + 0.1 * xx + 0.05 * yy + rng.uniform(0, 3) for _ in range(n)]).astype(np.float32)


def write_sintel(root, sequence: str, n: int, seed: int):
    depth, c2w = _depth(n, seed), _trajectory(n, seed)
    depth[0, 0, 0] = 80.0  # beyond the protocol's 70 m: not a valid pixel
    for sub in ("final", "depth", "camdata_left"):
        (root / "training" / sub / sequence).mkdir(parents=True)
    K = np.array([[20.0, 0, W / 2], [0, 20.0, H / 2], [0, 0, 1]])
    for i in range(n):
        name = f"frame_{i + 1:04d}"
        Image.new("RGB", (W, H)).save(root / "training" / "final" / sequence / f"{name}.png")
        write_dpt(root / "training" / "depth" / sequence / f"{name}.dpt", depth[i])
        write_cam(root / "training" / "camdata_left" / sequence / f"{name}.cam", K, invert_pose(c2w[i])[:3])
    return depth, c2w


def write_tum_folder(folder, n: int, seed: int):
    """A TUM-layout sequence: RGB at 30 Hz, depth 1 ms later, mocap poses at 100 Hz."""
    folder.mkdir(parents=True)
    (folder / "depth").mkdir()
    rgb_t = 1000.0 + np.arange(n) / 30.0
    depth = _depth(n, seed)
    rgb_lines, depth_lines = [], []
    for i, t in enumerate(rgb_t):
        rgb_lines.append(f"{t:.6f} rgb/{i:05d}.png")
        depth_lines.append(f"{t + 0.001:.6f} depth/{i:05d}.png")
        write_png16(folder / "depth" / f"{i:05d}.png", np.round(depth[i] * 5000).astype(np.uint16))
    (folder / "rgb.txt").write_text("# rgb\n" + "\n".join(rgb_lines) + "\n")
    (folder / "depth.txt").write_text("# depth\n" + "\n".join(depth_lines) + "\n")
    pose_t = np.arange(rgb_t[0] - 0.1, rgb_t[-1] + 0.1, 0.01)
    write_tum(folder / "groundtruth.txt", pose_t, _trajectory(len(pose_t), seed))
    return depth


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    sintel = {s: write_sintel(root / "sintel", s, 6 + k, k) for k, s in enumerate(("alley_2", "market_5"))}
    write_tum_folder(root / "bonn" / "rgbd_bonn_balloon2", 150, 3)
    write_tum_folder(root / "tum" / "rgbd_dataset_freiburg3_walking_xyz", 280, 4)
    return root, sintel


def test_the_protocol_as_the_papers_report_it():
    assert len(BENCHMARKS["sintel-depth"].sequences) == 23
    assert len(BENCHMARKS["sintel-camera"].sequences) == 14
    assert set(BENCHMARKS["sintel-camera"].sequences) < set(BENCHMARKS["sintel-depth"].sequences)
    assert BENCHMARKS["bonn-depth"].sequences == (
        "balloon2",
        "crowd2",
        "crowd3",
        "person_tracking2",
        "synchronous",
    )
    assert len(BENCHMARKS["tum-camera"].sequences) == 8
    assert BENCHMARKS["sintel-depth"].clip_max == 70 and BENCHMARKS["bonn-depth"].clip_max is None
    with pytest.raises(ValueError, match="unknown benchmark 'kitti-depth'"):
        get_benchmark("kitti-depth")


def test_ground_truth_frames_follow_the_protocol(datasets):
    root, sintel = datasets
    depth, c2w = sintel["alley_2"]
    np.testing.assert_allclose(
        ground_truth_depth(BENCHMARKS["sintel-depth"], root / "sintel", "alley_2"), depth
    )
    np.testing.assert_allclose(
        ground_truth_trajectory(BENCHMARKS["sintel-camera"], root / "sintel", "alley_2"), c2w, atol=1e-9
    )
    bonn = ground_truth_depth(BENCHMARKS["bonn-depth"], root / "bonn", "balloon2")
    assert bonn.shape == (110, H, W)  # frames 30..139
    np.testing.assert_allclose(bonn[0], _depth(150, 3)[30], atol=1e-4)
    tum = ground_truth_trajectory(BENCHMARKS["tum-camera"], root / "tum", "walking_xyz")
    assert tum.shape == (90, 4, 4)  # every 3rd of the first 270 frames


def _write_prediction(pred, sequence, depth=None, c2w=None):
    (pred / sequence).mkdir(parents=True, exist_ok=True)
    if depth is not None:
        np.savez(pred / sequence / "depth.npz", depth=depth)
    if c2w is not None:
        write_tum(pred / sequence / "trajectory.txt", np.arange(len(c2w), dtype=float), c2w)


def test_depth_benchmark_scores_equal_the_metric_functions(datasets, tmp_path):
    root, sintel = datasets
    rng = np.random.default_rng(0)
    exact, noisy = tmp_path / "exact", tmp_path / "noisy"
    per_sequence = []
    for sequence, (depth, _) in sintel.items():
        _write_prediction(exact, sequence, depth=(depth - 0.5) / 3.0)  # an affine map of the truth
        guess = depth * rng.uniform(0.8, 1.2, depth.shape)
        _write_prediction(noisy, sequence, depth=guess)
        per_sequence.append(evaluate_depth_sequence(guess, depth, max_depth=70.0, clip_max=70.0))
    seqs = list(sintel)
    perfect = evaluate_benchmark("sintel-depth", root / "sintel", exact, sequences=seqs)
    assert perfect.overall.abs_rel < 1e-6 and perfect.overall.delta_1_25 == 1.0
    assert perfect.sequences[0].alignment["scale"] == pytest.approx(3.0, rel=1e-6)
    assert perfect.overall.valid_pixels == sum(d.size for d, _ in sintel.values()) - 2  # the 80 m pixels
    scored = evaluate_benchmark("sintel-depth", root / "sintel", noisy, sequences=seqs)
    expected = aggregate_depth(per_sequence)
    assert scored.overall.abs_rel == pytest.approx(expected.abs_rel, rel=1e-9)
    assert scored.overall.delta_1_25 == pytest.approx(expected.delta_1_25, rel=1e-9)
    assert 0.01 < scored.overall.abs_rel < 0.2


def test_camera_benchmark_scores_equal_the_metric_functions(datasets, tmp_path):
    root, sintel = datasets
    exact, noisy = tmp_path / "exact", tmp_path / "noisy"
    similarity = np.eye(4)
    similarity[:3, :3] = Rotation.from_rotvec([0.3, -1.0, 0.2]).as_matrix() * 2.5
    similarity[:3, 3] = [1.0, -2.0, 0.5]
    rng = np.random.default_rng(1)
    expected = []
    for sequence, (_, c2w) in sintel.items():
        moved = similarity @ c2w
        moved[:, :3, :3] /= 2.5  # poses keep orthonormal rotations; positions carry the scale
        _write_prediction(exact, sequence, c2w=moved)
        shaken = c2w.copy()
        shaken[:, :3, 3] += rng.normal(scale=0.05, size=(len(c2w), 3))
        _write_prediction(noisy, sequence, c2w=shaken)
        expected.append(camera_scores(shaken, c2w))
    seqs = list(sintel)
    perfect = evaluate_benchmark("sintel-camera", root / "sintel", exact, sequences=seqs)
    # Zero up to the TUM text files' printed precision.
    assert perfect.overall.ate < 1e-7 and perfect.overall.rpe_trans < 1e-7 and perfect.overall.rpe_rot < 1e-5
    scored = evaluate_benchmark("sintel-camera", root / "sintel", noisy, sequences=seqs)
    assert scored.overall.ate == pytest.approx(mean_camera_scores(expected).ate, rel=1e-6)  # text precision
    assert scored.overall.ate > 0.01


def test_tum_and_bonn_benchmarks_read_their_frames(datasets, tmp_path):
    root, _ = datasets
    gt = ground_truth_trajectory(BENCHMARKS["tum-camera"], root / "tum", "walking_xyz")
    _write_prediction(tmp_path, "walking_xyz", c2w=gt)
    tum = evaluate_benchmark("tum-camera", root / "tum", tmp_path, sequences=["walking_xyz"])
    assert tum.sequences[0].frames == 90 and tum.overall.ate < 1e-7
    bonn_gt = ground_truth_depth(BENCHMARKS["bonn-depth"], root / "bonn", "balloon2")
    _write_prediction(tmp_path, "balloon2", depth=bonn_gt[:, ::2, ::2] * 0.1)  # half resolution
    bonn = evaluate_benchmark(
        "bonn-depth", root / "bonn", tmp_path, sequences=["balloon2"], alignment="scale"
    )
    assert bonn.sequences[0].frames == 110 and bonn.overall.abs_rel < 0.05


def test_prediction_errors_name_the_file(datasets, tmp_path):
    root, sintel = datasets
    with pytest.raises(One4DError, match=r"alley_2/depth\.npz: no depth prediction"):
        evaluate_benchmark("sintel-depth", root / "sintel", tmp_path, sequences=["alley_2"])
    depth, _ = sintel["alley_2"]
    _write_prediction(tmp_path, "alley_2", depth=depth[:-1])
    with pytest.raises(
        PredictionError, match=r"5 frames predicted, sintel-depth evaluates 6 frames of alley_2"
    ):
        evaluate_benchmark("sintel-depth", root / "sintel", tmp_path, sequences=["alley_2"])
    with pytest.raises(ValueError, match="has no sequences \\['alley_1x'\\]"):
        evaluate_benchmark("sintel-depth", root / "sintel", tmp_path, sequences=["alley_1x"])


def test_cli_prints_a_table_and_writes_json(datasets, tmp_path, capsys):
    root, sintel = datasets
    for sequence, (depth, _) in sintel.items():
        _write_prediction(tmp_path / "pred", sequence, depth=depth * 2.0)
    args = ["sintel-depth", "--root", str(root / "sintel"), "--pred", str(tmp_path / "pred")]
    assert cli.main([*args, "--sequences", *sintel, "--json", str(tmp_path / "scores.json")]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "2/2" in captured.err  # the progress bar over sequences
    assert (
        "| alley_2 | 6 |" in out
        and "**sintel-depth** (2 sequences)" in out
        and "not the benchmark score" in out
    )
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert saved["overall"]["abs_rel"] < 1e-6 and [s["sequence"] for s in saved["sequences"]] == list(sintel)
    # Without --sequences every sequence of the benchmark must have a prediction.
    assert cli.main(args) == 2
    assert "alley_1/depth.npz: no depth prediction" in capsys.readouterr().err
    assert cli.main([*args, "--sequences", *sintel, "--quiet"]) == 0
    assert "2/2" not in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------
# Reliability: one line and exit 2 for what the user can fix, never a score of something meaningless.


def _run_cli(capsys, args) -> tuple[int, str]:
    """Exit status and stderr of `one4d-eval ARGS --quiet` (no progress bar)."""
    status = cli.main([*map(str, args), "--quiet"])
    return status, capsys.readouterr().err


def _assert_one_line(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("one4d-eval: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("damage", ["empty", "truncated", "text"])
def test_an_unreadable_depth_npz_is_one_line_naming_the_file(datasets, tmp_path, capsys, damage):
    root, sintel = datasets
    for sequence, (depth, _) in sintel.items():
        _write_prediction(tmp_path, sequence, depth=depth)
    path = tmp_path / "market_5" / "depth.npz"
    data = path.read_bytes()
    path.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "text": b"depth 1 2 3\n"}[damage])
    args = ["sintel-depth", "--root", root / "sintel", "--pred", tmp_path, "--sequences", *sintel]
    status, err = _run_cli(capsys, args)
    assert status == 2
    _assert_one_line(err, f"{path}: not a readable .npz file", "an array 'depth' (N, H, W)")
    with pytest.raises(PredictionError, match="market_5/depth.npz: not a readable"):
        evaluate_benchmark("sintel-depth", root / "sintel", tmp_path, sequences=list(sintel))


def test_a_depth_npz_without_depth_or_of_strings_names_the_file(datasets, tmp_path, capsys):
    root, _ = datasets
    (tmp_path / "alley_2").mkdir()
    np.savez(tmp_path / "alley_2" / "depth.npz", pointmaps=np.ones((6, H, W, 3)))
    args = ["sintel-depth", "--root", root / "sintel", "--pred", tmp_path, "--sequences", "alley_2"]
    status, err = _run_cli(capsys, args)
    assert status == 2
    _assert_one_line(err, "alley_2/depth.npz: no array 'depth'", "['pointmaps']")
    np.savez(tmp_path / "alley_2" / "depth.npz", depth=np.full((6, H, W), "x"))
    status, err = _run_cli(capsys, args)
    assert status == 2
    _assert_one_line(err, "alley_2/depth.npz: 'depth' must hold real numbers")


def test_json_into_a_missing_folder_is_created_and_written_whole(datasets, tmp_path, capsys):
    root, sintel = datasets
    for sequence, (depth, _) in sintel.items():
        _write_prediction(tmp_path / "pred", sequence, depth=depth * 2.0)
    target = tmp_path / "reports" / "today" / "scores.json"
    args = ["sintel-depth", "--root", root / "sintel", "--pred", tmp_path / "pred", "--sequences", *sintel]
    status, err = _run_cli(capsys, [*args, "--json", target])
    assert status == 0, err
    assert json.loads(target.read_text())["benchmark"] == "sintel-depth"
    assert sorted(p.name for p in target.parent.iterdir()) == ["scores.json"]  # no temporary left behind
    # A folder where the file should go, or a file where a folder should go: refused before any scoring.
    assert cli.main([*map(str, args), "--json", str(target.parent)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "%|" not in captured.err  # no table, no progress: nothing was scored
    _assert_one_line(captured.err, f"{target.parent}: --json names a folder")
    status, err = _run_cli(capsys, [*args, "--json", target / "more" / "scores.json"])
    assert status == 2
    _assert_one_line(err, f"{target}: not a folder, so --json {target / 'more' / 'scores.json'} cannot")
    assert not (tmp_path / "reports" / "today" / "more").exists()


def test_identical_predicted_poses_are_an_error_naming_file_and_sequence(datasets, tmp_path, capsys):
    root, sintel = datasets
    for sequence, (_, c2w) in sintel.items():
        _write_prediction(tmp_path, sequence, c2w=c2w)
    _, c2w = sintel["market_5"]
    _write_prediction(tmp_path, "market_5", c2w=np.repeat(c2w[:1], len(c2w), axis=0))
    args = ["sintel-camera", "--root", root / "sintel", "--pred", tmp_path, "--sequences", *sintel]
    status, err = _run_cli(capsys, args)
    assert status == 2
    _assert_one_line(
        err, f"{tmp_path / 'market_5' / 'trajectory.txt'}: sequence market_5 cannot be scored", "do not move"
    )
    assert "Sim(3) alignment of them is undefined" in err
    # Camera centres that move, however small their scale, are a prediction like any other.
    small = c2w.copy()
    small[:, :3, 3] *= 1e-3
    _write_prediction(tmp_path, "market_5", c2w=small)
    scored = evaluate_benchmark("sintel-camera", root / "sintel", tmp_path, sequences=["market_5"])
    assert scored.overall.ate < 1e-7


def _bonn_with_poses_until(folder, frames: int, seed: int) -> None:
    """A Bonn sequence with 150 RGB-D frames whose ground-truth poses stop after `frames` of them."""
    write_tum_folder(folder, 150, seed)
    rgb_t = 1000.0 + np.arange(150) / 30.0
    stamps, poses = read_tum(folder / "groundtruth.txt")
    keep = stamps < rgb_t[frames - 1] + 0.015
    write_tum(folder / "groundtruth.txt", stamps[keep], poses[keep])


def test_ground_truth_shorter_than_the_protocol_is_an_error_naming_the_sequence(datasets, tmp_path, capsys):
    root = tmp_path / "bonn"
    _bonn_with_poses_until(root / "rgbd_bonn_crowd2", 130, 5)  # the window 30..139 has 100 frames
    _write_prediction(tmp_path / "pred", "crowd2", depth=np.ones((110, H, W)))
    with pytest.raises(DataError) as caught:
        evaluate_benchmark("bonn-depth", root, tmp_path / "pred", sequences=["crowd2"])
    assert caught.value.where == str(root / "rgbd_bonn_crowd2")
    assert "bonn-depth scores 110 frames of sequence crowd2 (frames 30..139" in caught.value.problem
    assert "the ground truth gives 100" in caught.value.problem
    args = ["bonn-depth", "--root", root, "--pred", tmp_path / "pred", "--sequences", "crowd2"]
    status, err = _run_cli(capsys, args)
    assert status == 2
    _assert_one_line(err, "rgbd_bonn_crowd2: bonn-depth scores 110 frames", "gives 100")
    # TUM-dynamics: 90 frames (0, 3, ..., 267); a recording of 200 frames gives 67.
    write_tum_folder(tmp_path / "tum" / "rgbd_dataset_freiburg3_sitting_xyz", 200, 6)
    with pytest.raises(DataError, match=r"tum-camera scores 90 frames of sequence sitting_xyz \(frames 0, 3"):
        ground_truth_trajectory(BENCHMARKS["tum-camera"], tmp_path / "tum", "sitting_xyz")
    assert BENCHMARKS["bonn-depth"].expected_frames == 110 and BENCHMARKS["tum-camera"].expected_frames == 90
    assert BENCHMARKS["sintel-depth"].expected_frames is None  # Sintel: every frame of each sequence


def test_an_incomplete_prediction_folder_is_refused(datasets, tmp_path, capsys):
    root, sintel = datasets
    pred = tmp_path / "pred"
    for sequence, (depth, _) in sintel.items():
        _write_prediction(pred, sequence, depth=depth)
        finish_outputs(pred / sequence, "one4d-recover", ["depth.npz"])
    args = ["sintel-depth", "--root", root / "sintel", "--pred", pred, "--sequences", *sintel]
    assert _run_cli(capsys, args)[0] == 0  # complete manifests: read as usual
    begin_outputs(pred / "market_5", "one4d-recover")  # a rerun that stopped half-way
    status, err = _run_cli(capsys, args)
    assert status == 2
    _assert_one_line(err, f"{pred / 'market_5'}: incomplete output (one4d-recover did not finish")
    with pytest.raises(PredictionError, match="market_5: incomplete output"):
        evaluate_benchmark("sintel-depth", root / "sintel", pred, sequences=list(sintel))
    # Files changed after the manifest was written, or a predictions folder that is itself incomplete.
    finish_outputs(pred / "market_5", "one4d-recover", ["depth.npz"])
    with open(pred / "market_5" / "depth.npz", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(PredictionError, match=r"market_5/depth\.npz: \d+ bytes, manifest.json recorded"):
        evaluate_benchmark("sintel-depth", root / "sintel", pred, sequences=list(sintel))
    begin_outputs(pred, "one4d-generate")
    with pytest.raises(PredictionError, match=f"{pred}: incomplete output"):
        evaluate_benchmark("sintel-depth", root / "sintel", pred, sequences=list(sintel))


def test_a_missing_predictions_folder_or_an_unscorable_prediction_is_one_line(datasets, tmp_path, capsys):
    root, _ = datasets
    args = ["sintel-depth", "--root", root / "sintel", "--sequences", "alley_2", "--pred"]
    status, err = _run_cli(capsys, [*args, tmp_path / "nowhere"])
    assert status == 2
    _assert_one_line(err, f"{tmp_path / 'nowhere'}: no such predictions folder")
    _write_prediction(tmp_path, "alley_2", depth=np.full((6, H, W), 3.0))  # constant: no scale and shift
    status, err = _run_cli(capsys, [*args, tmp_path])
    assert status == 2
    _assert_one_line(err, "alley_2/depth.npz: sequence alley_2 cannot be scored", "not identifiable")
