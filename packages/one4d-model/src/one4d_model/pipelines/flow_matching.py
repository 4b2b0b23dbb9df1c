"""Flow matching in Wan's convention (what the pretrained weights expect).

x_sigma = (1 - sigma) * x0 + sigma * eps, timestep = 1000 * sigma, target velocity v = eps - x0.
The paper writes the same with t = 1 - sigma. Training sigmas are drawn uniformly and then shifted
(VideoX-Fun trains Wan-Fun with shift 5); sampling uses diffusers' flow-matching schedulers.
"""

from __future__ import annotations

import torch

from ..errors import ModelError

NUM_TRAIN_TIMESTEPS = 1000


def shift_sigmas(sigmas: torch.Tensor, shift: float) -> torch.Tensor:
    """The resolution shift used by Wan/SD3: more time at high noise for shift > 1."""
    if shift <= 0:
        raise ModelError(f"shift must be positive, got {shift}")
    return shift * sigmas / (1 + (shift - 1) * sigmas)


def sample_training_sigmas(
    batch_size: int,
    shift: float = 5.0,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    min_sigma: float = 1e-3,
) -> torch.Tensor:
    """One sigma per sample in [min_sigma, 1], uniform before the shift."""
    uniform = torch.rand(batch_size, generator=generator, device=device, dtype=torch.float32)
    sigmas = min_sigma + (1 - min_sigma) * uniform
    return shift_sigmas(sigmas, shift)


def add_noise(clean: torch.Tensor, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """x_sigma = (1 - sigma) x0 + sigma eps, sigma broadcast per sample."""
    sigma = sigmas.reshape(-1, *([1] * (clean.ndim - 1))).to(clean.dtype)
    return (1 - sigma) * clean + sigma * noise


def velocity_target(clean: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """d x_sigma / d sigma = eps - x0."""
    return noise - clean


def timesteps_from_sigmas(sigmas: torch.Tensor) -> torch.Tensor:
    return sigmas * NUM_TRAIN_TIMESTEPS


def predict_clean(noisy: torch.Tensor, velocity: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """x0 estimate from a velocity prediction: x0 = x_sigma - sigma * v."""
    sigma = sigmas.reshape(-1, *([1] * (noisy.ndim - 1))).to(noisy.dtype)
    return noisy - sigma * velocity
