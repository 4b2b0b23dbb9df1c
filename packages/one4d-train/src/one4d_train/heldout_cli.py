"""`one4d-heldout`: the held-out geometry table of a trained run, optionally with other sampling settings.

    one4d-heldout runs/tiny-cpu                        # the table `one4d-train` printed at the end
    one4d-heldout runs/tiny-cpu --steps 50 --guidance 4
    one4d-heldout runs/tiny-cpu --ensemble 8           # full video: the mean of 8 samples per scene

The scenes are the run's held-out synthetic scenes (never trained on); the model is the run's latest
checkpoint through `One4DPipeline`; the reference rows (constant depth, ground truth through the VAE) are
computed on the same scenes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from one4d_geometry.cli_errors import run_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="one4d-heldout", description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a one4d-train output folder (with config.toml and checkpoints/)")
    parser.add_argument("--steps", type=int, help="sampling steps (default: as the run recorded)")
    parser.add_argument("--guidance", type=float, help="guidance scale (default: as the run recorded)")
    parser.add_argument("--shift", type=float, help="sampling shift (default: as the run recorded)")
    parser.add_argument(
        "--ensemble",
        type=int,
        default=1,
        help="full-video rows: the mean of this many samples per scene (One4DPipeline's ensemble_size)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("one4d-heldout", lambda: _heldout(args))


def _heldout(args) -> int:
    from .config import ConfigError, load_config

    run = Path(args.run)
    config = load_config(run / "config.toml")
    if config.data.source != "synthetic":
        raise ConfigError(f"{run}: the run trained on data.source != 'synthetic'; no held-out scenes")

    import dataclasses

    from one4d_model import One4DPipeline

    from .batches import held_out_scenes
    from .config import model_spec
    from .evaluation import evaluate_geometry, format_geometry_table

    pipeline = One4DPipeline.from_checkpoint(run)
    chosen = {"num_steps": args.steps, "guidance_scale": args.guidance, "shift": args.shift}
    pipeline.sampling = dataclasses.replace(
        pipeline.sampling, **{k: v for k, v in chosen.items() if v is not None}
    )
    clips = held_out_scenes(config)
    rows = evaluate_geometry(pipeline, pipeline.vae, clips, config.seed, model_spec(config), args.ensemble)
    s = pipeline.sampling
    ensemble = f"; full video: mean of {args.ensemble} samples" if args.ensemble > 1 else ""
    print(
        f"{len(clips)} held-out scenes; {s.num_steps} steps, guidance {s.guidance_scale}, shift {s.shift}"
        f"{ensemble}\n"
        f"{format_geometry_table(rows)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
