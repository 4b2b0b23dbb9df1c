"""Held-out evaluation a user can read: flow-matching loss and the depth error of the recovered geometry.

Reconstruction task (full video observed): sample RGB + XYZ latents, decode the pointmaps, undo the clip's
normalisation, recover cameras and depth with `one4d_geometry.recover_cameras`, and compare the depth with
the ground truth (AbsRel after per-clip median scaling, since generated pointmaps are scale-free).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from one4d_data.dataset import collate_samples
from one4d_data.normalize import PointmapNormalization
from one4d_data.umc import TASKS
from one4d_geometry.recovery import recover_cameras
from one4d_model.conditioning import pack_frame_mask
from one4d_model.sampling import SamplerConfig, sample_joint

from .batches import EncodedBatches
from .losses import flow_matching_loss

FIXED_SIGMAS = (0.25, 0.5, 0.75)


def depth_abs_rel(pred: np.ndarray, gt: np.ndarray) -> float:
    """AbsRel after median scaling over all valid pixels of the clip."""
    valid = np.isfinite(gt) & (gt > 0) & np.isfinite(pred) & (pred > 0)
    if valid.sum() < 16:
        return math.nan
    scale = np.median(gt[valid]) / np.median(pred[valid])
    return float(np.mean(np.abs(pred[valid] * scale - gt[valid]) / gt[valid]))


def _full_video_batch(source: EncodedBatches) -> tuple[dict, object]:
    items = []
    full = TASKS.index("full_video")
    for index in range(len(source.dataset)):
        item = source.dataset[index]
        item["cond_rgb"] = item["rgb"].clone()
        item["frame_mask"] = torch.ones_like(item["frame_mask"])
        item["task"] = torch.tensor(full)
        items.append(item)
    samples = collate_samples(items)
    return samples, source.encode(samples)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, source: EncodedBatches, sampling_steps: int, seed: int
) -> dict[str, float]:
    """val_loss (fixed sigmas and noise) and depth_absrel of the recovered geometry (full-video task)."""
    was_training = model.training
    model.eval()
    samples, batch = _full_video_batch(source)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for sigma in FIXED_SIGMAS:
        sigmas = torch.full((batch.rgb.shape[0],), sigma, device=batch.rgb.device)
        noise_rgb = torch.randn(batch.rgb.shape, generator=gen).to(batch.rgb)
        noise_xyz = torch.randn(batch.xyz.shape, generator=gen).to(batch.xyz)
        losses.append(float(flow_matching_loss(model, batch, sigmas, noise_rgb, noise_xyz).total))
    mask = pack_frame_mask(samples["frame_mask"].to(batch.rgb.device), tuple(batch.rgb.shape[-2:]))
    result = sample_joint(
        model,
        batch.cond,
        mask,
        batch.text,
        batch.image,
        config=SamplerConfig(num_steps=sampling_steps, guidance_scale=1.0, shift=3.0),
        generator=torch.Generator(device=batch.rgb.device).manual_seed(seed),
    )
    xyz = source.vae.decode(result.xyz).float().cpu()  # (B, 3, F, H, W) in [-1, 1]
    errors = []
    for i in range(xyz.shape[0]):
        norm = PointmapNormalization(samples["norm_center"][i].numpy(), float(samples["norm_scale"][i]))
        points = norm.invert(xyz[i].permute(1, 2, 3, 0).numpy())
        gt = samples["depth"][i].numpy()
        try:
            recovery = recover_cameras(points)
            errors.append(depth_abs_rel(np.asarray(recovery.depth), gt))
        except ValueError:
            errors.append(math.nan)  # geometry too broken to recover a camera: counts as a failure
    model.train(was_training)
    finite = [e for e in errors if math.isfinite(e)]
    return {
        "val_loss": float(np.mean(losses)),
        "depth_absrel": float(np.mean(finite)) if finite else math.nan,
        "recovered_clips": float(len(finite)),
    }
