import numpy as np
import pytest
import torch
import torch.nn.functional as F
from one4d_data.dataset import ClipDataset, SyntheticSource
from one4d_data.errors import DataError
from one4d_data.latent_cache import (
    BLANK_CONDITIONING_FILE,
    LatentCacheDataset,
    build_latent_cache,
    read_cached_sample,
    write_cached_sample,
)
from one4d_data.umc import FRAME_TASKS, TASKS, TaskRatios

_LIFT = torch.linspace(-1.0, 1.0, 16 * 3).reshape(16, 3)


def assert_close(actual, expected, atol=1e-5):
    """numpy comparison of tensors (avoids importing torch.testing, slow on first use)."""
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=atol)


def encode_video(video: torch.Tensor) -> torch.Tensor:
    """Stand-in VAE: (B, 3, F, H, W) -> (B, 16, 1 + (F - 1) / 4, H / 8, W / 8): pooling, channel lift."""
    first = F.avg_pool3d(video[:, :, :1], (1, 8, 8))
    rest = F.avg_pool3d(video[:, :, 1:], (4, 8, 8))
    pooled = torch.cat([first, rest], 2)
    return torch.einsum("oc,bcfhw->bofhw", _LIFT, pooled)


def encode_text(captions: list[str]) -> torch.Tensor:
    return torch.stack([torch.full((4, 8), float(len(c))) for c in captions])


def test_write_read_round_trip_and_atomicity(tmp_path):
    tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor(3)}
    write_cached_sample(tmp_path / "x.safetensors", tensors, {"caption": "hello"})
    back, meta = read_cached_sample(tmp_path / "x.safetensors")
    assert torch.equal(back["a"], tensors["a"]) and torch.equal(back["b"], tensors["b"])
    assert meta["caption"] == "hello"
    assert [p.name for p in tmp_path.iterdir()] == ["x.safetensors"]  # no temporary file left
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{trunc")
    with pytest.raises(DataError, match="bad.safetensors"):
        read_cached_sample(tmp_path / "bad.safetensors")
    with pytest.raises(DataError, match="not found"):
        read_cached_sample(tmp_path / "missing.safetensors")


def test_build_cache_and_load_items(tmp_path):
    ds = ClipDataset(SyntheticSource(3, 9, 32, 48, seed=4), num_frames=9, height=32, width=48, seed=1)
    paths = build_latent_cache(ds, tmp_path, encode_video, encode_text, batch_size=2)
    assert len(paths) == 3 and all(p.exists() for p in paths)
    tensors, meta = read_cached_sample(paths[1])
    item = ds[1]
    assert tensors["rgb_latents"].shape == (16, 3, 4, 6)
    assert_close(tensors["rgb_latents"], encode_video(item["rgb"][None])[0])
    assert_close(tensors["xyz_latents"], encode_video(item["xyz"][None])[0])
    assert_close(tensors["norm_scale"], item["norm_scale"])
    assert meta["caption"] == item["caption"]
    for task in FRAME_TASKS:
        mask = tensors[f"frame_mask_{task}"]
        cond = item["rgb"] * mask[None, :, None, None]
        assert_close(tensors[f"cond_latents_{task}"], encode_video(cond[None])[0])
    assert tensors["frame_mask_single_image"].sum() == 1 and tensors["frame_mask_full_video"].sum() == 9
    sparse = tensors["frame_mask_sparse_frames"]
    assert sparse[0] == 1 and sparse[-1] == 1

    cache = LatentCacheDataset(tmp_path, task_ratios=TaskRatios(0.0, 1.0, 0.0), seed=0)
    assert len(cache) == 3
    entry = cache[1]
    assert int(entry["task"]) == TASKS.index("sparse_frames")
    assert torch.equal(entry["frame_mask"], sparse)
    assert torch.equal(entry["cond_latents"], tensors["cond_latents_sparse_frames"])
    assert entry["text_embeds"].shape == (4, 8)
    assert entry["caption"] == item["caption"]

    # Text to 4D: nothing observed, the black video's latents (one file per cache), the clip's caption.
    text = LatentCacheDataset(tmp_path, task_ratios=TaskRatios(0, 0, 0, 1), seed=0)[1]
    assert int(text["task"]) == TASKS.index("text") and text["frame_mask"].tolist() == [0.0] * 9
    assert_close(text["cond_latents"], encode_video(torch.zeros(1, 3, 9, 32, 48))[0])
    assert torch.equal(text["rgb_latents"], tensors["rgb_latents"]) and text["caption"] == item["caption"]
    (tmp_path / BLANK_CONDITIONING_FILE).unlink()  # a cache built before the text task
    with pytest.raises(DataError, match="predates the text-to-4D task"):
        LatentCacheDataset(tmp_path, task_ratios=TaskRatios(0, 0, 0, 1))[0]


def test_cache_build_resumes_and_empty_dir_raises(tmp_path):
    ds = ClipDataset(SyntheticSource(2, 5, 16, 32, seed=4), num_frames=5, height=16, width=32)
    calls = []

    def counting_encoder(video):
        calls.append(video.shape[0])
        return encode_video(video)

    written = []
    build_latent_cache(ds, tmp_path / "c", counting_encoder, encode_text, on_written=written.append)
    assert [p.name for p in written] == ["clip_0000000.safetensors", "clip_0000001.safetensors"]
    first = len(calls)
    build_latent_cache(ds, tmp_path / "c", counting_encoder, encode_text, on_written=written.append)
    assert len(written) == 2  # the resumed build wrote nothing
    assert len(calls) == first  # nothing re-encoded
    with pytest.raises(DataError, match="no cached samples"):
        LatentCacheDataset(tmp_path / "empty")
    # Per clip: RGB, pointmaps and the conditioning videos of the tasks that hide frames (the full-video
    # task's conditioning video is the RGB video, whose latents are reused); once per cache the black video.
    np.testing.assert_equal(first, 1 + 2 * (2 + len(FRAME_TASKS) - 1))


def encode_image(image: torch.Tensor) -> torch.Tensor:
    """Stand-in image encoder: (B, 3, H, W) -> (B, T, D) = 8 x 8 patch means as (H / 8 * W / 8, 3) tokens."""
    return F.avg_pool2d(image, 8).flatten(2).transpose(1, 2)


def test_image_embeds_of_the_first_frame(tmp_path):
    ds = ClipDataset(SyntheticSource(2, 5, 16, 32, seed=2), num_frames=5, height=16, width=32, seed=3)
    paths = build_latent_cache(ds, tmp_path / "img", encode_video, encode_text, encode_image=encode_image)
    for index, path in enumerate(paths):
        tensors, _ = read_cached_sample(path)
        first = ds[index]["rgb"][:, 0]
        assert tensors["image_embeds"].shape == (2 * 4, 3)
        assert_close(tensors["image_embeds"], encode_image(first[None])[0])
    cache = LatentCacheDataset(tmp_path / "img")
    for i, path in enumerate(paths):
        assert torch.equal(cache[i]["image_embeds"], read_cached_sample(path)[0]["image_embeds"])

    blank, _ = read_cached_sample(tmp_path / "img" / BLANK_CONDITIONING_FILE)
    assert_close(blank["image_embeds"], encode_image(torch.zeros(1, 3, 16, 32))[0])
    text = LatentCacheDataset(tmp_path / "img", task_ratios=TaskRatios(0, 0, 0, 1))[0]
    assert torch.equal(text["image_embeds"], blank["image_embeds"])  # no real first frame leaks in

    build_latent_cache(ds, tmp_path / "plain", encode_video, encode_text)
    assert "image_embeds" not in read_cached_sample(tmp_path / "plain" / "clip_0000000.safetensors")[0]
    assert "image_embeds" not in LatentCacheDataset(tmp_path / "plain")[0]
    # Resuming with an image encoder rebuilds the files that lack image embeddings.
    build_latent_cache(ds, tmp_path / "plain", encode_video, encode_text, encode_image=encode_image)
    assert LatentCacheDataset(tmp_path / "plain")[1]["image_embeds"].shape == (8, 3)


def test_parallel_shares_build_the_same_cache_as_one_process(tmp_path):
    ds = ClipDataset(SyntheticSource(3, 5, 16, 32, seed=6), num_frames=5, height=16, width=32, seed=1)
    whole = build_latent_cache(ds, tmp_path / "one", encode_video, encode_text)
    shares = [
        build_latent_cache(ds, tmp_path / "two", encode_video, encode_text, indices=range(r, 3, 2))
        for r in (0, 1)
    ]
    assert [p.name for p in shares[0]] == ["clip_0000000.safetensors", "clip_0000002.safetensors"]
    assert [p.name for p in shares[1]] == ["clip_0000001.safetensors"]
    for path in whole:
        expected, _ = read_cached_sample(path)
        got, _ = read_cached_sample(tmp_path / "two" / path.name)
        assert expected.keys() == got.keys()
        for key in expected:
            assert torch.equal(expected[key], got[key])
    with pytest.raises(IndexError, match="out of range"):
        build_latent_cache(ds, tmp_path / "bad", encode_video, encode_text, indices=[3])
