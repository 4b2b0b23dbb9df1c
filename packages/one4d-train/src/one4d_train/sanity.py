"""`one4d-sanity`: the whole chain proven in minutes, by fine-tuning the tiny One4D on a few clips and scoring
the geometry it generates for those same clips.

    one4d-sanity                         # 1 clip (uv run nox -s sanity)
    one4d-sanity --clips 4 --max-steps 3000

Training is the default preset's model (`tiny-cpu`: the shipped frozen base, DLC) on the full-video task of
`--clips` synthetic clips only (see `SETTINGS`); scoring is `one4d_train.evaluation` on those clips, through
`One4DPipeline` with the run's sampling defaults and `recover_cameras`, beside the constant answer and the
ground truth through the VAE. A model that memorises its clips must reach the targets below; missing one
means a link of encoding, DLC, sampling, decoding or recovery is broken, and the command exits 1. This is not
a measure of generalisation (the held-out table of `one4d-train` is).

The VAE bounds what any model can reach: over the first 16 training scenes the ground truth through the
shipped VAE scores depth AbsRel 0.015-0.23 (mean 0.10; its absolute error in the normalised scene box is large
relative to the depth of near points and at depth edges), and one scene's cameras are 23 degrees off. So the
clips are those of the first data seed whose ground truth through the VAE is well inside the targets (half of
each): the targets then test the model, not the codec.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from one4d_geometry.cli_errors import run_cli

from .arguments import add_set_argument

TARGETS = {"abs_rel": 0.10, "focal_error": 0.05, "rotation_error_deg": 1.0}
"""Full-video scores the memorised clips must reach (issue 19)."""
SETTINGS = [
    "max_steps=1600",
    "batch_size=2",
    "save_every=1600",
    "log_every=50",
    "data.eval_clips=1",
    "data.task_ratios=[0.0, 0.0, 1.0]",
    "timestep_shift=1.0",
    "sampling.shift=1.0",
    "optim.warmup_steps=20",
]
"""The default preset's model and optimisation, on the full-video task that the targets score, with noise
levels drawn uniformly (shift 1) in training and in sampling, batch 2 (one clip: a bigger batch only repeats
it). Measured on one clip: with the default shift 3 and the task mix the rotation error stayed at 2.5-3.4
degrees after 1200 steps of batch 4; full video with shift 1 in training reached 1.1 degrees sampled at shift
3 and 0.5-0.7 sampled at shift 1 after 1600 steps of batch 4 (2.1 steps/s alone: over 12 min of training),
0.81 after 1600 of batch 2 (9.5 min in all)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="one4d-sanity", description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="runs/sanity", help="the run folder (default runs/sanity)")
    parser.add_argument("--clips", type=int, default=1, help="training clips, also the ones scored")
    parser.add_argument("--max-steps", type=int, help="fine-tuning steps (default 1600)")
    add_set_argument(parser, "override a training config value, e.g. --set optim.lr=3e-4")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("one4d-sanity", lambda: _sanity(args))


def sanity_config(output_dir: str | Path, clips: int, overrides: list[str]):
    from .config import ConfigError, load_config, toml_string

    if clips < 1:
        raise ConfigError(f"--clips must be at least 1, got {clips}")
    settings = [*SETTINGS, f"data.num_clips={clips}", f"output_dir={toml_string(str(output_dir))}"]
    return load_config(None, "tiny-cpu", [*settings, *overrides])


FIRST_SEEDS = {1: 8, 4: 221}
"""The first seeds `clips_within_reach` finds from seed 0 for 1 and 4 clips with the shipped VAE (the search
takes over 2 minutes for 4 clips; it starts here and checks them again)."""


def clips_within_reach(config, tries: int = 2000) -> tuple[int, list]:
    """(seed, clips): the first data seed from `config.seed` on whose `data.num_clips` clips the ground truth
    through the run's VAE reaches half of every target (see the module docstring). `config` is not changed."""
    from one4d_model.models.vae import build_vae

    from .batches import synthetic_clips
    from .evaluation import vae_reference

    vae = build_vae(config.model.vae)
    start = config.seed
    if start == 0 and config.model.vae == "one4d-tiny":
        start = FIRST_SEEDS.get(config.data.num_clips, 0)
    for seed in range(start, start + tries):
        source = synthetic_clips(dataclasses.replace(config, seed=seed)).source
        clips = []
        for index in range(len(source)):
            bound = vae_reference(vae, [source[index]])
            if not all(getattr(bound, name) <= limit / 2 for name, limit in TARGETS.items()):
                break
            clips.append(source[index])
        if len(clips) == len(source):
            return seed, clips
    raise RuntimeError(f"no seed in {tries} gives {config.data.num_clips} clips the VAE can represent")


def run_sanity(config) -> dict:
    """Fine-tune per `config` on the clips of `clips_within_reach` (its seed becomes `config.seed`), then
    score those clips; returns `evaluate_geometry`'s rows."""
    from one4d_model import One4DPipeline

    from .evaluation import evaluate_geometry
    from .trainer import Trainer

    config.seed, clips = clips_within_reach(config)
    Trainer(config).fit(run_eval=False)
    pipeline = One4DPipeline.from_checkpoint(config.output_dir)
    return evaluate_geometry(pipeline, pipeline.vae, clips, config.seed)


def missed_targets(rows: dict) -> list[str]:
    """The targets the full-video row misses, as readable lines (empty: every link works)."""
    full = rows["full_video"]
    missed = []
    for name, bound in TARGETS.items():
        value = getattr(full, name)
        if not value <= bound:  # NaN (no cameras) misses too
            missed.append(f"full-video {name} {value:.4g} > {bound:g}")
    if full.recovered < full.clips:
        missed.append(f"cameras recovered for {full.recovered} of {full.clips} clips")
    return missed


def _sanity(args) -> int:
    from .evaluation import format_geometry_table

    overrides = list(args.overrides)
    if args.max_steps is not None:
        overrides.append(f"max_steps={args.max_steps}")
    config = sanity_config(args.output_dir, args.clips, overrides)
    start = time.perf_counter()
    rows = run_sanity(config)
    minutes = (time.perf_counter() - start) / 60
    print(
        f"one4d-sanity: {args.clips} training clip(s) (data seed {config.seed}), {config.max_steps} steps, "
        f"scored on the same clips ({minutes:.1f} min)\n{format_geometry_table(rows, 'trained clips')}"
    )
    missed = missed_targets(rows)
    targets = ", ".join(f"{k} <= {v:g}" for k, v in TARGETS.items())
    if missed:
        print(f"one4d-sanity: FAILED ({targets}): " + "; ".join(missed))
        return 1
    print(f"one4d-sanity: passed ({targets})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
