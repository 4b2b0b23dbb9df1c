"""Run under torchrun by test_model_parallel.py (not a test module): parallel sampling cases on the tiny DLC
model, each rank saving its latents and the errors it met to OUT/rank<r>.pt.

    python -m torch.distributed.run --nproc-per-node 2 parallel_worker.py OUT cfg ulysses ...
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from diffusers.models._modeling_parallel import ContextParallelConfig
from one4d_model import build_one4d_transformer
from one4d_model.errors import ModelError
from one4d_model.pipelines.parallel import (
    disable_context_parallel,
    enable_context_parallel,
    init_inference_parallel,
)
from one4d_model.pipelines.sampling import SamplerConfig, sample_joint
from one4d_model.testing import make_tiny_inputs, perturb_

SAMPLER = SamplerConfig(num_steps=3, guidance_scale=3.0)


def build_model(coupling: str = "dlc") -> torch.nn.Module:
    """The tiny model with non-zero LoRA, links and XYZ heads (identical in every process)."""
    torch.manual_seed(0)
    model = build_one4d_transformer("tiny", lora_rank=4, num_links=2, coupling=coupling).eval()
    for i, params in enumerate(model.trainable_groups().values()):
        perturb_(params, seed=i)
    return model


def sample(
    model, frames: int = 2, height: int = 4, width: int = 8, parallel=None, guidance: float | None = None
):
    """sample_joint on fixed tiny inputs (a 2 x 2 x 4 = 16-token patch grid by default) -> (rgb, xyz)."""
    x = make_tiny_inputs(batch=1, frames=frames, height=height, width=width, seed=3)
    negative = torch.randn(x["encoder_hidden_states"].shape, generator=torch.Generator().manual_seed(4))
    config = (
        SAMPLER if guidance is None else SamplerConfig(num_steps=SAMPLER.num_steps, guidance_scale=guidance)
    )
    out = sample_joint(
        model,
        x["cond_latents"],
        x["cond_mask"],
        x["encoder_hidden_states"],
        x["encoder_hidden_states_image"],
        negative,
        config=config,
        generator=torch.Generator().manual_seed(0),
        parallel=parallel,
    )
    return out.rgb, out.xyz


def _error(fn, *args, **kwargs) -> str | None:
    try:
        fn(*args, **kwargs)
    except ModelError as error:
        return str(error)
    return None


def run_cfg(results: dict) -> None:
    """CFG parallelism: the conditional rows on rank 0, the unconditional ones on rank 1."""
    par = init_inference_parallel(cfg_parallel=True)
    results["cfg"] = sample(build_model(), parallel=par)


def run_ulysses(results: dict, coupling: str = "dlc") -> None:
    """Context parallelism from init_inference_parallel; then a bad token count; then disabled again."""
    key = "ulysses" if coupling == "dlc" else f"ulysses_{coupling}"
    par = init_inference_parallel(ulysses_degree=2)
    model = par.apply(build_model(coupling))
    seen = []  # the shape of the tokens a block gets on this rank: half the sequence
    handle = model.base.blocks[1].register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    results[key] = sample(model, parallel=par)
    handle.remove()
    results[f"{key}_block_input"] = seen[0]
    # A token count the degree does not divide (1 x 1 x 3 patches): a clear error, on every rank.
    results["indivisible_error"] = _error(sample, model, frames=1, height=2, width=6)
    disable_context_parallel(model)
    results[f"{key}_disabled"] = sample(model)


def run_ulysses_config(results: dict) -> None:
    """A fresh ContextParallelConfig (no mesh), set up by enable_context_parallel; enabling twice fails."""
    model = build_model()
    enable_context_parallel(model, ContextParallelConfig(ulysses_degree=2))
    results["ulysses_config"] = sample(model)
    results["twice_error"] = _error(enable_context_parallel, model, ContextParallelConfig(ulysses_degree=2))


def run_ring_native(results: dict) -> None:
    """Ring attention on the native backend: refused with a clear error."""
    par = init_inference_parallel(ring_degree=2)
    results["ring_native_error"] = _error(par.apply, build_model())


def run_cfg_ulysses(results: dict) -> None:
    """4 ranks: CFG 2 x Ulysses 2."""
    par = init_inference_parallel(cfg_parallel=True, ulysses_degree=2)
    results["cfg_ulysses"] = sample(par.apply(build_model()), parallel=par)


CASES = {
    "cfg": run_cfg,
    "ulysses": run_ulysses,
    "ulysses_channel": lambda results: run_ulysses(results, "channel"),
    "ulysses_config": run_ulysses_config,
    "ring_native": run_ring_native,
    "cfg_ulysses": run_cfg_ulysses,
}


def main(out_dir: str, cases: list[str]) -> None:
    if not cases or cases[0] == "ulysses_config":
        raise SystemExit("give cases; ulysses_config needs the process group another case initialises")
    results: dict[str, object] = {}
    for case in cases:
        CASES[case](results)
    torch.save(results, Path(out_dir) / f"rank{dist.get_rank()}.pt")
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1], sys.argv[2:])
