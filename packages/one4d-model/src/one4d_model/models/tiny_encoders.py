"""Stand-ins for umT5 and CLIP in CPU-sized runs: fixed, seeded, and informative.

The tiny preset has no real text or image encoder. Feeding zeros would make every context token identical,
which leaves the cross-attention with nothing to learn (its key gradients vanish in exact arithmetic and are
pure rounding noise). These encoders give each caption word and each image patch its own vector instead.
Every run builds them with the default seed, whatever its own seed: they are part of the model, and the
tiny One4D's pretrained base (`one4d-pretrain base`) was trained with exactly these context vectors.
"""

from __future__ import annotations

import zlib

import torch
import torch.nn.functional as F

VOCAB = 4096


class TinyTextEncoder:
    """Caption -> (512, text_dim): one fixed random vector per word (hashed), zero padding like Wan's umT5."""

    def __init__(self, text_dim: int, tokens: int = 512, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed + 17)
        self.table = torch.randn(VOCAB, text_dim, generator=gen) / text_dim**0.5
        self.tokens = tokens

    def __call__(self, captions: list[str]) -> torch.Tensor:
        out = torch.zeros(len(captions), self.tokens, self.table.shape[1])
        for row, caption in enumerate(captions):
            ids = [zlib.crc32(word.encode()) % VOCAB for word in caption.lower().split()][: self.tokens]
            if ids:
                out[row, : len(ids)] = self.table[torch.tensor(ids)]
        return out


class TinyImageEncoder:
    """First conditioning frame (B, 3, H, W) in [-1, 1] -> (B, 257, image_dim): a global token and 16 x 16
    pooled patches, linearly projected, plus fixed position vectors (CLIP ViT-H/14's token layout)."""

    def __init__(self, image_dim: int, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed + 29)
        self.projection = torch.randn(3, image_dim, generator=gen)
        self.positions = torch.randn(257, image_dim, generator=gen) * 0.1

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        patches = F.adaptive_avg_pool2d(frames.float(), 16).flatten(2).transpose(1, 2)  # (B, 256, 3)
        tokens = torch.cat([patches.mean(1, keepdim=True), patches], dim=1)
        return tokens @ self.projection.to(frames.device) + self.positions.to(frames.device)
