"""Grouped per-branch LoRA: one frozen base Linear, one LoRA per branch, branches chosen by row group.

The rows of a batch are split into equal consecutive groups (DLC: rows [0, B) RGB, [B, 2B) XYZ) and each
group gets the delta of its own branch's LoRA. Which branch owns which group is set by `lora_routing`, a
context entered *inside* the (possibly checkpointed) block call, so a recompute during backward routes the
rows exactly as the forward did. Outside any routing context the layer is its plain base Linear.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from ..errors import ModelError, WeightsError

LORA_TARGETS: tuple[str, ...] = (
    "attn1.to_q",
    "attn1.to_k",
    "attn1.to_v",
    "attn1.to_out.0",
    "attn2.to_q",
    "attn2.to_k",
    "attn2.to_v",
    "attn2.to_out.0",
    "attn2.add_k_proj",
    "attn2.add_v_proj",
    "ffn.net.0.proj",
    "ffn.net.2",
)
"""The 12 Linear layers of a Wan block (diffusers names, relative to the block) that get a LoRA."""

_active_routing: tuple[str, ...] | None = None


@contextlib.contextmanager
def lora_routing(branches: Sequence[str] | None) -> Iterator[None]:
    """Route consecutive equal row groups of every GroupedLoRALinear to `branches` (None: base only)."""
    global _active_routing
    previous = _active_routing
    _active_routing = None if branches is None else tuple(branches)
    try:
        yield
    finally:
        _active_routing = previous


class GroupedLoRALinear(nn.Module):
    """`base_layer(x)` plus, for each row group, `scaling * B_g(A_g(dropout(x)))` of that group's branch.

    Parameter names and initialisation follow peft (`lora_A.<branch>.weight` kaiming-uniform with a=sqrt(5),
    `lora_B.<branch>.weight` zero, scaling = alpha / rank).
    """

    def __init__(
        self,
        base_layer: nn.Linear,
        branches: Sequence[str],
        rank: int,
        alpha: float | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if rank <= 0:
            raise ModelError(f"lora rank must be a positive integer, got {rank}")
        if not 0.0 <= dropout < 1.0:
            raise ModelError(f"lora dropout must be in [0, 1), got {dropout}")
        self.base_layer = base_layer
        self.branches = tuple(branches)
        self.rank = rank
        self.alpha = float(rank if alpha is None else alpha)
        self.scaling = self.alpha / rank
        factory = {"device": base_layer.weight.device, "dtype": base_layer.weight.dtype}
        self.lora_A = nn.ModuleDict(
            {b: nn.Linear(base_layer.in_features, rank, bias=False, **factory) for b in self.branches}
        )
        self.lora_B = nn.ModuleDict(
            {b: nn.Linear(rank, base_layer.out_features, bias=False, **factory) for b in self.branches}
        )
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.reset_lora_parameters()

    @property
    def in_features(self) -> int:
        return self.base_layer.in_features

    @property
    def out_features(self) -> int:
        return self.base_layer.out_features

    @torch.no_grad()
    def reset_lora_parameters(self) -> None:
        for branch in self.branches:
            nn.init.kaiming_uniform_(self.lora_A[branch].weight, a=math.sqrt(5))
            nn.init.zeros_(self.lora_B[branch].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base_layer(x)
        routing = _active_routing
        if routing is None:
            return y
        groups = len(routing)
        if x.shape[0] % groups:
            raise ModelError(
                f"batch of {x.shape[0]} rows cannot be split into {groups} equal branch groups {routing}"
            )
        unknown = [b for b in routing if b not in self.lora_A]
        if unknown:
            raise WeightsError(f"lora routing names branches {unknown}, this layer has {list(self.branches)}")
        lora_dtype = self.lora_A[routing[0]].weight.dtype
        h = self.lora_dropout(x.to(lora_dtype))
        # Add each group's delta in place into its rows of y: no concatenation, no extra output tensor.
        size = x.shape[0] // groups
        # The factors are called as modules (not read as `.weight`) so that hooks on them run: diffusers'
        # group offloading brings each layer's weights to the device in its forward hook.
        for g, branch in enumerate(routing):
            rows, out = h.narrow(0, g * size, size), y.narrow(0, g * size, size)
            delta = self.lora_B[branch](self.lora_A[branch](rows))
            out.add_(delta.to(y.dtype), alpha=self.scaling)
        return y

    def extra_repr(self) -> str:
        return f"branches={self.branches}, rank={self.rank}, alpha={self.alpha}"


def _get_submodule_parent(root: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent_name, _, child = name.rpartition(".")
    return (root.get_submodule(parent_name) if parent_name else root), child


def inject_grouped_lora(
    blocks: nn.ModuleList,
    branches: Sequence[str],
    rank: int,
    alpha: float | None = None,
    dropout: float = 0.0,
    targets: Sequence[str] = LORA_TARGETS,
) -> list[GroupedLoRALinear]:
    """Replace each target Linear of each block by a GroupedLoRALinear wrapping it (in place)."""
    injected = []
    for block in blocks:
        for target in targets:
            try:
                layer = block.get_submodule(target)
            except AttributeError:
                continue  # e.g. add_k_proj in text-only variants
            if isinstance(layer, GroupedLoRALinear):
                raise ModelError(f"{target} already carries a grouped LoRA")
            if not isinstance(layer, nn.Linear):
                continue
            parent, child = _get_submodule_parent(block, target)
            wrapped = GroupedLoRALinear(layer, branches, rank, alpha, dropout)
            setattr(parent, child, wrapped)
            injected.append(wrapped)
    return injected
