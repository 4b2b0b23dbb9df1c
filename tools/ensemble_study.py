"""How the reconstruction ensemble (`One4DPipeline(ensemble_size=k)`) changes held-out full-video geometry.

Each held-out scene is sampled `max(sizes)` times from successive noise of one generator seeded as the
evaluation seeds it, so the mean of the first k draws is exactly what `ensemble_size=k` returns for that
scene; one set of draws serves every size. Prints a Markdown table, a row per size: means (as
`one4d-heldout` prints them) and medians over the scenes (camera recovery on poor pointmaps has outliers that
dominate a mean), beside the constant answer; `--json` keeps the per-scene scores. The README table:

    uv run python tools/ensemble_study.py one4d-tiny --sizes 1 2 4 8 16
    uv run python tools/ensemble_study.py runs/dense/dense --sizes 1 2 4 8 16
    uv run python tools/ensemble_study.py one4d-tiny --sizes 1 --steps 1   # (and runs/dense/dense)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import torch
from one4d_geometry.files import atomic_write_text
from one4d_model import One4DPipeline, find_checkpoint
from one4d_model.cli.generate import positive_int
from one4d_model.loading.run_format import run_folder
from one4d_model.models.tiny import TINY_NAME
from one4d_train.batches import held_out_scenes
from one4d_train.config import load_config
from one4d_train.evaluation import (
    channel_variance,
    constant_scene_scores,
    explained_variance,
    pointmap_latents,
    scene_scores_of_latents,
)

COLUMNS = ("depth AbsRel", "delta<1.25", "focal error", "rotation error (deg)")


def held_out_clips(checkpoint: str, count: int) -> tuple[list, int]:
    """The held-out synthetic scenes of the checkpoint's run (the default preset's for `one4d-tiny`), and the
    run's seed."""
    if checkpoint == TINY_NAME and not Path(checkpoint).exists():
        config = load_config()
    else:
        config = load_config(run_folder(find_checkpoint(checkpoint)) / "config.toml")
    config.data.eval_clips = count
    return held_out_scenes(config), config.seed


def draw_latents(pipeline: One4DPipeline, clips: list, seed: int, draws: int) -> list[torch.Tensor]:
    """(draws, 16, f, h, w) full-video XYZ latents per clip, successive draws of the clip's generator."""
    out = []
    for index, clip in enumerate(clips):
        generator = torch.Generator(device=pipeline.device).manual_seed(seed + index)
        samples = [
            pipeline(
                clip.rgb, task="full_video", prompt=clip.caption, generator=generator, output_type="latent"
            ).latents.xyz
            for _ in range(draws)
        ]
        out.append(torch.cat(samples))
    return out


def ensemble_scores(pipeline, clips, draws: list[torch.Tensor], sizes: list[int]) -> dict[int, list]:
    """Per-scene scores (None: no cameras recovered) of the mean of the first k draws, for each size k."""
    return {
        k: scene_scores_of_latents(pipeline.vae, [d[:k].mean(0, keepdim=True) for d in draws], clips)
        for k in sizes
    }


def explained_by_size(pipeline, clips, draws: list[torch.Tensor], sizes: list[int]) -> dict:
    """Share of the true pointmap latents' variance (`evaluation.explained_variance`, all scenes together)
    that the mean of the first k draws explains, per size k; and `spread`: the variance of one draw about
    the mean of all draws, as a share of the same variance. Draws are independent given the scene, so the
    mean of k explains about explained(infinity) - spread / k: one draw is worse than the mean by `spread`."""
    with torch.no_grad():
        truth = torch.cat([pointmap_latents(pipeline.vae, clip, pipeline.device) for clip in clips]).float()
    stacked = torch.stack([d.float() for d in draws])  # (clips, draws, 16, f, h, w)
    explained = {k: explained_variance(stacked[:, :k].mean(1), truth) for k in sizes}
    spread = math.nan
    if stacked.shape[1] > 1:
        spread = float(stacked.var(dim=1).mean()) / channel_variance(truth)
    return {"explained": explained, "spread": spread}


def summary(rows: list) -> dict[str, list[float]]:
    """Mean and median over the recovered scenes of each column (NaN-free columns only)."""
    table = np.array([r for r in rows if r is not None], dtype=np.float64).reshape(-1, len(COLUMNS))
    stats = {}
    for name, reduce in (("mean", np.nanmean), ("median", np.nanmedian)):
        stats[name] = [float(reduce(table[:, i])) if len(table) else math.nan for i in range(len(COLUMNS))]
    stats["recovered"] = [len(table), len(rows)]
    return stats


def _row(label: str, explained: str, stats: dict) -> str:
    mean, median = stats["mean"], stats["median"]
    recovered, scenes = stats["recovered"]
    return (
        f"| {label} | {explained} | {mean[0]:.3f} / {median[0]:.3f} | {mean[1]:.3f} | "
        f"{100 * mean[2]:.1f} / {100 * median[2]:.1f} % | {mean[3]:.2f} / {median[3]:.2f} deg | "
        f"{recovered}/{scenes} |"
    )


def format_table(results: dict[int, dict], explained: dict, constant: dict) -> str:
    lines = [
        "| samples averaged | XYZ latents explained | depth AbsRel (mean / median) | delta<1.25 "
        "| focal error (mean / median) | rotation error (mean / median) | recovered |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [_row(str(k), f"{explained['explained'][k]:.3f}", stats) for k, stats in results.items()]
    lines.append(_row("reference: constant depth, identity cameras, mean focal", "0", constant))
    lines.append(
        f"\nspread of one draw about the mean of all, as a share of the variance: {explained['spread']:.3f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="one4d-tiny, a one4d-train run folder or step folder")
    parser.add_argument("--sizes", type=positive_int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--clips", type=positive_int, default=16, help="held-out scenes (the README's: 16)")
    parser.add_argument(
        "--steps",
        type=positive_int,
        help="sampling steps (default: as the run recorded; 1: the x0 "
        "prediction from pure noise, the model's estimate of the posterior mean)",
    )
    parser.add_argument("--json", type=Path, help="write the per-scene scores here")
    args = parser.parse_args(argv)
    clips, seed = held_out_clips(args.checkpoint, args.clips)
    pipeline = One4DPipeline.from_checkpoint(args.checkpoint)
    pipeline.set_progress_bar_config(disable=True)
    if args.steps is not None:
        pipeline.sampling = dataclasses.replace(pipeline.sampling, num_steps=args.steps)
    draws = draw_latents(pipeline, clips, seed, max(args.sizes))
    per_scene = ensemble_scores(pipeline, clips, draws, sorted(set(args.sizes)))
    results = {k: summary(rows) for k, rows in per_scene.items()}
    explained = explained_by_size(pipeline, clips, draws, sorted(set(args.sizes)))
    print(format_table(results, explained, summary(constant_scene_scores(clips))))
    if args.json is not None:
        record = {"checkpoint": args.checkpoint, "scenes": per_scene, "summary": results, **explained}
        atomic_write_text(args.json, json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
