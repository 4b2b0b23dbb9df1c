"""Several processes at inference (torchrun): classifier-free-guidance parallelism and diffusers' context
(sequence) parallelism, for both DLC branches.

- CFG parallelism (`CFGParallel`, used by `sampling.sample_joint(..., parallel=...)`): of a pair of ranks,
  rank 0 computes the conditional rows and rank 1 the unconditional ones; the velocities are exchanged with
  `torch.distributed.all_gather_into_tensor`, so both ranks apply the same guidance to the same latents.
- Context parallelism (`enable_context_parallel`): diffusers' `apply_context_parallel` hooks with a plan for
  `One4DTransformer` (the wrapped `WanTransformer3DModel` carries a plan for its own forward, which ours does
  not call): the RoPE tables and the first block's tokens are split along the sequence, every block's
  self-attention runs diffusers' Ulysses (all-to-all) or ring (all-gather) attention, and the tokens are
  gathered at both output heads (`base.proj_out` for RGB, `xyz_proj_out` for XYZ). Everything else between
  (LoRA, the DLC control links, the output norm) acts token by token; cross-attention keeps the whole text
  and image context on every rank (Wan's processor passes no parallel config for it).

Attention backends (`one4d_model.models.attention`) under context parallelism:
  - "native" (SDPA; CPU and CUDA): Ulysses only. diffusers' ring attention merges partial results with their
    log-sum-exp, which the native backend cannot return; ring (and ring x Ulysses) is refused here.
  - "_native_cudnn", "_native_flash", "flash" (CUDA): Ulysses and ring (diffusers' own support).
  - "xformers": no context parallelism in diffusers.

`init_inference_parallel` joins torchrun's process group and lays the ranks out on a ("cfg", "ring",
"ulysses") device mesh, so CFG parallelism (degree 2) and context parallelism combine (world = 2 x CP).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from diffusers.hooks.context_parallel import apply_context_parallel, remove_context_parallel
from diffusers.models._modeling_parallel import (
    ContextParallelConfig,
    ContextParallelInput,
    ContextParallelModelPlan,
    ContextParallelOutput,
    ParallelConfig,
)
from diffusers.models.attention import AttentionModuleMixin
from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry
from diffusers.models.attention_processor import Attention
from torch.distributed.device_mesh import init_device_mesh

from ..errors import ModelError
from ..models.transformer import One4DTransformer

# Backends whose forward op returns the log-sum-exp that diffusers' ring attention needs.
RING_BACKENDS: tuple[str, ...] = ("_native_cudnn", "_native_flash", "flash")
CP_COUPLINGS: tuple[str, ...] = ("dlc", "channel")

ONE4D_CP_PLAN: dict[str, ContextParallelModelPlan] = {
    # The RoPE tables (1, S, 1, d): split after they are computed from the full latent grid.
    "base.rope": {
        0: ContextParallelInput(split_dim=1, expected_dims=4, split_output=True),
        1: ContextParallelInput(split_dim=1, expected_dims=4, split_output=True),
    },
    # The tokens (2B rows under DLC: RGB then XYZ), split where they enter the first block.
    "base.blocks.0": {"hidden_states": ContextParallelInput(split_dim=1, expected_dims=3)},
    # Gathered again at both output heads, before unpatchify.
    "base.proj_out": ContextParallelOutput(gather_dim=1, expected_dims=3),
    "xyz_proj_out": ContextParallelOutput(gather_dim=1, expected_dims=3),
}
"""Where diffusers' hooks split and gather One4DTransformer's token sequence (cf. WanTransformer3DModel's
`_cp_plan`, whose entry points our forward bypasses)."""


def _require_distributed() -> None:
    if not dist.is_available() or not dist.is_initialized():
        raise ModelError(
            "torch.distributed is not initialised: launch with torchrun (init_inference_parallel)"
        )


def _broadcast_(tensor: torch.Tensor, group: dist.ProcessGroup | None) -> torch.Tensor:
    """Overwrite `tensor` with the first rank's of `group`, in place."""
    group = group or dist.group.WORLD
    dist.broadcast(tensor, src=dist.get_global_rank(group, 0), group=group)
    return tensor


class CFGParallel:
    """Classifier-free guidance over a pair of ranks: rank 0 of `group` the conditional rows, rank 1 the
    unconditional rows; `exchange` gives both ranks both velocities."""

    def __init__(self, group: dist.ProcessGroup | None = None) -> None:
        _require_distributed()
        self.group = group or dist.group.WORLD
        self.world_size = dist.get_world_size(self.group)
        if self.world_size != 2:
            raise ModelError(
                f"CFG parallelism needs a group of exactly 2 ranks (conditional, unconditional), got "
                f"{self.world_size}; lay larger worlds out with init_inference_parallel (CFG x context)"
            )
        self.rank = dist.get_rank(self.group)

    @property
    def cfg(self) -> CFGParallel:
        return self

    @property
    def conditional(self) -> bool:
        """Whether this rank computes the conditional rows."""
        return self.rank == 0

    def exchange(self, velocity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's velocity rows -> (conditional, unconditional), identical on both ranks."""
        velocity = velocity.contiguous()
        gathered = velocity.new_empty((2 * velocity.shape[0], *velocity.shape[1:]))
        dist.all_gather_into_tensor(gathered, velocity, group=self.group)
        conditional, unconditional = gathered.chunk(2)
        return conditional, unconditional

    def sync_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Make `tensor` (e.g. the initial noise) rank 0's on both ranks, in place."""
        return _broadcast_(tensor, self.group)


@dataclass
class InferenceParallel:
    """What `init_inference_parallel` set up: pass it to `sample_joint(parallel=...)` (CFG rows, noise
    sync) and `apply` it to the transformer (context parallelism)."""

    rank: int
    world_size: int
    device: torch.device
    cfg: CFGParallel | None = None
    context: ContextParallelConfig | None = None
    group: dist.ProcessGroup | None = None  # every rank that works on the same sample

    @property
    def is_main(self) -> bool:
        """Rank 0, the one that writes outputs (all ranks end with the same latents)."""
        return self.rank == 0

    def apply(self, transformer: One4DTransformer) -> One4DTransformer:
        """Enable context parallelism on `transformer` (nothing to do without it)."""
        if self.context is not None:
            enable_context_parallel(transformer, self.context)
        return transformer

    def sync_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Make `tensor` rank 0's on every rank, in place (the noise must be identical everywhere)."""
        if self.world_size > 1:
            _broadcast_(tensor, self.group)
        return tensor


def init_inference_parallel(
    cfg_parallel: bool = False,
    ring_degree: int = 1,
    ulysses_degree: int = 1,
    backend: str | None = None,
) -> InferenceParallel:
    """Join torchrun's process group (gloo on the CPU, nccl on CUDA, unless `backend` says otherwise) and set
    up CFG parallelism (2 ranks) and/or context parallelism (ring_degree x ulysses_degree ranks).

    The world size must be (2 if cfg_parallel else 1) x ring_degree x ulysses_degree. Without any
    parallelism asked for, nothing is initialised and a single-process `InferenceParallel` is returned.
    """
    if ring_degree < 1 or ulysses_degree < 1:
        raise ModelError(f"ring_degree and ulysses_degree must be >= 1, got {ring_degree}, {ulysses_degree}")
    cfg_degree = 2 if cfg_parallel else 1
    needed = cfg_degree * ring_degree * ulysses_degree
    use_cuda = torch.cuda.is_available() if backend is None else backend != "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if needed == 1:
        return InferenceParallel(rank=0, world_size=1, device=device)
    if not dist.is_initialized():
        if "WORLD_SIZE" not in os.environ:
            raise ModelError(f"{needed} processes are needed: launch with torchrun --nproc-per-node {needed}")
        dist.init_process_group(backend=backend or ("nccl" if use_cuda else "gloo"))
    rank, world_size = dist.get_rank(), dist.get_world_size()
    if world_size != needed:
        raise ModelError(
            f"world size {world_size} does not match the parallelism asked for: CFG {cfg_degree} x ring "
            f"{ring_degree} x Ulysses {ulysses_degree} = {needed} ranks"
        )
    mesh = init_device_mesh(
        device.type, (cfg_degree, ring_degree, ulysses_degree), mesh_dim_names=("cfg", "ring", "ulysses")
    )
    cfg = CFGParallel(mesh.get_group("cfg")) if cfg_parallel else None
    context = None
    if ring_degree * ulysses_degree > 1:
        # diffusers' config takes a mesh with "ring" and "ulysses" dimensions among others.
        context = ContextParallelConfig(ring_degree=ring_degree, ulysses_degree=ulysses_degree, mesh=mesh)
        context.setup(rank, world_size, device, mesh)
    return InferenceParallel(
        rank=rank, world_size=world_size, device=device, cfg=cfg, context=context, group=dist.group.WORLD
    )


def _attention_modules(transformer: One4DTransformer):
    for module in transformer.base.modules():
        if isinstance(module, (Attention, AttentionModuleMixin)) and getattr(module, "processor", None):
            yield module


def _check_backends(transformer: One4DTransformer, config: ContextParallelConfig) -> None:
    for module in _attention_modules(transformer):
        name = getattr(module.processor, "_attention_backend", None)
        backend = AttentionBackendName(name) if name is not None else None
        if backend is None:
            backend, _ = _AttentionBackendRegistry.get_active_backend()
        if not _AttentionBackendRegistry._is_context_parallel_available(backend):
            raise ModelError(
                f"attention backend {backend.value!r} does not support context parallelism; use 'native' "
                f"(Ulysses) or one of {list(RING_BACKENDS)} (ring or Ulysses, CUDA)"
            )
        if config.ring_degree > 1 and backend.value not in RING_BACKENDS:
            raise ModelError(
                f"ring attention (ring_degree={config.ring_degree}) needs an attention backend that returns "
                f"the log-sum-exp, one of {list(RING_BACKENDS)} (CUDA); {backend.value!r} supports Ulysses "
                "only (ContextParallelConfig(ulysses_degree=...))"
            )


def _setup_config(transformer: One4DTransformer, config: ContextParallelConfig) -> None:
    """What diffusers' ModelMixin._resolve_parallel_config does, on the transformer's own device type (its
    version takes the accelerator's, and divides by a device count of 0 on a CPU-only machine)."""
    _require_distributed()
    device = next(transformer.parameters()).device
    mesh = config.mesh or init_device_mesh(
        device.type, config.mesh_shape, mesh_dim_names=config.mesh_dim_names
    )
    config.setup(dist.get_rank(), dist.get_world_size(), device, mesh)


def _token_check_hook(degree: int):
    def check(module: One4DTransformer, args: tuple, kwargs: dict) -> None:
        latents = args[0] if args else kwargs["rgb_latents"]
        f, h, w = (n // p for n, p in zip(latents.shape[2:], module.config.patch_size, strict=True))
        tokens = f * h * w
        if tokens % degree:
            raise ModelError(
                f"context parallelism splits each row's {tokens} tokens ({f} x {h} x {w} patches) across "
                f"{degree} ranks: the token count must be divisible by the degree (change the frame count "
                "or resolution, or the degree)"
            )

    return check


def enable_context_parallel(transformer: One4DTransformer, config: ContextParallelConfig) -> None:
    """Split `transformer`'s token sequence over the ranks of `config` (diffusers' hooks, `ONE4D_CP_PLAN`).

    `config` may come from `init_inference_parallel` (already set up on its mesh) or be a fresh
    `ContextParallelConfig(ring_degree=..., ulysses_degree=...)` spanning the whole world, which is set up
    here as `ModelMixin.enable_parallelism` would. Every rank must call this and then run the same inputs;
    each gets the full output. Couplings "dlc" and "channel" are supported (not "spatial", whose RoPE is
    rearranged inside the forward). The per-row token count (f' h' w' patches) must divide by
    ring_degree x ulysses_degree, the head count by ulysses_degree.
    """
    if not isinstance(transformer, One4DTransformer):
        raise ModelError(
            f"enable_context_parallel takes a One4DTransformer, got {type(transformer).__name__}"
        )
    if transformer.coupling not in CP_COUPLINGS:
        raise ModelError(
            f"context parallelism supports couplings {list(CP_COUPLINGS)}, not {transformer.coupling!r}"
        )
    if getattr(transformer.base, "_parallel_config", None) is not None:
        raise ModelError("parallelism is already enabled on this transformer")
    if config.ulysses_anything or config.ring_anything:
        raise ModelError("ulysses_anything / ring_anything are not supported: use equal token shares")
    heads = transformer.config.num_attention_heads
    if heads % config.ulysses_degree:
        raise ModelError(
            f"Ulysses attention splits the {heads} heads: ulysses_degree {config.ulysses_degree} "
            "must divide them"
        )
    _check_backends(transformer, config)
    if config._mesh is None:
        _setup_config(transformer, config)
    parallel_config = ParallelConfig(context_parallel_config=config)
    parallel_config._rank, parallel_config._world_size = config._rank, config._world_size
    parallel_config._device, parallel_config._mesh = config._device, config._mesh
    for module in _attention_modules(transformer):
        if hasattr(module.processor, "_parallel_config"):
            module.processor._parallel_config = parallel_config
    apply_context_parallel(transformer, config, ONE4D_CP_PLAN)
    degree = config.ring_degree * config.ulysses_degree
    transformer._one4d_cp_check = transformer.register_forward_pre_hook(
        _token_check_hook(degree), with_kwargs=True
    )
    transformer.base._parallel_config = parallel_config


def disable_context_parallel(transformer: One4DTransformer) -> None:
    """Undo `enable_context_parallel` (the transformer runs on one process again)."""
    if getattr(transformer.base, "_parallel_config", None) is None:
        return
    remove_context_parallel(transformer, ONE4D_CP_PLAN)
    for module in _attention_modules(transformer):
        if hasattr(module.processor, "_parallel_config"):
            module.processor._parallel_config = None
    transformer._one4d_cp_check.remove()
    del transformer._one4d_cp_check
    transformer.base._parallel_config = None
