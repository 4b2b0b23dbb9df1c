"""Held-out evaluation: what the trained model does on synthetic scenes it never saw, as a user runs it.

Every task goes through `One4DPipeline` with the run's sampling settings (what `one4d-generate` uses by
default), cameras and depth come from `recover_cameras` on the generated pointmaps, and the scores sit beside
two references on the same clips:
- "constant": the trivial answer (a constant depth map, identity rotations, the synthetic scenes' mean focal
  length), which a model must beat to have learned anything;
- "ground truth through the VAE": the true pointmaps encoded and decoded by the run's VAE, then recovered
  the same way: the best the model can reach with this VAE.
Depth is scored with one median scale per clip (generated pointmaps have no scale); rotations relative to the
first frame; for the single-image and sparse-frame tasks only the observed frames are scored (the others are
generated, not reconstructed), and the RGB of the frames that were not given is scored by PSNR.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from one4d_data.clip import Clip
from one4d_data.dataset import collate_samples
from one4d_data.normalize import (
    UNIT_NORMALIZATION,
    decode_pointmaps,
    encode_pointmaps,
    robust_normalization,
)
from one4d_data.synthetic import FOCAL_RANGE
from one4d_data.umc import FRAME_TASKS, TASKS
from one4d_geometry.errors import RecoveryError
from one4d_geometry.metrics import (
    focal_relative_error,
    median_scaled_depth_errors,
    relative_rotation_errors_deg,
)
from one4d_geometry.recovery import CameraRecovery, recover_cameras

FIXED_SIGMAS = (0.25, 0.5, 0.75)
"""Noise levels of the held-out flow-matching loss (with fixed noise, so it is comparable across steps)."""
MEAN_FOCAL = sum(FOCAL_RANGE) / 2
"""fx / width of the constant reference: the mean of the synthetic scenes' focal range."""


@dataclass
class GeometryScores:
    """Mean scores over clips; `recovered` clips of `clips` gave cameras (the others count as failures)."""

    abs_rel: float
    delta: float
    focal_error: float
    rotation_error_deg: float
    recovered: int
    clips: int
    psnr: float = math.nan  # RGB of the frames that were not given (single-image and sparse tasks)


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - MSE / variance of `target` (B, C, ...) about its per-channel means: 0 for the per-channel mean
    answer, 1 for a perfect prediction (the coefficient of determination, R^2)."""
    return _explained(float((predicted.float() - target.float()).pow(2).mean()), target)


def channel_variance(target: torch.Tensor) -> float:
    """Mean squared deviation of `target` (B, C, ...) from its per-channel means: the error of the answer
    that explains nothing."""
    target = target.float()
    centred = target - target.mean(dim=[d for d in range(target.dim()) if d != 1], keepdim=True)
    return float(centred.pow(2).mean())


def _explained(mse: float, target: torch.Tensor) -> float:
    return 1.0 - mse / max(channel_variance(target), 1e-12)


@torch.no_grad()
def held_out_losses(model: torch.nn.Module, batches, seed: int) -> dict[str, float]:
    """Flow-matching loss (RGB, XYZ and their sum) of the full-video task over every held-out clip, at the
    sigmas `FIXED_SIGMAS` with fixed noise, so values are comparable across steps and runs; and
    `val_xyz_explained`: how much of the XYZ latents' variance the model predicts from the full video at
    sigma 1 (pure noise in, x0 = noise - velocity out). That is the part of geometry that must come from the
    frames; the flow-matching loss at lower sigmas can fall while it stays near 0 (issue 19)."""
    from .losses import flow_matching_loss

    was_training = model.training
    model.eval()
    items = []
    for index in range(len(batches.dataset)):
        item = batches.dataset[index]
        item["cond_rgb"] = item["rgb"].clone()
        item["frame_mask"] = torch.ones_like(item["frame_mask"])
        item["task"] = torch.tensor(TASKS.index("full_video"))
        items.append(item)
    batch = batches.to_batch(collate_samples(items))
    gen = torch.Generator().manual_seed(seed)

    def losses_at(sigma: float):
        sigmas = torch.full((batch.rgb.shape[0],), sigma, device=batch.rgb.device)
        noise_rgb = torch.randn(batch.rgb.shape, generator=gen).to(batch.rgb)
        noise_xyz = torch.randn(batch.xyz.shape, generator=gen).to(batch.xyz)
        return flow_matching_loss(model, batch, sigmas, noise_rgb, noise_xyz)

    rgb, xyz = [], []
    for sigma in FIXED_SIGMAS:
        terms = losses_at(sigma)
        rgb.append(float(terms.rgb.mean()))
        xyz.append(float(terms.xyz.mean()))
    # At sigma 1 the input is pure noise and the velocity error is exactly the error of x0 = noise - velocity.
    explained = _explained(float(losses_at(1.0).xyz.mean()), batch.xyz)
    model.train(was_training)
    return {
        "val_loss": float(np.mean(rgb) + np.mean(xyz)),
        "val_loss_rgb": float(np.mean(rgb)),
        "val_loss_xyz": float(np.mean(xyz)),
        "val_xyz_explained": explained,
    }


def _frame_scores(
    depth: np.ndarray, c2w: np.ndarray, focal: np.ndarray, clip: Clip, frames: np.ndarray
) -> tuple[float, float, float, float]:
    gt_depth = np.where(clip.valid, clip.depth, np.nan)[frames]
    abs_rel, delta, _ = median_scaled_depth_errors(depth[frames], gt_depth)
    focal_error = focal_relative_error(focal[frames], clip.K[frames, 0, 0])
    rotation = math.nan
    if len(frames) > 1:  # frame 0 is always scored: rotations relative to it
        rotation = float(np.mean(relative_rotation_errors_deg(c2w[frames], clip.c2w[frames])))
    return abs_rel, delta, focal_error, rotation


def _recover(points: np.ndarray, valid: np.ndarray, reliable: np.ndarray) -> CameraRecovery | None:
    try:
        return recover_cameras(points, mask=valid, fit_mask=reliable)
    except RecoveryError:  # output too degenerate for cameras: a failure of the model, counted as such
        return None


def _mean_scores(rows: list[tuple[float, ...] | None], psnr: list[float]) -> GeometryScores:
    done = [r for r in rows if r is not None]

    def mean(i: int) -> float:
        values = [r[i] for r in done if math.isfinite(r[i])]
        return float(np.mean(values)) if values else math.nan

    finite_psnr = [p for p in psnr if math.isfinite(p)]
    return GeometryScores(
        abs_rel=mean(0),
        delta=mean(1),
        focal_error=mean(2),
        rotation_error_deg=mean(3),
        recovered=len(done),
        clips=len(rows),
        psnr=float(np.mean(finite_psnr)) if finite_psnr else math.nan,
    )


def psnr(generated: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of uint8 images."""
    mse = np.mean((generated.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def evaluate_task(
    pipeline, clips: list[Clip], task: str, seed: int = 0, ensemble_size: int = 1
) -> GeometryScores:
    """The pipeline on each clip for `task` (its sampling defaults; `ensemble_size` samples averaged, full
    video only), scored on the observed frames."""
    rows: list[tuple[float, ...] | None] = []
    psnrs: list[float] = []
    for index, clip in enumerate(clips):
        out = pipeline(
            clip.rgb, task=task, prompt=clip.caption, seed=seed + index, ensemble_size=ensemble_size
        )
        observed = np.flatnonzero(out.frame_mask > 0)
        hidden = np.flatnonzero(out.frame_mask == 0)
        if len(hidden):
            psnrs.append(psnr(out.frames[hidden], clip.rgb[hidden]))
        recovery = _recover(out.pointmaps, out.valid, out.reliable)
        if recovery is None:
            rows.append(None)
            continue
        rows.append(_frame_scores(recovery.depth, recovery.c2w, recovery.focal, clip, observed))
    return _mean_scores(rows, psnrs)


def constant_reference(clips: list[Clip]) -> GeometryScores:
    """The trivial answer: constant depth, identity rotations, the mean focal length of the scenes."""
    return _mean_scores(constant_scene_scores(clips), [])


def constant_scene_scores(clips: list[Clip]) -> list[tuple[float, float, float, float]]:
    """`constant_reference` per scene (AbsRel, delta<1.25, focal error, rotation error in degrees)."""
    rows = []
    for clip in clips:
        frames = np.arange(clip.num_frames)
        depth = np.ones(clip.depth.shape, dtype=np.float32)
        c2w = np.tile(np.eye(4), (clip.num_frames, 1, 1))
        focal = np.full(clip.num_frames, MEAN_FOCAL * clip.width)
        rows.append(_frame_scores(depth, c2w, focal, clip, frames))
    return rows


@torch.no_grad()
def pointmap_latents(vae, clip: Clip, device: torch.device | str = "cpu", norm=None) -> torch.Tensor:
    """The clip's true pointmaps as VAE latents (1, 16, f, h, w), coded in `norm` (default: the clip's own
    normalization)."""
    if norm is None:
        norm = robust_normalization(clip.pointmaps, clip.valid, where=clip.name)
    points = torch.from_numpy(np.asarray(clip.pointmaps, dtype=np.float32))
    code = encode_pointmaps(points, torch.from_numpy(clip.valid), norm).permute(3, 0, 1, 2)[None]
    return vae.encode(code.to(device))


@torch.no_grad()
def score_pointmap_latents(vae, latents: list[torch.Tensor], clips: list[Clip], norms=None) -> GeometryScores:
    """Pointmap latents (one (1, 16, f, h, w) per clip) decoded, read back (in `norms`, one per clip, or in
    the model's own units as the pipeline does), recovered and scored like the model's full-video output."""
    return _mean_scores(scene_scores_of_latents(vae, latents, clips, norms), [])


@torch.no_grad()
def scene_scores_of_latents(
    vae, latents: list[torch.Tensor], clips: list[Clip], norms=None
) -> list[tuple[float, float, float, float] | None]:
    """`score_pointmap_latents` per scene: (AbsRel, delta<1.25, focal error, rotation error in degrees) of
    each clip, None where no cameras could be recovered (for medians and per-scene outliers)."""
    rows: list[tuple[float, float, float, float] | None] = []
    for index, (latent, clip) in enumerate(zip(latents, clips, strict=True)):
        norm = UNIT_NORMALIZATION if norms is None else norms[index]
        decoded = vae.decode(latent).float()[0].permute(1, 2, 3, 0).cpu().numpy()
        read = decode_pointmaps(decoded, norm)
        recovery = _recover(read.points, read.valid, read.reliable)
        if recovery is None:
            rows.append(None)
            continue
        frames = np.arange(clip.num_frames)
        rows.append(_frame_scores(recovery.depth, recovery.c2w, recovery.focal, clip, frames))
    return rows


def vae_reference(vae, clips: list[Clip], device: torch.device | str = "cpu") -> GeometryScores:
    """True pointmaps through the VAE (encode, decode, read the code back) and recovered like the model's."""
    norms = [robust_normalization(clip.pointmaps, clip.valid, where=clip.name) for clip in clips]
    latents = [pointmap_latents(vae, clip, device, norm) for clip, norm in zip(clips, norms, strict=True)]
    return score_pointmap_latents(vae, latents, clips, norms)


def evaluate_geometry(
    pipeline, vae, clips: list[Clip], seed: int = 0, run_spec=None, ensemble_size: int = 1
) -> dict[str, GeometryScores]:
    """Rows "full_video", "sparse_frames", "single_image" (the model), "constant" and "vae" (references),
    and "shipped" (the shipped `one4d-tiny`'s full video) when `run_spec` is of its kind. `ensemble_size`
    applies to the full-video rows (the tasks that generate frames draw one sample)."""
    # Text to 4D observes nothing, so its scene is not the clip's: no ground truth to score it against.
    rows = {
        task: evaluate_task(pipeline, clips, task, seed, ensemble_size if task == "full_video" else 1)
        for task in reversed(FRAME_TASKS)
    }
    rows["constant"] = constant_reference(clips)
    rows["vae"] = vae_reference(vae, clips, pipeline.device)
    shipped = None
    if run_spec is not None:
        shipped = shipped_model_row(run_spec, clips, pipeline.device, seed, ensemble_size)
    if shipped is not None:
        rows["shipped"] = shipped
    return rows


def shipped_model_row(
    spec, clips: list[Clip], device, seed: int = 0, ensemble_size: int = 1
) -> GeometryScores | None:
    """Full-video scores of the shipped `one4d-tiny` on the same clips, for runs of its kind (same variant,
    VAE and clip size), so that a fine-tuning's table shows the shipped model beside it; else None."""
    from one4d_model import One4DPipeline, read_spec
    from one4d_model.models.tiny import TINY_DLC_FILE, TINY_NAME

    if not TINY_DLC_FILE.is_file():
        return None
    shipped = read_spec(TINY_DLC_FILE)

    def kind(s) -> tuple:
        return (s.variant, s.vae, s.num_frames, s.height, s.width)

    if kind(spec) != kind(shipped):
        return None
    pipeline = One4DPipeline.from_checkpoint(TINY_NAME, device=device)
    pipeline.set_progress_bar_config(disable=True)
    return evaluate_task(pipeline, clips, "full_video", seed, ensemble_size)


ROW_LABELS = {
    "shipped": "shipped one4d-tiny, full video",
    "full_video": "full video (all frames)",
    "sparse_frames": "sparse frames (observed)",
    "single_image": "single image (frame 0)",
    "constant": "reference: constant",
    "vae": "reference: GT through VAE",
}


def format_geometry_table(rows: dict[str, GeometryScores], scenes: str = "held-out") -> str:
    """A Markdown table of the rows of `evaluate_geometry`; `scenes` names the clips in its header."""

    def cell(value: float, fmt: str) -> str:
        return "-" if not math.isfinite(value) else format(value, fmt)

    lines = [
        f"| {scenes} | depth AbsRel | delta<1.25 | focal error | rotation error | RGB PSNR | recovered |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, s in rows.items():
        lines.append(
            f"| {ROW_LABELS.get(key, key)} | {cell(s.abs_rel, '.3f')} | {cell(s.delta, '.3f')} | "
            f"{cell(100 * s.focal_error, '.1f')} % | {cell(s.rotation_error_deg, '.2f')} deg | "
            f"{cell(s.psnr, '.1f')} dB | {s.recovered}/{s.clips} |"
        )
    return "\n".join(lines)


def flatten_scores(rows: dict[str, GeometryScores]) -> dict[str, float]:
    """{"full_video/abs_rel": ..., ...} for the metrics log."""
    return {f"{key}/{name}": float(value) for key, s in rows.items() for name, value in asdict(s).items()}
