"""Unified Masked Conditioning as training sees it: which frames the mask says are observed, and that the
conditioning latents are those of exactly these frames (a flipped mask anywhere fails here)."""

import numpy as np
import torch
from one4d_data.umc import TASKS, conditioning_video
from one4d_train.batches import EncodedBatches, synthetic_clips
from one4d_train.components import build_context_encoders, build_video_vae


def test_training_batches_mark_observed_frames_with_ones(small_config):
    config = small_config("data.num_frames=9", "data.task_ratios=[1.0, 1.0, 1.0]")
    clips = synthetic_clips(config)
    vae = build_video_vae(config, torch.device("cpu"), clips)
    text, image = build_context_encoders(config, torch.device("cpu"))
    batches = EncodedBatches(clips, clips.seed, vae, text, image, torch.device("cpu"))
    seen = set()
    for position in range(8):
        samples = batches.collated([position])
        batch = batches.to_batch(samples)
        frame_mask = samples["frame_mask"][0]
        task = TASKS[int(samples["task"][0])]
        seen.add(task)
        observed = frame_mask.bool()
        assert observed[0]  # every task observes the first frame
        assert int(observed.sum()) == {"single_image": 1, "full_video": 9}.get(task, int(observed.sum()))
        # Latent frame 0 holds frame 0 four times, latent frame k holds frames 4k - 3 .. 4k.
        per_latent = torch.cat([frame_mask[:1].repeat(4), frame_mask[1:]]).view(3, 4)
        for k in range(3):
            for c in range(4):
                assert (batch.mask[0, c, k] == per_latent[k, c]).all()
        # The conditioning latents are the VAE latents of the video with unobserved frames zeroed.
        expected = vae.encode(conditioning_video(samples["rgb"], samples["frame_mask"].numpy()))
        torch.testing.assert_close(batch.cond, expected, atol=1e-5, rtol=1e-5)
        assert torch.equal(samples["cond_rgb"][0][:, observed], samples["rgb"][0][:, observed])
        assert (samples["cond_rgb"][0][:, ~observed] == 0).all()
        if not observed.all():
            assert not torch.allclose(batch.cond, batch.rgb)
    assert len(seen) >= 2


def test_caption_dropout_uses_the_empty_caption_and_keeps_the_image(small_config):
    from one4d_train.losses import flow_matching_loss

    config = small_config()
    clips = synthetic_clips(config)
    vae = build_video_vae(config, torch.device("cpu"), clips)
    text, image = build_context_encoders(config, torch.device("cpu"))
    batches = EncodedBatches(clips, clips.seed, vae, text, image, torch.device("cpu"))
    batch = batches.batch([0, 1])
    assert torch.equal(batch.empty_text, text([""]))
    seen = {}

    def spy(rgb, xyz, cond, mask, t, txt, img):
        seen["text"], seen["image"] = txt, img
        return type("Out", (), {"rgb": rgb, "xyz": xyz})()

    noise = torch.zeros_like(batch.rgb)
    drop = torch.tensor([True, False])
    flow_matching_loss(spy, batch, torch.full((2,), 0.5), noise, noise, drop)
    assert torch.equal(seen["text"][0], batch.empty_text[0]) and torch.equal(seen["text"][1], batch.text[1])
    assert torch.equal(seen["image"], batch.image)
    assert np.isfinite(float(batch.text.abs().sum()))


def test_pre_encoded_batches_equal_the_batches_encoded_at_each_step(small_config):
    """`data.pre_encode` (as the embedded default does) changes when clips are encoded, not what trains."""
    from one4d_train.batches import CachedBatches
    from one4d_train.trainer import Trainer

    inline = Trainer(small_config("max_steps=1", name="inline"))
    cached = Trainer(small_config("max_steps=1", "data.pre_encode=true", name="cached"))
    assert isinstance(cached.data, CachedBatches) and (cached.output_dir / "latent-cache").is_dir()
    positions = list(range(6))
    a, b = inline.data.batch(positions), cached.data.batch(positions)
    assert torch.equal(a.task, b.task)
    for name in ("rgb", "xyz", "cond", "mask", "text", "image", "empty_text"):
        torch.testing.assert_close(getattr(b, name), getattr(a, name), atol=1e-5, rtol=0, msg=name)
