"""The video VAE: diffusers' AutoencoderKLWan with Wan's latent normalisation.

RGB frames and pointmaps (both in [-1, 1]) go through the same frozen VAE. Latents are normalised per
channel with the config's latents_mean / latents_std, as the Wan pipelines do, so the transformer sees
roughly unit-variance inputs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKLWan

# A CPU-sized Wan VAE with the real model's factors (x4 time, x8 space, 16 latent channels).
TINY_VAE_CONFIG: dict = {
    "base_dim": 16,
    "z_dim": 16,
    "dim_mult": [1, 2, 2, 2],
    "num_res_blocks": 1,
    "attn_scales": [],
    "temperal_downsample": [False, True, True],
    "latents_mean": [0.0] * 16,
    "latents_std": [1.0] * 16,
}


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
        if (
            (num_frames - 1) % self.temporal_factor
            or height % self.spatial_factor
            or width % self.spatial_factor
        ):
            raise ValueError(
                f"video of {num_frames} frames at {height}x{width} does not fit the VAE: frames must be "
                f"{self.temporal_factor}k + 1 and height/width multiples of {self.spatial_factor}"
            )
        return (
            self.autoencoder.config.z_dim,
            (num_frames - 1) // self.temporal_factor + 1,
            height // self.spatial_factor,
            width // self.spatial_factor,
        )

    @torch.no_grad()
    def encode(self, video: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None):
        """Normalised latents of `video`; the posterior mean unless `sample`."""
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(f"video must be (B, 3, F, H, W), got shape {tuple(video.shape)}")
        self.latent_shape(*video.shape[2:])
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
    """`"tiny"` (random weights, seeded) or a local path to a Wan2.1 VAE (diffusers layout, or a model
    directory with a `vae/` subfolder)."""
    if str(variant) == "tiny":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            autoencoder = AutoencoderKLWan(**TINY_VAE_CONFIG)
        if dtype != torch.float32:
            autoencoder = autoencoder.to(dtype=dtype)
        return VideoVAE(autoencoder.to(device=device)).eval()
    path = Path(variant)
    if not path.exists():
        raise FileNotFoundError(
            f"VAE path {path} does not exist (expected 'tiny' or a local Wan VAE directory)"
        )
    subfolder = "vae" if (path / "vae" / "config.json").exists() else None
    if subfolder is None and not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: no config.json (or vae/config.json) of an AutoencoderKLWan")
    autoencoder = AutoencoderKLWan.from_pretrained(path, subfolder=subfolder, torch_dtype=dtype)
    return VideoVAE(autoencoder.to(device)).eval()


class LinearPatchVAE(torch.nn.Module):
    """A linear (PCA) autoencoder with Wan's latent layout, for CPU-sized runs.

    Training a convolutional video VAE on a laptop CPU takes far longer than the tiny model it serves,
    and a random one cannot decode. This one is fitted in closed form: a video (B, 3, F, H, W) with
    F = 4k + 1 has its first frame repeated 4x (the causal layout of Wan's VAE), is cut into 4 x 8 x 8
    space-time patches, and each patch (768 values) is projected onto the 16 leading principal
    components of the training patches. Same shapes and factors as AutoencoderKLWan (x4 time, x8 space,
    16 channels), so everything downstream is unchanged.
    """

    temporal_factor = 4
    spatial_factor = 8

    def __init__(self, mean: torch.Tensor, components: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        patch = 3 * self.temporal_factor * self.spatial_factor**2
        if mean.shape != (patch,) or components.shape[1] != patch or scale.shape != (components.shape[0],):
            raise ValueError(
                f"LinearPatchVAE expects mean ({patch},), components (C, {patch}) and scale (C,); got "
                f"{tuple(mean.shape)}, {tuple(components.shape)}, {tuple(scale.shape)}"
            )
        self.register_buffer("mean", mean.float())
        self.register_buffer("components", components.float())
        self.register_buffer("scale", scale.float())

    @property
    def latent_channels(self) -> int:
        return self.components.shape[0]

    def latent_shape(self, num_frames: int, height: int, width: int) -> tuple[int, int, int, int]:
        if (num_frames - 1) % 4 or height % 8 or width % 8:
            raise ValueError(
                f"video of {num_frames} frames at {height}x{width} does not fit the VAE: frames must be "
                "4k + 1 and height/width multiples of 8"
            )
        return (self.latent_channels, (num_frames - 1) // 4 + 1, height // 8, width // 8)

    @classmethod
    def patches(cls, video: torch.Tensor) -> torch.Tensor:
        """(B, 3, F, H, W) -> (B, f, h, w, 768) space-time patches."""
        b, c, _, height, width = video.shape
        padded = torch.cat([video[:, :, :1].expand(-1, -1, cls.temporal_factor - 1, -1, -1), video], dim=2)
        t, s = cls.temporal_factor, cls.spatial_factor
        f, h, w = padded.shape[2] // t, height // s, width // s
        x = padded.reshape(b, c, f, t, h, s, w, s).permute(0, 2, 4, 6, 1, 3, 5, 7)
        return x.reshape(b, f, h, w, c * t * s * s)

    @classmethod
    def fit(cls, videos: torch.Tensor, channels: int = 16) -> LinearPatchVAE:
        """Principal components of the patches of `videos` (N, 3, F, H, W) in [-1, 1]."""
        flat = cls.patches(videos.float()).reshape(-1, 3 * cls.temporal_factor * cls.spatial_factor**2)
        mean = flat.mean(0)
        _, singular, vh = torch.linalg.svd(flat - mean, full_matrices=False)
        # Unit-variance latents, like Wan's normalised latents.
        scale = singular[:channels] / max(flat.shape[0] - 1, 1) ** 0.5
        return cls(mean, vh[:channels], scale.clamp_min(1e-6))

    @torch.no_grad()
    def encode(self, video: torch.Tensor, sample: bool = False, generator: torch.Generator | None = None):
        if video.ndim != 5 or video.shape[1] != 3:
            raise ValueError(f"video must be (B, 3, F, H, W), got shape {tuple(video.shape)}")
        self.latent_shape(*video.shape[2:])
        coeffs = (self.patches(video.to(self.mean.dtype)) - self.mean) @ self.components.T / self.scale
        return coeffs.permute(0, 4, 1, 2, 3).contiguous()

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        b, _, f, h, w = latents.shape
        t, s = self.temporal_factor, self.spatial_factor
        flat = (latents.permute(0, 2, 3, 4, 1).to(self.mean.dtype) * self.scale) @ self.components + self.mean
        x = flat.reshape(b, f, h, w, 3, t, s, s).permute(0, 4, 1, 5, 2, 6, 3, 7)
        video = x.reshape(b, 3, f * t, h * s, w * s)[:, :, t - 1 :]
        return video.clamp(-1, 1)

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        tensors = {k: v.contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(path), metadata={"format": "one4d-linear-patch-vae"})

    @classmethod
    def load(cls, path: str | Path) -> LinearPatchVAE:
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        missing = {"mean", "components", "scale"} - tensors.keys()
        if missing:
            raise ValueError(f"{path}: not a LinearPatchVAE file, missing tensors {sorted(missing)}")
        return cls(tensors["mean"], tensors["components"], tensors["scale"])
