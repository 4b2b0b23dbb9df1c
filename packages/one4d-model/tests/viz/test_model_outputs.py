"""The output folder of one4d-generate: complete only when every file is written, never a stale mix."""

from __future__ import annotations

import numpy as np
import pytest
from one4d_geometry import recover_cameras
from one4d_geometry.files import check_complete
from one4d_geometry.synthetic import synthetic_scene
from one4d_model.pipelines.pipeline import One4DPipelineOutput
from one4d_model.viz.outputs import SIDE_BY_SIDE_FILE, coloured_videos, scene_of, write_generation
from one4d_model.viz.scene import load_scene


def _result(with_cameras: bool) -> One4DPipelineOutput:
    scene = synthetic_scene(5, 16, 24, focal=20.0, seed=0)
    valid = np.ones(scene.depth.shape, bool)
    frames = np.random.default_rng(0).integers(0, 256, (*scene.depth.shape, 3), dtype=np.uint8)
    out = One4DPipelineOutput(frames, scene.pointmaps, valid, ~valid, np.ones(5, np.float32))
    out.cameras = recover_cameras(scene.pointmaps) if with_cameras else None
    return out


def test_a_complete_folder_lists_every_file(tmp_path):
    write_generation(tmp_path, _result(True))
    assert check_complete(tmp_path)
    listed = (tmp_path / "manifest.json").read_text()
    for name in (
        "pointmaps.npz",
        "depth.npz",
        "trajectory.txt",
        "scene.glb",
        "video.mp4",
        "frames/frame_0004.png",
    ):
        assert f'"{name}"' in listed


def test_an_interrupted_rerun_is_never_taken_for_complete(tmp_path, monkeypatch):
    write_generation(tmp_path, _result(True))

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("one4d_model.viz.scene_files.write_scene_glb", killed)
    with pytest.raises(KeyboardInterrupt):
        write_generation(tmp_path, _result(True))
    with pytest.raises(ValueError, match="incomplete output"):
        check_complete(tmp_path)
    assert not list(tmp_path.rglob("*.partial*"))


def test_a_rerun_without_cameras_removes_the_earlier_cameras(tmp_path):
    write_generation(tmp_path, _result(True))
    write_generation(tmp_path, _result(False))
    assert check_complete(tmp_path)
    assert not (tmp_path / "trajectory.txt").exists() and not (tmp_path / "depth.npz").exists()


def test_the_side_by_side_frames_are_rgb_depth_xyz_and_read_back_from_the_folder(tmp_path):
    result = _result(True)
    videos = coloured_videos(scene_of(result))
    strip = videos[SIDE_BY_SIDE_FILE]
    assert strip.shape == (5, 16, 72, 3) and strip.dtype == np.uint8
    np.testing.assert_array_equal(strip[..., :24, :], result.frames)
    np.testing.assert_array_equal(strip[..., 48:, :], videos["xyz.mp4"])
    write_generation(tmp_path, result)
    # the README's pictures (tools/readme_frames.py) are composed from the written folder: the same frames
    np.testing.assert_array_equal(coloured_videos(load_scene(tmp_path))[SIDE_BY_SIDE_FILE], strip)
    assert SIDE_BY_SIDE_FILE not in coloured_videos(scene_of(_result(False)))
