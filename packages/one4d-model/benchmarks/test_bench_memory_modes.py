"""Peak GPU memory and time of `One4DPipeline` in each memory mode (`one4d_model.pipelines.memory`).

GPU (marked gpu, `uv run nox -s bench_gpu`): the 14B config at 81 x 352 x 624 in bf16, random weights, a Wan
VAE of Wan's own size (random), full-video task with guidance (two rows per step), two sampling steps; the
text and image encoders are the tiny stand-ins with the 14B widths (umT5-XXL and CLIP ViT-H cannot be built
without their weights here), so `full` lacks their ~12 GB. Prints one line per mode: peak GiB, seconds per
step and seconds for VAE encode + decode.
CPU: the same function on the tiny config, so the code path is checked where no GPU is.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from one4d_model.pipelines.memory import MEMORY_MODES


def _pipeline(variant: str, device: str, dtype: torch.dtype, memory: str):
    from diffusers import AutoencoderKLWan
    from one4d_model import One4DPipeline, build_one4d_transformer
    from one4d_model.models.tiny_encoders import TinyImageEncoder, TinyTextEncoder
    from one4d_model.models.vae import TINY_VAE_CONFIG, VideoVAE

    torch.manual_seed(0)
    model = build_one4d_transformer(variant, device="meta", dtype=dtype, attention_backend="native")
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name or name.startswith("links."):
                param.zero_()
            else:
                param.normal_(0.0, 0.02)
        for _, buffer in model.named_buffers():
            buffer.zero_()  # the only buffers are RoPE's, filled below
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    cfg = model.base.config
    rope = WanRotaryPosEmbed(cfg.attention_head_dim, cfg.patch_size, cfg.rope_max_seq_len)
    for name, buffer in rope.named_buffers():
        getattr(model.base.rope, name).copy_(buffer)
    vae_config = TINY_VAE_CONFIG if variant == "tiny" else {}
    vae = VideoVAE(AutoencoderKLWan(**vae_config).to(dtype)).eval()
    text, image = TinyTextEncoder(cfg.text_dim), TinyImageEncoder(cfg.image_dim)
    pipe = One4DPipeline(model, vae, text, image, device=device, memory=memory)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def measure(variant: str, size: tuple[int, int, int], device: str, dtype: torch.dtype) -> dict[str, dict]:
    frames = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    rows = {}
    for memory in MEMORY_MODES:
        pipe = _pipeline(variant, device, dtype, memory)
        cuda = torch.device(device).type == "cuda"
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        steps = []
        start = time.perf_counter()

        def step_end(pipe, step, timestep, kwargs, cuda=cuda, steps=steps):
            if cuda:
                torch.cuda.synchronize()
            steps.append(time.perf_counter())
            return {}

        out = pipe(
            frames,
            task="full_video",
            num_inference_steps=2,
            guidance_scale=6.0,
            callback_on_step_end=step_end,
        )
        total = time.perf_counter() - start
        per_step = steps[1] - steps[0]  # the second step: no first-call warm-up in it
        rows[memory] = {
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan"),
            "s_per_step": per_step,
            "s_outside_sampling": total - len(steps) * per_step,  # encoders, VAE, transfers, decoding
            "frames": out.frames.shape,
        }
        del pipe, out
        if cuda:
            torch.cuda.empty_cache()
    for memory, row in rows.items():
        print(
            f"memory={memory}: peak {row['peak_gib']:.1f} GiB, {row['s_per_step']:.2f} s/step, "
            f"{row['s_outside_sampling']:.1f} s encode/decode and transfers"
        )
    return rows


def test_bench_memory_modes_tiny_cpu(benchmark):
    rows = benchmark.pedantic(
        measure, args=("tiny", (5, 32, 48), "cpu", torch.float32), rounds=1, iterations=1
    )
    assert set(rows) == set(MEMORY_MODES) and all(r["frames"] == (5, 32, 48, 3) for r in rows.values())


@pytest.mark.gpu
def test_bench_gpu_memory_modes_14b(benchmark):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    rows = benchmark.pedantic(
        measure, args=("wan2.1-fun-14b-inp", (81, 352, 624), "cuda", torch.bfloat16), rounds=1, iterations=1
    )
    benchmark.extra_info.update({m: {k: v for k, v in r.items() if k != "frames"} for m, r in rows.items()})
    assert rows["sequential"]["peak_gib"] < rows["full"]["peak_gib"]
