"""Stage 1 of the tiny One4D: its VAE (`one4d_model.models.patch_vae.RefinedPatchVAE`), trained on synthetic
RGB videos and their pointmap codes.

The principal components of space-time patches of RGB videos and pointmap codes are fitted first (closed
form); then two small convolutional networks at latent resolution learn to correct the latents and the
reconstruction, with an L1 loss on both kinds of video (pointmap codes weighted higher: they carry the
geometry the model is judged on). Finally the latents are normalised per channel. Pointmaps are trained on
because a VAE this small does not carry over from RGB to pointmaps the way Wan's does at 14B scale.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from one4d_data.dataset import ClipDataset, SyntheticSource, collate_samples
from one4d_model.models.patch_vae import LinearPatchVAE, RefinedPatchVAE

from ..schedule import build_scheduler
from .common import StageLog, apply_update, load_stage_state, save_stage_state

TRAIN_SEED = 11
"""Seed of the VAE's training scenes (the transformer stages and their held-out scenes use other seeds)."""
HELD_OUT_SEED = 3_000_017


@dataclass
class VAEStageConfig:
    steps: int = 1500
    batch_size: int = 8  # videos of each kind (RGB and pointmap codes) per step
    lr: float = 1e-3
    warmup_steps: int = 50
    xyz_weight: float = 2.0
    net_width: int = 128  # channels of the correction networks
    blocks: int = 2
    pca_clips: int = 256
    stats_clips: int = 128
    eval_clips: int = 32
    num_frames: int = 9
    height: int = 64
    width: int = 96
    seed: int = 0
    save_every: int = 250
    log_every: int = 25


def _clips(config: VAEStageConfig, count: int, seed: int) -> ClipDataset:
    source = SyntheticSource(count, config.num_frames, config.height, config.width, seed=seed)
    return ClipDataset(source, config.num_frames, config.height, config.width, seed=seed)


def _videos(dataset: ClipDataset, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    samples = collate_samples([dataset[(start + j) % len(dataset)] for j in range(count)])
    return samples["rgb"], samples["xyz"]


@torch.no_grad()
def reconstruction_errors(vae, rgb: torch.Tensor, xyz: torch.Tensor) -> dict[str, float]:
    """Mean absolute reconstruction error of RGB videos and pointmap codes (in [-1, 1] units)."""
    return {
        "l1_rgb": float((vae.decode(vae.encode(rgb)) - rgb).abs().mean()),
        "l1_xyz": float((vae.decode(vae.encode(xyz)) - xyz).abs().mean()),
    }


def train_vae_stage(output_dir: str | Path, config: VAEStageConfig | None = None) -> Path:
    """Fit and train the tiny VAE into `output_dir` (resuming from its last state); returns the file of the
    result (`output_dir/vae.safetensors`), loadable with `RefinedPatchVAE.load`."""
    config = config or VAEStageConfig()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = _clips(config, config.steps * config.batch_size + config.pca_clips, TRAIN_SEED)
    held_out = _clips(config, config.eval_clips, HELD_OUT_SEED)
    eval_rgb, eval_xyz = _videos(held_out, 0, config.eval_clips)

    rgb, xyz = _videos(train, 0, config.pca_clips)
    linear = LinearPatchVAE.fit(torch.cat([rgb, xyz]))
    torch.manual_seed(config.seed)
    vae = RefinedPatchVAE(linear, width=config.net_width, blocks=config.blocks)
    params = [p for name, p in vae.named_parameters() if not name.startswith("linear.")]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=1e-4)
    scheduler = build_scheduler(optimizer, "cosine", config.warmup_steps, config.steps)
    step = load_stage_state(out, vae, optimizer, scheduler)
    log = StageLog(out, "one4d-pretrain vae", config.steps, step, asdict(config))
    if step == 0:
        log.log(0, {f"eval/pca_{k}": v for k, v in reconstruction_errors(linear, eval_rgb, eval_xyz).items()})
    tick = time.perf_counter()
    while step < config.steps:
        rgb, xyz = _videos(train, config.pca_clips + step * config.batch_size, config.batch_size)
        videos = torch.cat([rgb, xyz])
        recon = vae.decode_train(vae.encode_train(videos))
        loss_rgb = (recon[: len(rgb)] - rgb).abs().mean()
        loss_xyz = (recon[len(rgb) :] - xyz).abs().mean()
        loss = loss_rgb + config.xyz_weight * loss_xyz
        values = apply_update(loss, params, optimizer, scheduler, "one4d-pretrain vae", step)
        step += 1
        if step % config.log_every == 0 or step == config.steps:
            elapsed, tick = time.perf_counter() - tick, time.perf_counter()
            values.update(
                l1_rgb=loss_rgb.item(), l1_xyz=loss_xyz.item(), s_per_step=elapsed / config.log_every
            )
            if step % config.save_every == 0 or step == config.steps:
                values.update(
                    {f"eval/{k}": v for k, v in reconstruction_errors(vae, eval_rgb, eval_xyz).items()}
                )
            log.log(step, values)
        log.progress(step, {"loss": values["loss"]})
        if step % config.save_every == 0 and step < config.steps:
            save_stage_state(out, vae, optimizer, scheduler, step)
    stats_rgb, stats_xyz = _videos(train, 0, config.stats_clips)
    vae.set_latent_statistics(torch.cat([stats_rgb, stats_xyz]))
    final = out / "vae.safetensors"
    vae.save(  # atomically
        final,
        metadata={"stage": "one4d-pretrain vae", "steps": str(step)},
        corrections_dtype=torch.float16,  # the shipped file: half the size, same reconstructions to ~1e-4
    )
    save_stage_state(out, vae, optimizer, scheduler, step)
    log.log(step, {f"eval/final_{k}": v for k, v in reconstruction_errors(vae, eval_rgb, eval_xyz).items()})
    log.close()
    return final
