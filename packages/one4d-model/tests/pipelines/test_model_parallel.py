"""Inference on several processes (torchrun, gloo, CPU): CFG parallelism and diffusers' context parallelism
(Ulysses) give the latents of one process, for both DLC branches; what is not supported is refused clearly.

One torchrun launch of `parallel_worker.py` runs all two-rank cases; the single-process references are
computed here, in a process that never initialises torch.distributed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from diffusers.models._modeling_parallel import ContextParallelConfig
from one4d_model import build_one4d_transformer
from one4d_model.errors import ModelError
from one4d_model.models.configs import wan_config
from one4d_model.pipelines.parallel import CFGParallel, enable_context_parallel, init_inference_parallel
from one4d_model.testing import run_processes

WORKER = Path(__file__).with_name("parallel_worker.py")
TWO_RANK_CASES = ("cfg", "ulysses", "ulysses_channel", "ulysses_config", "ring_native")
ATOL = 1e-5


def _worker():
    spec = importlib.util.spec_from_file_location("one4d_parallel_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torchrun(out: Path, nproc: int, cases) -> list[dict]:
    run_processes([str(WORKER), str(out), *cases], nproc=nproc)
    return [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in range(nproc)]


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> list[dict]:
    return _torchrun(tmp_path_factory.mktemp("parallel"), 2, TWO_RANK_CASES)


@pytest.fixture(scope="module")
def one_process() -> dict:
    worker = _worker()
    return {coupling: worker.sample(worker.build_model(coupling)) for coupling in ("dlc", "channel")}


def _assert_matches(ranks: list[dict], key: str, reference) -> None:
    for rank, results in enumerate(ranks):
        for branch, got, want in zip(("rgb", "xyz"), results[key], reference, strict=True):
            assert got.shape == want.shape, (key, rank, branch)
            error = (got - want).abs().max().item()
            assert error <= ATOL, f"{key}, rank {rank}, {branch}: max difference {error:.3g}"
    # Every rank ends with the very same latents (any rank may write the outputs).
    for got in ranks[1:]:
        assert all(torch.equal(a, b) for a, b in zip(got[key], ranks[0][key], strict=True)), key


def test_cfg_parallel_matches_one_process(two_ranks, one_process):
    # Rank 0 ran only the conditional rows and rank 1 only the unconditional ones (caption replaced by the
    # negative prompt's states); the exchanged velocities give the guided latents of one process.
    _assert_matches(two_ranks, "cfg", one_process["dlc"])
    # The comparison can see a guidance mistake: without guidance the latents are far away.
    worker = _worker()
    unguided = worker.sample(worker.build_model(), guidance=1.0)
    assert (unguided[0] - one_process["dlc"][0]).abs().max() > 1e-2


def test_ulysses_context_parallel_matches_one_process(two_ranks, one_process):
    _assert_matches(two_ranks, "ulysses", one_process["dlc"])
    # The blocks really saw half the sequence: 2 CFG rows x 2 branches, 8 of the 16 tokens, on each rank.
    cfg = wan_config("tiny")
    dim = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    assert all(r["ulysses_block_input"] == torch.Size([4, 8, dim]) for r in two_ranks)


def test_ulysses_with_the_channel_baseline(two_ranks, one_process):
    _assert_matches(two_ranks, "ulysses_channel", one_process["channel"])
    assert all(r["ulysses_channel_block_input"][:2] == torch.Size([2, 8]) for r in two_ranks)


def test_a_plain_context_parallel_config_is_set_up_like_enable_parallelism(two_ranks, one_process):
    # ContextParallelConfig(ulysses_degree=2) with no mesh: enable_context_parallel builds it.
    _assert_matches(two_ranks, "ulysses_config", one_process["dlc"])
    assert all("already enabled" in r["twice_error"] for r in two_ranks)


def test_disabling_context_parallel_runs_the_whole_sequence_again(two_ranks, one_process):
    _assert_matches(two_ranks, "ulysses_disabled", one_process["dlc"])
    _assert_matches(two_ranks, "ulysses_channel_disabled", one_process["channel"])


def test_refusals_under_torchrun(two_ranks):
    for results in two_ranks:
        # 1 x 1 x 3 patches cannot be shared by 2 ranks: raised before any collective, on every rank.
        assert "3 tokens (1 x 1 x 3 patches) across 2 ranks" in results["indivisible_error"]
        # diffusers' ring attention merges partial results by log-sum-exp, which SDPA ("native") lacks.
        assert "log-sum-exp" in results["ring_native_error"] and "'native'" in results["ring_native_error"]


def test_single_process_refusals(monkeypatch):
    assert not torch.distributed.is_initialized()
    with pytest.raises(ModelError, match="not initialised"):
        CFGParallel()
    single = init_inference_parallel()  # nothing asked for: no process group
    assert (single.world_size, single.cfg, single.context) == (1, None, None)
    assert not torch.distributed.is_initialized()
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ModelError, match="torchrun --nproc-per-node 2"):
        init_inference_parallel(cfg_parallel=True)

    torch.manual_seed(0)
    spatial = build_one4d_transformer("tiny", lora_rank=1, coupling="spatial")
    with pytest.raises(ModelError, match="spatial"):
        enable_context_parallel(spatial, ContextParallelConfig(ulysses_degree=2))
    model = build_one4d_transformer("tiny", lora_rank=1, num_links=1)
    with pytest.raises(ModelError, match="2 heads"):
        enable_context_parallel(model, ContextParallelConfig(ulysses_degree=4))
    with pytest.raises(ModelError, match="log-sum-exp"):
        enable_context_parallel(model, ContextParallelConfig(ring_degree=2))
    assert model.base._parallel_config is None  # nothing was applied


@pytest.mark.slow
def test_cfg_times_ulysses_on_four_ranks(tmp_path, one_process):
    """CFG degree 2 x Ulysses degree 2 on a ("cfg", "ring", "ulysses") mesh of 4 gloo processes."""
    _assert_matches(_torchrun(tmp_path, 4, ["cfg_ulysses"]), "cfg_ulysses", one_process["dlc"])
