"""`one4d-generate` from a trained tiny run writes every output for each task (the four of `TASKS`), and each
file reloads with common tools (PyAV, numpy, trimesh) and agrees with the pipeline's arrays."""

from __future__ import annotations

import av
import numpy as np
import pytest
import trimesh
from one4d_data.umc import TASKS
from one4d_geometry.ply import read_ply
from one4d_model import One4DPipeline
from one4d_model.cli.generate import main as generate
from one4d_model.testing import run_processes
from one4d_model.viz.visualize import colorize_depth, pointmaps_to_rgb
from one4d_train.config import load_config
from one4d_train.trainer import Trainer
from PIL import Image

from .conftest import SMALL_CONFIG

SIZE = (5, 32, 32)  # frames, height, width of tests/small.toml


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    Trainer(load_config(SMALL_CONFIG, overrides=[f'output_dir="{folder}"', "max_steps=1"])).fit(
        run_eval=False
    )
    video = np.random.default_rng(0).integers(0, 256, (*SIZE, 3), dtype=np.uint8)
    np.save(folder / "video.npy", video)
    return folder, video


def _decode(path):
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


@pytest.mark.parametrize("task", TASKS)
def test_every_output_reloads_and_agrees_with_the_pipeline(trained_run, tmp_path, task, capsys):
    run, video = trained_run
    out = tmp_path / task
    args = [str(run), "--out", str(out), "--task", task, "--steps", "2", "--seed", "3", "--quiet"]
    if task != "text":
        args += ["--input", str(run / "video.npy")]
    assert generate(args) == 0, capsys.readouterr().err
    pipeline = One4DPipeline.from_checkpoint(run)
    pipeline.set_progress_bar_config(disable=True)
    expected = pipeline(
        None if task == "text" else video, task=task, num_inference_steps=2, seed=3, recover_cameras=True
    )
    count, height, width = SIZE

    with np.load(out / "pointmaps.npz") as archive:
        np.testing.assert_array_equal(archive["frames"], expected.frames)
        np.testing.assert_array_equal(archive["pointmaps"], expected.pointmaps)
        np.testing.assert_array_equal(archive["valid"], expected.valid)
        assert archive["frame_mask"].tolist() == expected.frame_mask.tolist()
    assert expected.frame_mask.sum() == {"single_image": 1, "full_video": 5, "text": 0}.get(
        task, expected.frame_mask.sum()
    )
    with np.load(out / "depth.npz") as archive:
        np.testing.assert_allclose(archive["depth"], expected.depth, rtol=1e-5)
    frames = sorted((out / "frames").glob("*.png"))
    assert len(frames) == count
    np.testing.assert_array_equal(np.asarray(Image.open(frames[-1])), expected.frames[-1])

    # Videos: the output's frame count and size, and the pictures the arrays make (H.264 is lossy).
    rgb, xyz, depth = (_decode(out / name) for name in ("video.mp4", "xyz.mp4", "depth.mp4"))
    for decoded, reference in (
        (rgb, expected.frames),
        (xyz, pointmaps_to_rgb(expected.pointmaps, expected.valid)),
        (depth, colorize_depth(expected.depth, expected.valid)),
    ):
        assert decoded.shape == (count, height, width, 3)
        assert np.abs(decoded.astype(float) - reference).mean() < 12
    both = _decode(out / "rgb_depth_xyz.mp4")
    assert both.shape == (count, height, 3 * width, 3)

    # The merged scene: every second frame's valid points, in PLY and in the GLB (turned y-up).
    merged = np.concatenate([expected.pointmaps[i][expected.valid[i]] for i in range(0, count, 2)])
    points, colors = read_ply(out / "scene.ply")
    np.testing.assert_allclose(points, merged, rtol=1e-6)
    assert colors.shape == points.shape and colors.dtype == np.uint8
    glb = trimesh.load(out / "scene.glb")
    transform, _ = glb.graph["points"]
    cloud = trimesh.transform_points(glb.geometry["points"].vertices, transform)
    np.testing.assert_allclose(cloud, merged * [1, -1, -1], rtol=1e-5, atol=1e-6)
    frustums = trimesh.transform_points(glb.geometry["cameras"].vertices, glb.graph["cameras"][0])
    assert frustums.shape == (16 * count, 3)  # 4 spokes and 4 rim edges per camera, 2 ends each
    centres = expected.cameras.c2w[:, :3, 3] * [1, -1, -1]
    assert all(np.isclose(frustums, centre, atol=1e-5).all(axis=1).sum() >= 4 for centre in centres)
    assert "trajectory" in glb.geometry
    # Per-frame PLY files hold each frame's valid points.
    last, _ = read_ply(out / "points" / f"frame_{count - 1:04d}.ply")
    np.testing.assert_allclose(last, expected.pointmaps[-1][expected.valid[-1]], rtol=1e-6)


def test_an_ensemble_is_refused_where_frames_are_generated(trained_run, tmp_path, capsys):
    run, _ = trained_run
    out = tmp_path / "x"
    video = str(run / "video.npy")
    args = [str(run), "--input", video, "--out", str(out), "--task", "sparse_frames", "--ensemble", "2"]
    assert generate(args) == 2
    assert "every frame observed" in capsys.readouterr().err and not any(out.glob("*"))


def test_text_needs_no_input_but_other_tasks_do(trained_run, tmp_path, capsys):
    run, _ = trained_run
    assert generate([str(run), "--out", str(tmp_path / "x"), "--task", "full_video"]) == 2
    assert "--input is required" in capsys.readouterr().err


def test_a_video_three_windows_long_writes_every_output(trained_run, tmp_path, capsys):
    """The run trained on 5 frames; 13 frames from one image are three windows (0-4, 4-8, 8-12)."""
    run, video = trained_run
    Image.fromarray(video[0]).save(tmp_path / "photo.png")
    out = tmp_path / "long"
    args = [
        str(run),
        "--input",
        str(tmp_path / "photo.png"),
        "--out",
        str(out),
        "--frames",
        "13",
        "--steps",
        "1",
    ]
    assert generate([*args, "--quiet"]) == 0, capsys.readouterr().err
    count, height, width = 13, SIZE[1], SIZE[2]
    with np.load(out / "pointmaps.npz") as archive:
        assert archive["pointmaps"].shape == (count, height, width, 3)
        assert archive["frame_mask"].tolist() == [1] + [0] * 12
    with np.load(out / "depth.npz") as archive:
        assert archive["depth"].shape == (count, height, width)
    assert len(list((out / "frames").glob("*.png"))) == count
    assert len(list((out / "points").glob("*.ply"))) == count
    for name in ("video.mp4", "xyz.mp4", "depth.mp4"):
        assert _decode(out / name).shape == (count, height, width, 3)
    assert _decode(out / "rgb_depth_xyz.mp4").shape == (count, height, 3 * width, 3)
    assert (
        read_ply(out / "scene.ply")[0].shape[1] == 3 and "cameras" in trimesh.load(out / "scene.glb").geometry
    )
    # A progress bar per window unless --quiet.
    assert generate(args + ["--out", str(tmp_path / "again")]) == 0
    assert "windows" in capsys.readouterr().err


def test_generate_under_torchrun_with_cfg_parallelism_matches_one_process(trained_run, tmp_path):
    """Two gloo processes, the guidance rows split between them: rank 0 writes what one process writes."""
    run, _ = trained_run
    args = [str(run), "--input", str(run / "video.npy"), "--steps", "2", "--guidance", "3", "--quiet"]
    assert generate([*args, "--out", str(tmp_path / "one")]) == 0
    command = ["-m", "one4d_model.cli.generate", *args, "--out", str(tmp_path / "two"), "--cfg-parallel"]
    result = run_processes(command, nproc=2)
    assert result.stdout.count("written to") == 1  # only rank 0 writes
    with (
        np.load(tmp_path / "one" / "pointmaps.npz") as one,
        np.load(tmp_path / "two" / "pointmaps.npz") as two,
    ):
        np.testing.assert_allclose(two["pointmaps"], one["pointmaps"], atol=1e-5, equal_nan=True)
        assert np.abs(two["frames"].astype(int) - one["frames"]).max() <= 1


@pytest.mark.parametrize(
    ("option", "value"),
    [("--frames", "0"), ("--frames", "-3"), ("--steps", "0"), ("--height", "0"), ("--ensemble", "0")],
)
def test_zero_and_negative_counts_are_refused(trained_run, tmp_path, capsys, option, value):
    run, _ = trained_run
    out = tmp_path / "x"
    args = [str(run), "--input", str(run / "video.npy"), "--out", str(out), option, value]
    with pytest.raises(SystemExit) as exit_info:
        generate(args)
    assert exit_info.value.code == 2
    assert f"argument {option}: must be at least 1, got {value}" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("recover", [True, False])
def test_a_checkpoint_with_nan_weights_is_named_in_one_line(trained_run, tmp_path, capsys, recover):
    from one4d_model.loading.run_format import find_checkpoint
    from safetensors import safe_open
    from safetensors.torch import save_file

    run, _ = trained_run
    with safe_open(str(find_checkpoint(run)), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    broken_name = sorted(tensors)[3]
    tensors[broken_name].fill_(float("nan"))
    broken = tmp_path / "broken.safetensors"
    (tmp_path / "vae.safetensors").write_bytes((run / "vae.safetensors").read_bytes())  # the run's fitted VAE
    save_file(tensors, str(broken), metadata=metadata)
    args = [str(broken), "--input", str(run / "video.npy"), "--out", str(tmp_path / "x"), "--quiet"]
    assert generate(args + ([] if recover else ["--no-recover"])) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert str(broken) in err and broken_name in err and "non-finite weights" in err


def test_a_16_bit_png_reads_as_its_8_bit_copy(tmp_path):
    from one4d_model.cli.generate import read_input

    grey = np.random.default_rng(0).integers(0, 256, (48, 64), dtype=np.uint8)
    Image.fromarray(grey).save(tmp_path / "photo8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "photo16.png")  # 0..255 -> 0..65535
    with Image.open(tmp_path / "photo16.png") as image:
        assert image.mode == "I;16"  # what Pillow makes of a 16-bit greyscale PNG
    eight, single = read_input(tmp_path / "photo8.png", 32, 32)
    sixteen, _ = read_input(tmp_path / "photo16.png", 32, 32)
    assert single and eight.shape == (1, 32, 32, 3)
    np.testing.assert_array_equal(sixteen, eight)
    assert 100 < sixteen.mean() < 155  # not saturated to white
