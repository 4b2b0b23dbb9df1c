"""The `one4d-14b` training step at the paper's shape (81 x 352 x 624) on one GPU, random base weights.

Reports seconds per optimizer step (forward + backward of both branches, AdamW over the 981 M trainable
parameters) and peak GPU memory, with and without gradient checkpointing. Without checkpointing the
activations of 40 blocks x 2 x 18,018 tokens do not fit in 80 GB; that outcome is recorded, not hidden.
"""

from __future__ import annotations

import time

import pytest
import torch

FRAMES, HEIGHT, WIDTH = 81, 352, 624
LATENT = (16, 21, HEIGHT // 8, WIDTH // 8)


def _materialise_14b(gradient_checkpointing: bool):
    """Build on `meta` (nothing allocated), then allocate on the GPU: base bf16, trainable fp32."""
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed
    from one4d_model import build_one4d_transformer

    model = build_one4d_transformer(
        "wan2.1-fun-14b-inp",
        device="meta",
        dtype=torch.bfloat16,
        gradient_checkpointing=gradient_checkpointing,
        attention_backend="_native_flash",
    )
    model = model.to_empty(device="cuda")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.data = torch.empty_like(param, dtype=torch.float32)
            if "lora_B" in name or name.startswith("links."):
                param.zero_()
            else:
                param.normal_(0.0, 0.02)
        cfg = model.base.config
        rope = WanRotaryPosEmbed(cfg.attention_head_dim, cfg.patch_size, cfg.rope_max_seq_len)
        for name, buffer in rope.named_buffers():
            getattr(model.base.rope, name).copy_(buffer)
    return model


def _inputs(model):
    gen = torch.Generator(device="cuda").manual_seed(0)
    cfg = model.base.config

    def rand(*shape, dtype=torch.bfloat16):
        return torch.randn(*shape, generator=gen, device="cuda", dtype=dtype)

    mask = torch.zeros(1, 4, *LATENT[1:], device="cuda", dtype=torch.bfloat16)
    mask[:, :, 0] = 1
    return {
        "rgb": rand(1, *LATENT),
        "xyz": rand(1, *LATENT),
        "cond": rand(1, *LATENT),
        "mask": mask,
        "text": rand(1, 512, cfg.text_dim),
        "image": rand(1, 257, cfg.image_dim),
    }


def _step_fn(model, optimizer, inputs):
    from one4d_model.pipelines.flow_matching import add_noise, velocity_target

    sigma = torch.full((1,), 0.6, device="cuda")
    noise_rgb, noise_xyz = torch.randn_like(inputs["rgb"]), torch.randn_like(inputs["xyz"])

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(
                add_noise(inputs["rgb"], noise_rgb, sigma),
                add_noise(inputs["xyz"], noise_xyz, sigma),
                inputs["cond"],
                inputs["mask"],
                sigma * 1000,
                inputs["text"],
                inputs["image"],
            )
            loss = (out.rgb.float() - velocity_target(inputs["rgb"], noise_rgb).float()).pow(2).mean()
            loss = loss + (out.xyz.float() - velocity_target(inputs["xyz"], noise_xyz).float()).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()

    return step


@pytest.mark.gpu
@pytest.mark.parametrize("checkpointing", [True, False], ids=["grad-ckpt", "no-ckpt"])
def test_bench_one4d_14b_train_step(benchmark, checkpointing):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = _materialise_14b(checkpointing)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    inputs = _inputs(model)
    step = _step_fn(model, optimizer, inputs)
    name = torch.cuda.get_device_name()
    info = {
        "device": name,
        "gradient_checkpointing": checkpointing,
        "trainable": sum(p.numel() for p in params),
    }
    try:
        step()  # warm-up (allocates optimizer state)
        start = time.perf_counter()
        benchmark.pedantic(step, rounds=2, iterations=1)
        seconds = (time.perf_counter() - start) / 2
        peak = torch.cuda.max_memory_allocated() / 2**30
        info.update({"seconds_per_step": seconds, "peak_memory_gib": peak})
        print(
            f"\n{name}: one4d-14b step 81x352x624, checkpointing={checkpointing}: "
            f"{seconds:.2f} s, peak {peak:.1f} GiB"
        )
    except torch.OutOfMemoryError:
        peak = torch.cuda.max_memory_allocated() / 2**30
        info.update({"out_of_memory": True, "peak_memory_gib_before_oom": peak})
        print(f"\n{name}: one4d-14b step, checkpointing={checkpointing}: out of memory (peak {peak:.1f} GiB)")
        benchmark.extra_info.update(info)
        del model, optimizer, params, inputs
        torch.cuda.empty_cache()
        if checkpointing:
            raise
        pytest.xfail("without gradient checkpointing the paper-shape step does not fit in GPU memory")
    benchmark.extra_info.update(info)
    del model, optimizer, params, inputs
    torch.cuda.empty_cache()
