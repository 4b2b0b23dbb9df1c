"""Joint RGB + XYZ sampling with diffusers' flow-matching Euler scheduler and classifier-free guidance."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import FlowMatchEulerDiscreteScheduler


@dataclass
class SamplerConfig:
    num_steps: int = 50
    guidance_scale: float = 6.0  # the paper's default (robust from 4 to 6)
    shift: float = 3.0  # Wan's sampling shift at 480p


@dataclass
class JointLatents:
    rgb: torch.Tensor
    xyz: torch.Tensor


@torch.no_grad()
def sample_joint(
    model: torch.nn.Module,
    cond_latents: torch.Tensor,
    cond_mask: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    encoder_hidden_states_image: torch.Tensor | None = None,
    negative_hidden_states: torch.Tensor | None = None,
    config: SamplerConfig | None = None,
    generator: torch.Generator | None = None,
) -> JointLatents:
    """Denoise RGB and XYZ latents together from Gaussian noise.

    cond_latents (B, 16, f, h, w) and cond_mask (B, 4, f, h, w) carry the observed frames (UMC). With a
    guidance scale above 1 the unconditional rows use `negative_hidden_states` (zeros when not given) and
    zero image context, batched with the conditional rows in one forward.
    """
    config = config or SamplerConfig()
    if config.num_steps < 1:
        raise ValueError(f"num_steps must be at least 1, got {config.num_steps}")
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=config.shift)
    device = cond_latents.device
    scheduler.set_timesteps(config.num_steps, device=device)
    batch = cond_latents.shape[0]
    shape = cond_latents.shape
    noise = torch.randn(
        (batch, 2 * shape[1], *shape[2:]), generator=generator, device=device, dtype=torch.float32
    )
    latents = noise.to(cond_latents.dtype)
    use_cfg = config.guidance_scale != 1.0
    if use_cfg:
        negative = (
            torch.zeros_like(encoder_hidden_states)
            if negative_hidden_states is None
            else negative_hidden_states
        )
        text = torch.cat([encoder_hidden_states, negative])
        image = None
        if encoder_hidden_states_image is not None:
            image = torch.cat([encoder_hidden_states_image, torch.zeros_like(encoder_hidden_states_image)])
        cond, mask = torch.cat([cond_latents, cond_latents]), torch.cat([cond_mask, cond_mask])
    else:
        text, image, cond, mask = encoder_hidden_states, encoder_hidden_states_image, cond_latents, cond_mask
    for timestep in scheduler.timesteps:
        rows = torch.cat([latents, latents]) if use_cfg else latents
        rgb, xyz = rows.chunk(2, dim=1)
        t = timestep.expand(rows.shape[0]).to(device)
        out = model(rgb, xyz, cond, mask, t, text, image)
        velocity = torch.cat([out.rgb, out.xyz], dim=1).float()
        if use_cfg:
            conditional, unconditional = velocity.chunk(2)
            velocity = unconditional + config.guidance_scale * (conditional - unconditional)
        latents = scheduler.step(velocity, timestep, latents.float(), return_dict=False)[0].to(
            cond_latents.dtype
        )
    rgb, xyz = latents.chunk(2, dim=1)
    return JointLatents(rgb=rgb, xyz=xyz)
