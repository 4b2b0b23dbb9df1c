"""Throughput of clip generation, reading and cached-latent loading at the paper's training shape."""

import time

import numpy as np
import pytest
import torch
from one4d_data.dataset import ClipDataset, SyntheticSource
from one4d_data.latent_cache import LatentCacheDataset, write_cached_sample
from one4d_data.readers import load_sequence, write_folder
from one4d_data.synthetic import make_clip
from one4d_data.umc import TASKS

FRAMES, HEIGHT, WIDTH = 81, 352, 624
LATENT_SHAPE = (16, 21, 44, 78)


class _CpuTimer:
    """Wraps a function and sums its process CPU time: a figure that holds up on a busy shared machine."""

    def __init__(self, fn):
        self.fn, self.cpu, self.calls = fn, 0.0, 0

    def __call__(self):
        start = time.process_time()
        result = self.fn()
        self.cpu += time.process_time() - start
        self.calls += 1
        return result


def _report(benchmark, name: str, timer: _CpuTimer) -> None:
    seconds = benchmark.stats.stats.mean
    cpu = timer.cpu / max(timer.calls, 1)
    benchmark.extra_info.update({f"{name}_seconds": seconds, f"{name}_per_second": 1.0 / seconds})
    benchmark.extra_info[f"{name}_cpu_seconds"] = cpu
    print(
        f"\n{name}: {seconds * 1e3:.1f} ms wall, {cpu * 1e3:.1f} ms CPU per sample, "
        f"{1.0 / seconds:.2f} per second"
    )


def test_bench_synthetic_clip(benchmark):
    seeds = iter(range(1000))
    timer = _CpuTimer(lambda: make_clip(next(seeds), FRAMES, HEIGHT, WIDTH))
    clip = benchmark.pedantic(timer, rounds=3, iterations=1)
    assert clip.rgb.shape == (FRAMES, HEIGHT, WIDTH, 3)
    _report(benchmark, "synthetic_clip_81x352x624", timer)


def test_bench_small_synthetic_clip(benchmark):
    seeds = iter(range(100000))
    timer = _CpuTimer(lambda: make_clip(next(seeds), 9, 32, 48))
    clip = benchmark.pedantic(timer, rounds=50, iterations=1)
    assert clip.rgb.shape == (9, 32, 48, 3)
    _report(benchmark, "synthetic_clip_9x32x48", timer)


@pytest.mark.parametrize("depth_format", ["npy", "png"])
def test_bench_folder_reader(benchmark, tmp_path, depth_format):
    write_folder(make_clip(0, FRAMES, HEIGHT, WIDTH), tmp_path / "seq", depth_format=depth_format)
    timer = _CpuTimer(lambda: load_sequence("folder", tmp_path / "seq"))
    clip = benchmark.pedantic(timer, rounds=3, iterations=1)
    assert clip.rgb.shape == (FRAMES, HEIGHT, WIDTH, 3)
    _report(benchmark, f"folder_reader_{depth_format}_81x352x624", timer)


def test_bench_dataset_item(benchmark):
    dataset = ClipDataset(
        SyntheticSource(100, FRAMES, HEIGHT, WIDTH), num_frames=FRAMES, height=HEIGHT, width=WIDTH
    )
    indices = iter(range(100))
    timer = _CpuTimer(lambda: dataset[next(indices)])
    item = benchmark.pedantic(timer, rounds=2, iterations=1)
    assert item["xyz"].shape == (3, FRAMES, HEIGHT, WIDTH)
    _report(benchmark, "clip_dataset_item_synthetic_81x352x624", timer)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_bench_cached_latent_sample(benchmark, tmp_path, dtype):
    gen = torch.Generator().manual_seed(0)
    for i in range(4):
        tensors = {
            "rgb_latents": torch.randn(LATENT_SHAPE, generator=gen).to(dtype),
            "xyz_latents": torch.randn(LATENT_SHAPE, generator=gen).to(dtype),
            "text_embeds": torch.randn(512, 4096, generator=gen).to(dtype),
            "norm_center": torch.zeros(3),
            "norm_scale": torch.tensor(1.0),
        }
        for task in TASKS:
            tensors[f"cond_latents_{task}"] = torch.randn(LATENT_SHAPE, generator=gen).to(dtype)
            tensors[f"frame_mask_{task}"] = torch.ones(FRAMES)
        write_cached_sample(tmp_path / f"clip_{i:07d}.safetensors", tensors, {"caption": "a scene"})
    dataset = LatentCacheDataset(tmp_path)
    indices = iter(np.arange(1000) % 4)
    timer = _CpuTimer(lambda: dataset[int(next(indices))])
    item = benchmark.pedantic(timer, rounds=20, iterations=1)
    assert item["rgb_latents"].shape == LATENT_SHAPE
    _report(benchmark, f"cached_latent_sample_{str(dtype).split('.')[-1]}", timer)
