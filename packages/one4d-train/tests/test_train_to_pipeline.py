"""What training saves is what the inference pipeline and `one4d-generate` run."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
import torch
from one4d_geometry.ply import read_ply
from one4d_geometry.tum import read_tum
from one4d_model import One4DPipeline
from one4d_model.cli.generate import main as generate
from one4d_train.trainer import Trainer
from PIL import Image


def test_the_pipeline_rebuilds_the_trained_model_and_generates(small_config, tmp_path, capsys):
    trainer = Trainer(small_config("max_steps=2"))
    trainer.fit(run_eval=False)
    pipeline = One4DPipeline.from_checkpoint(trainer.output_dir)
    trained = trainer.core.state_dict()
    rebuilt = pipeline.transformer.state_dict()
    assert trained.keys() == rebuilt.keys()
    assert all(torch.equal(trained[k], rebuilt[k]) for k in trained)
    assert torch.equal(pipeline.vae.components, trainer.data.vae.components)
    caption = "an indoor room with a red box"
    assert torch.equal(pipeline.text_encoder([caption]), trainer.data.text_encoder([caption]))

    image = np.random.default_rng(0).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "photo.png")
    out = tmp_path / "generated"
    code = generate(
        [str(trainer.output_dir), "--input", str(tmp_path / "photo.png"), "--out", str(out), "--steps", "2"]
    )
    assert code == 0, capsys.readouterr().err
    frames = sorted((out / "frames").glob("*.png"))
    assert len(frames) == 5 and Image.open(frames[0]).size == (32, 32)  # as trained: 5 frames, 32 x 32
    with av.open(str(out / "video.mp4")) as video:
        decoded = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
    assert len(decoded) == 5 and decoded[0].shape == (32, 32, 3)
    points, colors = read_ply(out / "points" / "frame_0000.ply")
    with np.load(out / "pointmaps.npz") as archive:
        assert archive["pointmaps"].shape == (5, 32, 32, 3)
        assert archive["frame_mask"].tolist() == [1, 0, 0, 0, 0]
        valid, pointmaps = archive["valid"], archive["pointmaps"]
    # The PLY holds exactly the points the model marks valid; the archive has NaN at the others.
    assert points.shape == (int(valid[0].sum()), 3) and colors.dtype == np.uint8
    np.testing.assert_allclose(points, pointmaps[0][valid[0]], rtol=1e-6)
    assert np.isnan(pointmaps[~valid]).all() and np.isfinite(pointmaps[valid]).all()
    _, c2w = read_tum(out / "trajectory.txt")
    assert c2w.shape == (5, 4, 4) and (out / "depth.npz").is_file()
    assert json.loads((out / "intrinsics.json").read_text())["width"] == 32


def test_a_run_with_the_xyz_condition_departure_rebuilds_as_trained(small_config):
    trainer = Trainer(small_config("max_steps=1", "model.xyz_condition=true"))
    trainer.fit(run_eval=False)
    pipeline = One4DPipeline.from_checkpoint(trainer.output_dir)
    assert pipeline.transformer.xyz_condition
    trained, rebuilt = trainer.core.state_dict(), pipeline.transformer.state_dict()
    assert trained.keys() == rebuilt.keys()
    assert all(torch.equal(trained[k], rebuilt[k]) for k in trained)


def test_generate_from_frames_and_its_errors(small_config, tmp_path, capsys):
    trainer = Trainer(small_config("max_steps=1"))
    trainer.fit(run_eval=False)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(5):
        Image.fromarray(np.full((32, 32, 3), 40 * i, np.uint8)).save(frames / f"{i:03d}.png")
    out = tmp_path / "video"
    args = [
        str(trainer.output_dir),
        "--input",
        str(frames),
        "--out",
        str(out),
        "--steps",
        "1",
        "--no-recover",
    ]
    assert generate(args) == 0
    with np.load(out / "pointmaps.npz") as archive:
        assert archive["frame_mask"].tolist() == [1, 1, 1, 1, 1]  # a video: full-video reconstruction
    assert not (out / "trajectory.txt").exists()
    assert generate([str(tmp_path), "--input", str(frames), "--out", str(out)]) == 2
    assert "no trainable.safetensors" in capsys.readouterr().err
    assert (
        generate([str(trainer.output_dir), "--input", str(tmp_path / "nothing.txt"), "--out", str(out)]) == 2
    )
    assert "nothing.txt: no such file or folder" in capsys.readouterr().err
    (tmp_path / "notes.txt").write_text("not a picture")
    assert generate([str(trainer.output_dir), "--input", str(tmp_path / "notes.txt"), "--out", str(out)]) == 2
    assert "expected an image" in capsys.readouterr().err


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("one4d-generate: error: ") and "Traceback" not in err
    return err


def test_generate_explains_broken_checkpoints_in_one_line(small_config, tmp_path, capsys):
    from one4d_model.loading.run_format import find_checkpoint
    from safetensors import safe_open
    from safetensors.torch import save_file

    trainer = Trainer(small_config("max_steps=1"))
    trainer.fit(run_eval=False)
    capsys.readouterr()  # the training's progress bar
    checkpoint = find_checkpoint(trainer.output_dir)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "photo.png")
    args = ["--input", str(tmp_path / "photo.png"), "--out", str(tmp_path / "out"), "--steps", "1"]
    data = checkpoint.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    assert generate([str(tmp_path / "truncated.safetensors"), *args]) == 2
    assert "truncated.safetensors: not a readable safetensors file" in _one_line(capsys)
    with safe_open(str(checkpoint), "pt") as handle:
        metadata, tensors = handle.metadata(), {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    name = sorted(tensors)[0]
    tensors[name] = torch.zeros(tensors[name].shape[0] + 1, *tensors[name].shape[1:])
    edited = checkpoint.parent / "edited.safetensors"  # beside the original: the run's VAE is found
    save_file(tensors, str(edited), metadata=metadata)
    assert generate([str(edited), *args]) == 2
    message = _one_line(capsys)
    assert f"tensor {name} has shape" in message and "the file was changed after training" in message


def test_a_run_of_the_dense_tiny_variant_rebuilds_with_its_patch_size(tmp_path):
    """`one4d-tiny-p1` (the token-density experiment) trains on a base folder and loads back as trained;
    without a base it is refused (a frozen random base could not be rebuilt)."""
    from diffusers import WanTransformer3DModel
    from one4d_model.models.configs import wan_config
    from one4d_train.config import ConfigError, load_config

    overrides = [f'output_dir="{tmp_path / "run"}"', 'model.variant="one4d-tiny-p1"', "max_steps=1"]
    with pytest.raises(ConfigError, match="model.base_path"):
        load_config(None, "tiny-cpu", overrides)
    WanTransformer3DModel(**wan_config("one4d-tiny-p1")).save_pretrained(tmp_path / "base")
    overrides.append(f'model.base_path="{tmp_path / "base"}"')
    overrides += ["batch_size=1", "data.num_clips=1", "data.eval_clips=1", "model.lora_rank=4"]
    trainer = Trainer(load_config(None, "tiny-cpu", overrides))
    trainer.fit(run_eval=False)
    pipeline = One4DPipeline.from_checkpoint(trainer.output_dir)
    assert tuple(pipeline.transformer.config.patch_size) == (1, 1, 1)
    trained, rebuilt = trainer.core.state_dict(), pipeline.transformer.state_dict()
    assert all(torch.equal(trained[k], rebuilt[k]) for k in trained)
