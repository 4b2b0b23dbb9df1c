"""The video VAE: diffusers' AutoencoderKLWan with Wan's latent normalisation.

RGB frames and pointmaps (both in [-1, 1]) go through the same frozen VAE. Latents are normalised per
channel with the config's latents_mean / latents_std, as the Wan pipelines do, so the transformer sees
roughly unit-variance inputs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKLWan

from .layout import check_video, video_latent_shape
from .tiny import TINY_NAME, TINY_VAE_CONFIG, TINY_VAE_FILE


class VideoVAE(torch.nn.Module):
    """Encode videos (B, 3, F, H, W) in [-1, 1] to normalised latents (B, 16, f, h, w), and back."""

    def __init__(self, autoencoder: AutoencoderKLWan) -> None:
        super().__init__()
        self.autoencoder = autoencoder
        self.autoencoder.requires_grad_(False)
        config = autoencoder.config
        mean = torch.tensor(config.latents_mean, dtype=torch.float32).view(1, config.z_dim, 1, 1, 1)
        std = torch.tensor(config.latents_std, dtype=torch.float32).view(1, config.z_dim, 1, 1, 1)
        self.register_buffer("latents_mean", mean, persistent=False)
        self.register_buffer("latents_std", std, persistent=False)

    @property
    def temporal_factor(self) -> int:
        return 2 ** sum(self.autoencoder.config.temperal_downsample)

    @property
    def spatial_factor(self) -> int:
        return 2 ** (len(self.autoencoder.config.dim_mult) - 1)

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        return video_latent_shape(
            self.autoencoder.config.z_dim,
            num_frames,
            height,
            width,
            self.temporal_factor,
            self.spatial_factor,
        )

    @torch.no_grad()
    def encode(self, video: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None):
        """Normalised latents of `video`; the posterior mean unless `sample`."""
        check_video(video, self)
        dist = self.autoencoder.encode(video.to(self.autoencoder.dtype)).latent_dist
        latents = dist.sample(generator) if sample else dist.mode()
        mean = self.latents_mean.to(latents.device, latents.dtype)
        std = self.latents_std.to(latents.device, latents.dtype)
        return (latents - mean) / std

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Video in [-1, 1] (clamped) from normalised latents."""
        mean = self.latents_mean.to(latents.device, latents.dtype)
        std = self.latents_std.to(latents.device, latents.dtype)
        raw = (latents * std + mean).to(self.autoencoder.dtype)
        return self.autoencoder.decode(raw).sample.clamp(-1, 1)

    def enable_memory_savers(self) -> None:
        """Tiling and slicing for long, large clips."""
        self.autoencoder.enable_tiling()
        self.autoencoder.enable_slicing()


def build_vae(
    variant: str | Path = "tiny",
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    seed: int = 0,
) -> VideoVAE:
    """`"tiny"` (random weights, seeded), `"one4d-tiny"` (the tiny One4D's trained patch VAE, shipped with
    this package: `patch_vae.RefinedPatchVAE`), the `.safetensors` file of such a VAE, or a local path to a
    Wan2.1 VAE (diffusers layout, or a model directory with a `vae/` subfolder)."""
    if str(variant) == TINY_NAME:
        from .patch_vae import RefinedPatchVAE

        return RefinedPatchVAE.load(TINY_VAE_FILE).to(device=device, dtype=dtype).eval()
    if str(variant) == "tiny":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            autoencoder = AutoencoderKLWan(**TINY_VAE_CONFIG)
        if dtype != torch.float32:
            autoencoder = autoencoder.to(dtype=dtype)
        return VideoVAE(autoencoder.to(device=device)).eval()
    path = Path(variant)
    if path.suffix == ".safetensors" and path.is_file():  # a trained RefinedPatchVAE (one4d-pretrain vae)
        from .patch_vae import RefinedPatchVAE

        return RefinedPatchVAE.load(path).to(device=device, dtype=dtype).eval()
    if not path.exists():
        raise FileNotFoundError(
            f"VAE path {path} does not exist (expected 'tiny' or a local Wan VAE directory)"
        )
    subfolder = "vae" if (path / "vae" / "config.json").exists() else None
    if subfolder is None and not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: no config.json (or vae/config.json) of an AutoencoderKLWan")
    autoencoder = AutoencoderKLWan.from_pretrained(path, subfolder=subfolder, torch_dtype=dtype)
    return VideoVAE(autoencoder.to(device)).eval()
