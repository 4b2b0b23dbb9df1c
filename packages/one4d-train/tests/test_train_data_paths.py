"""The three ways clips reach the trainer: synthetic scenes or dataset roots encoded on the fly (VAE, umT5,
CLIP), or a latent cache written by `one4d-cache`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from one4d_data.dataset import collate_samples
from one4d_data.latent_cache import read_cached_sample, write_cached_sample
from one4d_data.readers import write_folder
from one4d_data.synthetic import make_clip
from one4d_model.models.encoders import CLIPImageEncoder, UMT5TextEncoder
from one4d_model.testing import write_tiny_image_encoder, write_tiny_text_encoder
from one4d_train import cache as cache_cli
from one4d_train.batches import CachedBatches
from one4d_train.checkpoint import latest_checkpoint
from one4d_train.trainer import Trainer

SMALL_CONFIG = Path(__file__).parent / "small.toml"


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    """A diffusers-style folder with tiny random umT5 (+ tokenizer) and CLIP (+ processor) in it."""
    root = tmp_path_factory.mktemp("encoders")
    write_tiny_text_encoder(root, dim=32)
    write_tiny_image_encoder(root, dim=32)
    return root


def _encoder_overrides(root) -> list[str]:
    return [f'model.text_encoder="{root}"', f'model.image_encoder="{root}"']


def test_training_encodes_captions_and_first_frames_with_the_loaded_encoders(small_config, encoders):
    trainer = Trainer(small_config(*_encoder_overrides(encoders), "max_steps=1"))
    assert isinstance(trainer.data.text_encoder, UMT5TextEncoder)
    assert isinstance(trainer.data.image_encoder, CLIPImageEncoder)
    positions = [0, 1]
    items = trainer.data.items(positions)
    batch = trainer.data.batch(positions)
    text = trainer.data.text_encoder([it["caption"] for it in items])
    image = trainer.data.image_encoder(torch.stack([it["cond_rgb"][:, 0] for it in items]))
    assert torch.equal(batch.text, text) and torch.equal(batch.image, image)
    assert batch.image.shape == (2, 257, 32)
    # Token rows beyond each caption are zero; the caption's own rows are not.
    lengths = (batch.text.abs().sum(-1) > 0).sum(1)
    assert torch.all(lengths > 3) and torch.all(lengths < 100)
    summary = trainer.fit(run_eval=False)
    assert summary["final_step"] == 1 and latest_checkpoint(trainer.output_dir) is not None


def test_encoder_width_must_match_the_model(small_config, tmp_path):
    write_tiny_text_encoder(tmp_path / "wide", dim=48)
    with pytest.raises(ValueError, match=r"model.text_encoder = .*wide.*48-dim.*text_dim is 32"):
        Trainer(small_config(f'model.text_encoder="{tmp_path / "wide"}"', "max_steps=1"))


def test_one4d_cache_then_training_from_the_cache(small_config, encoders, tmp_path, capsys):
    out = tmp_path / "cache"
    run_dir = tmp_path / "cached-run"
    args = [
        "--config",
        str(SMALL_CONFIG),
        "--set",
        f'output_dir="{run_dir}"',
        "--set",
        "data.num_clips=3",
        "--out",
        str(out),
        *[arg for override in _encoder_overrides(encoders) for arg in ("--set", override)],
    ]
    assert cache_cli.main(args) == 0
    assert "3 clips" in capsys.readouterr().out
    files = sorted(out.glob("clip_*.safetensors"))
    assert len(files) == 3
    tensors, metadata = read_cached_sample(files[0])
    assert tensors["image_embeds"].shape == (257, 32) and tensors["text_embeds"].shape == (512, 32)
    # The stored embeddings are those of the encoders on the clip's caption and first frame.
    config = small_config(*_encoder_overrides(encoders), "data.num_clips=3", name="cached-run")
    trainer = Trainer(config)
    item = trainer.data.dataset[0]
    assert metadata["caption"] == item["caption"]
    torch.testing.assert_close(tensors["text_embeds"], trainer.data.text_encoder([item["caption"]])[0])
    torch.testing.assert_close(
        tensors["image_embeds"], trainer.data.image_encoder(item["rgb"][None, :, 0])[0]
    )

    cached = Trainer(
        small_config('data.source="cache"', f'data.cache_dir="{out}"', "max_steps=2", name="cached-run")
    )
    assert isinstance(cached.data, CachedBatches)
    batch = cached.data.batch([0, 1])
    assert batch.image.shape == (2, 257, 32) and batch.rgb.shape[1] == 16
    assert cached.fit(run_eval=False)["final_step"] == 2


def test_a_cache_without_image_embeddings_is_refused_clearly(small_config, tmp_path):
    out = tmp_path / "plain"
    assert (
        cache_cli.main(
            [
                "--config",
                str(SMALL_CONFIG),
                "--set",
                f'output_dir="{tmp_path / "r"}"',
                "--set",
                "data.num_clips=2",
                "--out",
                str(out),
                "--limit",
                "1",
            ]
        )
        == 0
    )
    # The tiny stand-in image encoder wrote embeddings; drop them to mimic a text-only cache.
    tensors, metadata = read_cached_sample(out / "clip_0000000.safetensors")
    del tensors["image_embeds"]
    write_cached_sample(out / "clip_0000000.safetensors", tensors, metadata)
    trainer = Trainer(small_config('data.source="cache"', f'data.cache_dir="{out}"', name="r"))
    with pytest.raises(ValueError, match=rf"latent cache {out} has no image_embeds.*rebuild"):
        trainer.data.batch([0])


def test_one4d_cache_needs_an_output_folder(capsys):
    assert cache_cli.main(["--set", "data.num_clips=1"]) == 2
    assert "data.cache_dir" in capsys.readouterr().err


def test_one4d_cache_asks_the_wan_variants_for_their_encoders(small_config, tmp_path):
    # The same rule as training (config.missing_encoder_paths): CPU-sized variants use the stand-ins.
    config = small_config()
    cache_cli._check_encoders(config)
    config.model.variant = "wan2.1-fun-1.3b-inp"
    with pytest.raises(ValueError, match="model.text_encoder.*local path to build a cache"):
        cache_cli._check_encoders(config)
    config.model.text_encoder = str(tmp_path)
    with pytest.raises(ValueError, match="model.image_encoder"):
        cache_cli._check_encoders(config)
    config.model.image_encoder = str(tmp_path)
    cache_cli._check_encoders(config)


def test_training_on_dataset_roots(small_config, tmp_path):
    root = tmp_path / "scans"
    for k in range(2):
        write_folder(make_clip(k, 9, 32, 48, scene="room"), root / f"seq_{k}")
    captions = tmp_path / "captions.json"
    captions.write_text(json.dumps({"seq_0": "a red room", "seq_1": "a blue room"}))
    config = small_config(
        'data.source="datasets"',
        f'data.datasets=["folder:{root}"]',
        "data.strides=[1, 2]",
        f'data.captions="{captions}"',
        "max_steps=2",
    )
    trainer = Trainer(config)
    assert len(trainer.data) == 2  # one window of up to 9 frames (5 frames at stride 2) per sequence
    assert {item["caption"] for item in trainer.data.items([0, 1, 2, 3])} == {"a red room", "a blue room"}
    batch = trainer.data.batch([0, 1])
    assert batch.rgb.shape == (2, 16, 2, 4, 4) and torch.isfinite(batch.xyz).all()
    assert trainer.eval_data is None
    assert trainer.fit(run_eval=False)["final_step"] == 2


def test_conditioning_latents_are_the_video_latents_only_where_every_frame_is_observed(small_config):
    trainer = Trainer(small_config("data.task_ratios=[0.5, 0.0, 0.5]", "max_steps=1"))
    samples = collate_samples(trainer.data.items(list(range(12))))
    full = samples["frame_mask"].bool().all(dim=1)
    assert 0 < int(full.sum()) < 12  # both tasks in the batch
    batch = trainer.data.to_batch(samples)
    vae = trainer.data.vae
    assert torch.equal(batch.cond[full], batch.rgb[full])
    torch.testing.assert_close(batch.cond[~full], vae.encode(samples["cond_rgb"][~full]).float())
    assert not torch.allclose(batch.cond[~full], batch.rgb[~full])


def test_one4d_cache_builds_the_default_preset_with_its_stand_in_encoders(tmp_path):
    # `tiny-cpu` (the embedded default, variant one4d-tiny) has no umT5 / CLIP paths, as in training.
    out = tmp_path / "cache"
    args = ["--set", f'output_dir="{tmp_path / "r"}"', "--set", "data.num_clips=2", "--out", str(out)]
    assert cache_cli.main([*args, "--limit", "1"]) == 0
    tensors, _ = read_cached_sample(out / "clip_0000000.safetensors")
    assert tensors["rgb_latents"].shape == tensors["xyz_latents"].shape == (16, 3, 8, 12)
    assert tensors["text_embeds"].shape[0] == 512 and tensors["image_embeds"].shape[0] == 257
