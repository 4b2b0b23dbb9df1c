"""The tiny One4D: a CPU-sized Wan2.1 (transformer + VAE) pretrained here and shipped with the package.

The real Wan2.1 weights cannot be downloaded on the machines this project is built on, so the project makes
its own small base, with the same code paths as the 14B: a `WanTransformer3DModel` in the InP layout
(16 noisy + 4 mask + 16 conditioning channels) pretrained on synthetic videos for the masked-frame task, and
a `RefinedPatchVAE` (principal components of space-time patches plus small learned corrections, with Wan's
x4 time / x8 space / 16-channel latent layout) trained on synthetic RGB videos and pointmap codes. A tiny
`AutoencoderKLWan` trained from scratch was measured too and learned far too slowly on a CPU (see
`one4d_model.models.patch_vae`). `one4d-pretrain` reproduces both; the results live in `assets/` beside this
module (a diffusers folder and a safetensors file).
"""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
TINY_VAE_FILE = ASSETS / "one4d-tiny-vae.safetensors"
TINY_BASE_DIR = ASSETS / "one4d-tiny-base"
TINY_DLC_FILE = ASSETS / "one4d-tiny-dlc.safetensors"
TINY_NAME = "one4d-tiny"
"""The name configs use for the shipped model (`model.variant` and `model.vae`), and the name that
`One4DPipeline.from_checkpoint` and `one4d-generate` take for the shipped fine-tuned One4D (`TINY_DLC_FILE`:
the DLC branches, links and heads in the run format, on the shipped base and VAE)."""
TINY_DENSE_NAME = "one4d-tiny-p1"
"""The tiny base's shape at 4x the token density (1 x 1 latent patches):
an experiment; nothing ships on it."""

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
"""A random CPU-sized Wan VAE with the real model's factors (x4 time, x8 space, 16 latent channels), for tests
of the `AutoencoderKLWan` code path (`vae="tiny"`)."""
