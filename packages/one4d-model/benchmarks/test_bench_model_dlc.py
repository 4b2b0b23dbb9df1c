"""DLC training-step cost against the plain base model and against the coupling baselines.

CPU: `uv run --frozen pytest packages/one4d-model/benchmarks --benchmark-only -s`.
GPU (marked gpu): forward + backward at a mid-size config with `_native_flash` vs `native` attention.
"""

from __future__ import annotations

import copy
import statistics
import time

import pytest
import torch
from diffusers import WanTransformer3DModel
from one4d_model import One4DTransformer, wan_config
from one4d_model.testing import make_tiny_inputs

# A small model with the paper's LoRA-rank-to-width ratio (64 / 5120 ~ 4 / 256).
SMALL = {
    **wan_config("tiny"),
    "num_attention_heads": 4,
    "attention_head_dim": 64,
    "ffn_dim": 1024,
    "text_dim": 64,
    "image_dim": 64,
    "added_kv_proj_dim": 256,
    "freq_dim": 64,
}
LATENT = {"frames": 3, "height": 32, "width": 32}  # 768 tokens per branch
LINK_BLOCKS = [3]  # 1 link in 4 blocks (the paper: 5 in 40)
ROUNDS = 3


@pytest.fixture
def one_thread():
    """Time on one thread: OpenMP threads on a shared, oversubscribed CPU make timings meaningless."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _inputs(config, batch=1, dtype=torch.float32, device="cpu", **latent):
    inp = make_tiny_inputs(batch=batch, dtype=dtype, **(latent or LATENT))
    text, image = inp["encoder_hidden_states"], inp["encoder_hidden_states_image"]
    inp["encoder_hidden_states"] = torch.randn(*text.shape[:2], config["text_dim"], dtype=dtype)
    inp["encoder_hidden_states_image"] = torch.randn(*image.shape[:2], config["image_dim"], dtype=dtype)
    return {k: v.to(device) for k, v in inp.items()}


def _models(config, couplings=("dlc",), rank=4, device="cpu", dtype=torch.float32, link_blocks=LINK_BLOCKS):
    torch.manual_seed(0)
    with torch.device(device):
        base = WanTransformer3DModel(**config).to(dtype)
    stock = copy.deepcopy(base).requires_grad_(False)
    models = {}
    for coupling in couplings:
        models[coupling] = One4DTransformer(
            copy.deepcopy(base), coupling=coupling, lora_rank=rank, link_blocks=link_blocks
        ).train()
    return stock, models


def _dlc_step(model, inp):
    def step():
        model.zero_grad(set_to_none=True)
        out = model(**inp)
        (out.rgb.float().square().mean() + out.xyz.float().square().mean()).backward()

    return step


def _base_step(stock, inp):
    """The plain base on 2B rows (RGB input + XYZ-as-RGB input), backward to its inputs (weights frozen)."""
    rgb_in = torch.cat([inp["rgb_latents"], inp["cond_mask"], inp["cond_latents"]], dim=1)
    xyz_in = torch.cat([inp["xyz_latents"], torch.zeros_like(inp["cond_mask"]), inp["cond_latents"]], dim=1)
    hidden = torch.cat([rgb_in, xyz_in]).requires_grad_(True)
    ctx = [
        torch.cat([inp[k], inp[k]])
        for k in ("timestep", "encoder_hidden_states", "encoder_hidden_states_image")
    ]

    def step():
        hidden.grad = None
        stock(hidden, *ctx).sample.float().square().mean().backward()

    return step


def _interleaved_medians(fn_a, fn_b, rounds=ROUNDS, warmup=1):
    """Median seconds of two functions timed alternately (robust to load drifting on a shared machine)."""
    for _ in range(warmup):
        fn_a()
        fn_b()
    times_a, times_b = [], []
    for _ in range(rounds):
        for fn, times in ((fn_a, times_a), (fn_b, times_b)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(times_a), statistics.median(times_b)


def test_bench_dlc_step_vs_base_at_batch_2b(benchmark, one_thread):
    stock, models = _models(SMALL)
    inp = _inputs(SMALL)
    dlc_step = _dlc_step(models["dlc"], inp)
    dlc_s, base_s = _interleaved_medians(dlc_step, _base_step(stock, inp))
    benchmark.pedantic(dlc_step, rounds=1, iterations=1)
    ratio = dlc_s / base_s
    benchmark.extra_info.update({"dlc_s": dlc_s, "base_2b_s": base_s, "dlc_over_base_2b": ratio})
    print(f"\nDLC step / plain base step at batch 2B (CPU 1 thread, fwd+bwd): {ratio:.3f}x (target <= 1.25x)")


@pytest.mark.parametrize("coupling", ["spatial", "channel"])
def test_bench_baseline_vs_dlc_at_equal_tokens(benchmark, one_thread, coupling):
    _, models = _models(SMALL, couplings=("dlc", coupling))
    inp = _inputs(SMALL)
    step = _dlc_step(models[coupling], inp)
    coupling_s, dlc_s = _interleaved_medians(step, _dlc_step(models["dlc"], inp))
    benchmark.pedantic(step, rounds=1, iterations=1)
    ratio = coupling_s / dlc_s
    benchmark.extra_info.update({f"{coupling}_s": coupling_s, "dlc_s": dlc_s, f"{coupling}_over_dlc": ratio})
    print(f"\n{coupling} step / DLC step at equal tokens (CPU 1 thread, fwd+bwd): {ratio:.3f}x")


# Mid-size: the 1.3B width with 8 blocks, 17 frames at 240 x 416 (5 x 15 x 26 = 1950 tokens per branch).
MID = {**wan_config("wan2.1-fun-1.3b-inp"), "num_layers": 8}
MID_LATENT = {"frames": 5, "height": 30, "width": 52}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bench_gpu_native_flash_vs_native(benchmark):
    _, models = _models(MID, rank=64, device="cuda", dtype=torch.bfloat16, link_blocks=None)
    model = models["dlc"]
    model.enable_gradient_checkpointing()
    inp = _inputs(MID, dtype=torch.bfloat16, device="cuda", **MID_LATENT)
    step = _dlc_step(model, inp)

    def synced():
        step()
        torch.cuda.synchronize()

    def with_backend(name):
        def run():
            model.set_attention_backend(name)
            synced()

        return run

    flash_s, native_s = _interleaved_medians(with_backend("_native_flash"), with_backend("native"))
    benchmark.pedantic(with_backend("_native_flash"), rounds=1, iterations=1)
    ratio = flash_s / native_s
    name = torch.cuda.get_device_name()
    benchmark.extra_info.update(
        {"device": name, "native_s": native_s, "native_flash_s": flash_s, "native_flash_over_native": ratio}
    )
    print(f"\n{name}: DLC fwd+bwd _native_flash / native = {ratio:.3f}x (native {native_s:.3f} s)")
