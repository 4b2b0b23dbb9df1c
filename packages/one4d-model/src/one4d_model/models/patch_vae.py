"""CPU-sized video VAEs with the Wan VAE's layout (x4 time, x8 space, 16 channels), for the tiny One4D.

`LinearPatchVAE` is fitted in closed form (principal components of 4 x 8 x 8 space-time patches);
`RefinedPatchVAE` starts from one and adds two small convolutional networks at latent resolution, trained
(`one4d-pretrain vae`) to correct its latents and its reconstruction. Both encode and decode like
`vae.VideoVAE`, so everything downstream is unchanged.

Why not the Wan VAE itself at a small size: trained from scratch on the 2-core CPU this project is built on,
a 0.8M-parameter `AutoencoderKLWan` was still at an L1 error of 0.28 on pointmap codes after 150 steps
(20 minutes), where the principal components give 0.037 at once; a from-scratch convolutional autoencoder at
latent resolution reached 0.063 in 4 minutes, the refined PCA 0.026. Starting from the closed-form solution
is what makes a useful VAE trainable here.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from one4d_geometry.files import atomic_path
from torch import nn
from torch.nn import functional as F

from ..errors import ModelError
from .layout import SPATIAL_FACTOR, TEMPORAL_FACTOR, check_video, video_latent_shape

PATCH_VALUES = 3 * TEMPORAL_FACTOR * SPATIAL_FACTOR**2  # 768 values per latent position


def patches(video: torch.Tensor) -> torch.Tensor:
    """(B, 3, F, H, W) -> (B, f, h, w, 768) space-time patches; the first frame is repeated 4x first (the
    causal layout of Wan's VAE: 4k + 1 frames -> k + 1 latent frames)."""
    b, c, _, height, width = video.shape
    t, s = TEMPORAL_FACTOR, SPATIAL_FACTOR
    padded = torch.cat([video[:, :, :1].expand(-1, -1, t - 1, -1, -1), video], dim=2)
    f, h, w = padded.shape[2] // t, height // s, width // s
    x = padded.reshape(b, c, f, t, h, s, w, s).permute(0, 2, 4, 6, 1, 3, 5, 7)
    return x.reshape(b, f, h, w, c * t * s * s)


def unpatch(flat: torch.Tensor) -> torch.Tensor:
    """Inverse of `patches`: (B, f, h, w, 768) -> (B, 3, F, H, W) (the repeated first frames dropped)."""
    b, f, h, w, _ = flat.shape
    t, s = TEMPORAL_FACTOR, SPATIAL_FACTOR
    x = flat.reshape(b, f, h, w, 3, t, s, s).permute(0, 4, 1, 5, 2, 6, 3, 7)
    return x.reshape(b, 3, f * t, h * s, w * s)[:, :, t - 1 :]


class LinearPatchVAE(nn.Module):
    """A linear (PCA) autoencoder: each 4 x 8 x 8 patch projected on the 16 leading principal components of
    the training patches, scaled to unit variance (like Wan's normalised latents)."""

    temporal_factor = TEMPORAL_FACTOR
    spatial_factor = SPATIAL_FACTOR

    def __init__(self, mean: torch.Tensor, components: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        if (
            mean.shape != (PATCH_VALUES,)
            or components.shape[1:] != (PATCH_VALUES,)
            or scale.shape != (components.shape[0],)
        ):
            raise ModelError(
                f"LinearPatchVAE expects mean ({PATCH_VALUES},), components (C, {PATCH_VALUES}) and scale "
                f"(C,); got {tuple(mean.shape)}, {tuple(components.shape)}, {tuple(scale.shape)}"
            )
        self.register_buffer("mean", mean.float())
        self.register_buffer("components", components.float())
        self.register_buffer("scale", scale.float())

    @property
    def latent_channels(self) -> int:
        return self.components.shape[0]

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        return video_latent_shape(self.latent_channels, num_frames, height, width)

    patches = staticmethod(patches)

    @classmethod
    def fit(cls, videos: torch.Tensor, channels: int = 16) -> LinearPatchVAE:
        """Principal components of the patches of `videos` (N, 3, F, H, W) in [-1, 1]."""
        flat = patches(videos.float()).reshape(-1, PATCH_VALUES)
        mean = flat.mean(0)
        _, singular, vh = torch.linalg.svd(flat - mean, full_matrices=False)
        scale = singular[:channels] / max(flat.shape[0] - 1, 1) ** 0.5
        return cls(mean, vh[:channels], scale.clamp_min(1e-6))

    def project(self, video: torch.Tensor) -> torch.Tensor:
        """Latents (B, C, f, h, w) of a video (differentiable; `encode` checks and runs without grad)."""
        coeffs = (patches(video.to(self.mean.dtype)) - self.mean) @ self.components.T / self.scale
        return coeffs.permute(0, 4, 1, 2, 3)

    def reconstruct_patches(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, f, h, w) latents -> (B, f, h, w, 768) patches, unclamped (differentiable)."""
        return (latents.permute(0, 2, 3, 4, 1).to(self.mean.dtype) * self.scale) @ self.components + self.mean

    @torch.no_grad()
    def encode(self, video: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None):
        check_video(video, self)
        return self.project(video).contiguous()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return unpatch(self.reconstruct_patches(latents)).clamp(-1, 1)

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        tensors = {k: v.contiguous() for k, v in self.state_dict().items()}
        with atomic_path(path) as temporary:  # a run reuses this file on --resume: never half of it
            save_file(tensors, str(temporary), metadata={"format": "one4d-linear-patch-vae"})

    @classmethod
    def load(cls, path: str | Path) -> LinearPatchVAE:
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
        except Exception as error:  # safetensors' own error types for bad headers and short files
            raise ModelError(
                f"{path}: not a readable safetensors file ({error}); delete it to refit"
            ) from None
        missing = {"mean", "components", "scale"} - tensors.keys()
        if missing:
            raise ModelError(f"{path}: not a LinearPatchVAE file, missing tensors {sorted(missing)}")
        return cls(tensors["mean"], tensors["components"], tensors["scale"])


class _ResidualBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.GroupNorm(8, width), nn.GroupNorm(8, width)
        self.conv1 = nn.Conv3d(width, width, 3, padding=1)
        self.conv2 = nn.Conv3d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))


class _Correction(nn.Sequential):
    """Conv3d network at latent resolution, `in_channels` -> `out_channels`, whose output starts at zero."""

    def __init__(self, in_channels: int, out_channels: int, width: int, blocks: int) -> None:
        head = nn.Conv3d(width, out_channels, 1)
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        super().__init__(
            nn.Conv3d(in_channels, width, 1),
            *[_ResidualBlock(width) for _ in range(blocks)],
            nn.GroupNorm(8, width),
            nn.SiLU(),
            head,
        )


class RefinedPatchVAE(nn.Module):
    """`LinearPatchVAE` plus learned corrections: latents = PCA(patches) + E(patches) and reconstruction =
    PCA^-1(latents) + D(latents), E and D small Conv3d networks at latent resolution (3 x 3 x 3 kernels, so
    a patch's neighbours help place an edge inside it). E and D start at zero, so an untrained one is its
    PCA. The PCA part is fixed; `one4d-pretrain vae` trains E and D."""

    temporal_factor = TEMPORAL_FACTOR
    spatial_factor = SPATIAL_FACTOR

    def __init__(self, linear: LinearPatchVAE, width: int = 128, blocks: int = 2) -> None:
        super().__init__()
        self.linear = linear
        self.width, self.blocks = int(width), int(blocks)
        channels = linear.latent_channels
        self.encoder_correction = _Correction(PATCH_VALUES, channels, width, blocks)
        self.decoder_correction = _Correction(channels, PATCH_VALUES, width, blocks)
        # Per-channel statistics of the corrected latents (set after training), so that the latents the
        # transformer sees have zero mean and unit variance, as Wan's normalised latents do.
        self.register_buffer("latents_mean", torch.zeros(channels))
        self.register_buffer("latents_std", torch.ones(channels))

    @property
    def latent_channels(self) -> int:
        return self.linear.latent_channels

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        return video_latent_shape(self.latent_channels, num_frames, height, width)

    def _stats(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1, 1, 1, 1)
        return self.latents_mean.view(shape).to(latents), self.latents_std.view(shape).to(latents)

    def encode_train(self, video: torch.Tensor) -> torch.Tensor:
        """Normalised latents with gradients (what `encode` returns without them)."""
        flat = patches(video.to(self.linear.mean.dtype))
        raw = self.linear.project(video) + self.encoder_correction(flat.permute(0, 4, 1, 2, 3))
        mean, std = self._stats(raw)
        return (raw - mean) / std

    def decode_train(self, latents: torch.Tensor) -> torch.Tensor:
        """Unclamped reconstruction of normalised latents, with gradients."""
        mean, std = self._stats(latents)
        raw = latents * std + mean
        flat = self.linear.reconstruct_patches(raw)
        flat = flat + self.decoder_correction(raw.to(flat.dtype)).permute(0, 2, 3, 4, 1)
        return unpatch(flat)

    @torch.no_grad()
    def set_latent_statistics(self, videos: torch.Tensor) -> None:
        """Per-channel mean and std of the latents of `videos` (N, 3, F, H, W), so they are normalised."""
        self.latents_mean.zero_()
        self.latents_std.fill_(1.0)
        raw = self.encode_train(videos).transpose(0, 1).flatten(1)
        self.latents_mean.copy_(raw.mean(1))
        self.latents_std.copy_(raw.std(1).clamp_min(1e-4))

    @torch.no_grad()
    def encode(self, video: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None):
        check_video(video, self)
        return self.encode_train(video).contiguous()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decode_train(latents).clamp(-1, 1)

    def save(
        self,
        path: str | Path,
        metadata: dict[str, str] | None = None,
        corrections_dtype: torch.dtype = torch.float32,
    ) -> None:
        """Write a safetensors file. `corrections_dtype=torch.float16` halves the file (the shipped one) and
        keeps the PCA part and the latent statistics in float32; `load` returns float32 either way."""
        from safetensors.torch import save_file

        tensors = {}
        for key, value in self.state_dict().items():
            value = value.detach().cpu()
            if key.startswith(("encoder_correction.", "decoder_correction.")):
                value = value.to(corrections_dtype)
            tensors[key] = value.contiguous()
        config = {"width": self.width, "blocks": self.blocks}
        meta = {"format": "one4d-refined-patch-vae", "config": json.dumps(config), **(metadata or {})}
        with atomic_path(path) as temporary:
            save_file(tensors, str(temporary), metadata=meta)

    @classmethod
    def load(cls, path: str | Path) -> RefinedPatchVAE:
        from safetensors import safe_open
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such VAE file")
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        if metadata.get("format") != "one4d-refined-patch-vae":
            raise ModelError(f"{path}: not a RefinedPatchVAE file (format {metadata.get('format')!r})")
        tensors = load_file(str(path))
        linear = LinearPatchVAE(tensors["linear.mean"], tensors["linear.components"], tensors["linear.scale"])
        vae = cls(linear, **json.loads(metadata["config"]))
        vae.load_state_dict(tensors)
        return vae
