"""tools/readme_frames.py with the README's arguments: the held-out photo, the frame strip, the correlations.
(Loaded in-process: a subprocess per command would spend most of the test importing torch.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from one4d_geometry import recover_cameras
from one4d_model.pipelines.pipeline import One4DPipelineOutput
from one4d_model.viz.outputs import write_generation
from one4d_train.batches import held_out_scenes
from one4d_train.config import load_config
from PIL import Image

TOOL = Path(__file__).resolve().parents[3] / "tools" / "readme_frames.py"


def _load_tool():
    spec = importlib.util.spec_from_file_location("readme_frames", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tool(capsys, *args: str) -> str:
    _load_tool().main(list(args))
    return capsys.readouterr().out


def _held_out(count: int):
    config = load_config()
    config.data.eval_clips = count
    return held_out_scenes(config)


def _truth_as_output(folder: Path, clip) -> None:
    """An output folder whose geometry is the scene's own (as a perfect model would write it)."""
    valid = np.isfinite(clip.pointmaps).all(-1)
    out = One4DPipelineOutput(clip.rgb, clip.pointmaps, valid, ~valid, np.ones(clip.num_frames, np.float32))
    out.cameras = recover_cameras(clip.pointmaps, valid)
    write_generation(folder, out)


def test_photo_strip_refusal_and_correlations(tmp_path, capsys):
    clips = _held_out(2)
    _tool(capsys, "photo", str(tmp_path / "photo.png"), "--scene", "1")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "photo.png")), clips[1].rgb[0])

    for index, clip in enumerate(clips):
        _truth_as_output(tmp_path / f"out{index}", clip)
    strip_args = ("--frames", "0", "8", "--scale", "2")
    _tool(capsys, "strip", str(tmp_path / "out0"), str(tmp_path / "strip.png"), *strip_args)
    strip = np.asarray(Image.open(tmp_path / "strip.png"))
    height, width = clips[0].rgb.shape[1:3]
    assert strip.shape == (2 * height * 2, 3 * width * 2, 3)
    np.testing.assert_array_equal(strip[: 2 * height : 2, : 2 * width : 2], clips[0].rgb[0])
    np.testing.assert_array_equal(strip[2 * height :: 2, : 2 * width : 2], clips[0].rgb[8])

    with pytest.raises(SystemExit, match=r"it has 9 frames; no frame \[9\]"):
        _tool(capsys, "strip", str(tmp_path / "out0"), str(tmp_path / "x.png"), "--frames", "9")
    assert not (tmp_path / "x.png").exists()

    printed = _tool(capsys, "correlate", f"{tmp_path / 'out0'}:0", f"{tmp_path / 'out1'}:1")
    lines = dict(line.split(": ", 1) for line in printed.splitlines())
    # geometry recovered from the truth matches its own scene, and alike only as much as the scenes are
    own = lines["depth correlation, each output with its scene's truth"].split(", ")
    assert len(own) == 2 and all(float(value) > 0.99 for value in own)
    outputs = float(lines["depth correlation, outputs with one another"])
    truths = float(lines["depth correlation, true depths with one another"])
    assert abs(outputs - truths) < 0.02
