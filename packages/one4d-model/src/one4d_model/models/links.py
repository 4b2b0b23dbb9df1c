"""Zero-initialised control links between the RGB and XYZ token streams (DLC)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelError


def default_link_blocks(num_layers: int, num_links: int = 5) -> list[int]:
    """Indices of the blocks after which links act: `num_links` (clamped to the depth) spread evenly, the
    last one after the final block (40 layers, 5 links: 7, 15, 23, 31, 39)."""
    if num_layers <= 0:
        raise ModelError(f"num_layers must be positive, got {num_layers}")
    if num_links < 0:
        raise ModelError(f"num_links must be >= 0, got {num_links}")
    n = min(num_links, num_layers)
    return [(k + 1) * num_layers // n - 1 for k in range(n)]


class ControlLink(nn.Module):
    """h_rgb' = h_rgb + to_rgb(h_xyz), h_xyz' = h_xyz + to_xyz(h_rgb), both from the pre-update values.

    Operates on a (2B, N, dim) batch whose rows [0, B) are RGB and [B, 2B) XYZ; tokens are pixel-aligned
    across branches so the links act token by token.
    """

    def __init__(
        self, dim: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        self.to_rgb = nn.Linear(dim, dim, device=device, dtype=dtype)
        self.to_xyz = nn.Linear(dim, dim, device=device, dtype=dtype)
        for layer in (self.to_rgb, self.to_xyz):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        rgb, xyz = hidden_states.chunk(2, dim=0)
        new_rgb = rgb + self.to_rgb(xyz.to(self.to_rgb.weight.dtype)).to(rgb.dtype)
        new_xyz = xyz + self.to_xyz(rgb.to(self.to_xyz.weight.dtype)).to(xyz.dtype)
        return torch.cat([new_rgb, new_xyz], dim=0)
