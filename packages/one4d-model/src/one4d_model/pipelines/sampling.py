"""Joint RGB + XYZ sampling with diffusers' flow-matching Euler scheduler and classifier-free guidance.

The unconditional rows follow Wan's image-to-video pipelines and VideoX-Fun: the caption is replaced by the
negative prompt's text states (the empty prompt by default) while the CLIP image states and the observed
frames (UMC) stay, so guidance strengthens the caption and nothing else. Training drops captions the same
way (`one4d_train.losses`: the caption becomes the empty one, the image context stays), so the model has
seen exactly the unconditional input it is guided with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, SchedulerMixin, UniPCMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor

from ..errors import ModelError
from ..loading.spec import SamplerConfig
from .flow_matching import NUM_TRAIN_TIMESTEPS

if TYPE_CHECKING:
    from .parallel import CFGParallel, InferenceParallel

SCHEDULERS = ("euler", "unipc")


def make_scheduler(name: str = "euler", shift: float = 3.0) -> SchedulerMixin:
    """A flow-matching scheduler by name: "euler" (diffusers' FlowMatchEulerDiscreteScheduler, the default)
    or "unipc" (UniPCMultistepScheduler in flow-prediction mode, what Wan2.1's own sampler uses)."""
    if name == "euler":
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, shift=shift)
    if name == "unipc":
        return UniPCMultistepScheduler(
            num_train_timesteps=NUM_TRAIN_TIMESTEPS,
            prediction_type="flow_prediction",
            use_flow_sigmas=True,
            flow_shift=shift,
        )
    raise ModelError(f"unknown scheduler {name!r}; choose from {SCHEDULERS}")


def fresh_scheduler(scheduler: SchedulerMixin, shift: float | None = None) -> SchedulerMixin:
    """A new scheduler of the same class and config (multistep schedulers keep state between steps, so every
    sampling run starts from a fresh one), with its flow shift replaced when `shift` is given."""
    overrides = {}
    if shift is not None:
        if "flow_shift" in scheduler.config:
            overrides["flow_shift"] = shift
        elif "shift" in scheduler.config:
            overrides["shift"] = shift
        else:
            raise ModelError(f"{type(scheduler).__name__} has no flow shift to set; use a flow-matching one")
    return type(scheduler).from_config(scheduler.config, **overrides)


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
    generator: torch.Generator | list[torch.Generator] | None = None,
    scheduler: SchedulerMixin | None = None,
    on_step_end: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor | None] | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
    parallel: InferenceParallel | CFGParallel | None = None,
) -> JointLatents:
    """Denoise RGB and XYZ latents together from Gaussian noise.

    cond_latents (B, 16, f, h, w) and cond_mask (B, 4, f, h, w) carry the observed frames (UMC). With a
    guidance scale other than 1 the unconditional rows use `negative_hidden_states` (the negative prompt's
    text states, (B or 1, L, D); zeros, which is what the tiny stand-in encoder gives the empty prompt, when
    not given) with the same image context and observed frames, batched with the conditional rows.

    `scheduler` is any diffusers flow-matching scheduler (a fresh copy with `config.shift` is used; default
    flow-matching Euler); `generator` one, or one per batch row (diffusers' `randn_tensor`).
    `on_step_end(step, timestep, latents)` may return replacement latents (B, 32, f, h, w); `progress`
    wraps the timesteps (a progress bar).

    `parallel` (`one4d_model.pipelines.parallel`, under torchrun): the noise is made rank 0's on every rank,
    and with CFG parallelism and a guidance scale other than 1 this rank computes only its half of the rows
    (conditional or unconditional) and the velocities are exchanged, so every rank ends with the same latents.
    Context parallelism lives on the model (`InferenceParallel.apply`). None: one process.
    """
    config = config or SamplerConfig()
    scheduler = fresh_scheduler(scheduler or make_scheduler("euler", config.shift), config.shift)
    device = cond_latents.device
    scheduler.set_timesteps(config.num_steps, device=device)
    batch = cond_latents.shape[0]
    shape = cond_latents.shape
    if isinstance(generator, list) and len(generator) != batch:
        raise ModelError(f"got {len(generator)} generators for a batch of {batch}: give one, or one per row")
    noise = randn_tensor((batch, 2 * shape[1], *shape[2:]), generator=generator, device=device)
    if parallel is not None:
        parallel.sync_(noise)
    latents = noise.to(cond_latents.dtype)
    use_cfg = config.guidance_scale != 1.0
    split_cfg = use_cfg and parallel is not None and parallel.cfg is not None
    if use_cfg:
        if negative_hidden_states is None:
            negative = torch.zeros_like(encoder_hidden_states)
        else:
            negative = negative_hidden_states.to(encoder_hidden_states).expand_as(encoder_hidden_states)
    if split_cfg:
        # This rank's half of the guidance rows: the caption's, or the negative one's.
        text = encoder_hidden_states if parallel.cfg.conditional else negative
        image, cond, mask = encoder_hidden_states_image, cond_latents, cond_mask
    elif use_cfg:
        text = torch.cat([encoder_hidden_states, negative])
        image = None
        if encoder_hidden_states_image is not None:
            image = torch.cat([encoder_hidden_states_image, encoder_hidden_states_image])
        cond, mask = torch.cat([cond_latents, cond_latents]), torch.cat([cond_mask, cond_mask])
    else:
        text, image, cond, mask = encoder_hidden_states, encoder_hidden_states_image, cond_latents, cond_mask
    timesteps = scheduler.timesteps
    for step, timestep in enumerate(progress(timesteps) if progress is not None else timesteps):
        rows = torch.cat([latents, latents]) if use_cfg and not split_cfg else latents
        rgb, xyz = rows.chunk(2, dim=1)
        t = timestep.expand(rows.shape[0]).to(device, torch.float32)
        out = model(rgb, xyz, cond, mask, t, text, image)
        velocity = torch.cat([out.rgb, out.xyz], dim=1).float()
        if use_cfg:
            if split_cfg:
                conditional, unconditional = parallel.cfg.exchange(velocity)
            else:
                conditional, unconditional = velocity.chunk(2)
            velocity = unconditional + config.guidance_scale * (conditional - unconditional)
        latents = scheduler.step(velocity, timestep, latents.float(), return_dict=False)[0].to(
            cond_latents.dtype
        )
        if on_step_end is not None:
            replaced = on_step_end(step, timestep, latents)
            if replaced is not None:
                if replaced.shape != latents.shape:
                    raise ModelError(
                        f"on_step_end returned {tuple(replaced.shape)}, need {tuple(latents.shape)}"
                    )
                latents = replaced.to(latents)
    rgb, xyz = latents.chunk(2, dim=1)
    return JointLatents(rgb=rgb, xyz=xyz)
