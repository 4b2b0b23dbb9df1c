"""Process setup under torchrun (or none), and the parallel wrappers: DDP, or FSDP2 for the 14B model."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str | None = None) -> DistEnv:
    """Join torchrun's process group when launched by torchrun; a single process otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistEnv(rank=rank, world_size=world_size, local_rank=local_rank, device=target)


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def resolve_strategy(requested: str, env: DistEnv) -> str:
    """`auto` is DDP when several processes run and nothing otherwise; FSDP2 is asked for explicitly. A
    single process runs the model as it is (bf16 through autocast instead of FSDP's mixed precision)."""
    if requested == "auto":
        return "ddp" if env.distributed else "none"
    if requested in ("ddp", "fsdp") and not env.distributed:
        return "none"  # one process: nothing to replicate or shard
    return requested


def wrap_model(model: torch.nn.Module, strategy: str, env: DistEnv, bf16: bool) -> torch.nn.Module:
    """DDP (gradients all-reduced) or FSDP2 (`fully_shard` per block, frozen base sharded too)."""
    if strategy == "none":
        return model
    if strategy == "ddp":
        device_ids = [env.local_rank] if env.device.type == "cuda" else None
        return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if strategy == "fsdp":
        return _fully_shard(model, env, bf16)
    raise ValueError(f"unknown distributed strategy {strategy!r}")


def _fully_shard(model: torch.nn.Module, env: DistEnv, bf16: bool) -> torch.nn.Module:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mesh = init_device_mesh(env.device.type, (env.world_size,))
    policy = MixedPrecisionPolicy(
        param_dtype=torch.bfloat16 if bf16 else None, reduce_dtype=torch.float32 if bf16 else None
    )
    # One FSDP group per block: the frozen base parameters are bf16 and the LoRA factors fp32. FSDP2 only
    # asks the trainable parameters of a group to share a dtype, and casts all of them to bf16 for compute.
    for block in model.base.blocks:
        fully_shard(block, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def all_reduce_mean(value: torch.Tensor, env: DistEnv) -> torch.Tensor:
    if env.distributed:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= env.world_size
    return value
