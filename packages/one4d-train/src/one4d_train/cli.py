"""`one4d-train`: train One4D. With no arguments, the CPU-sized `tiny-cpu` preset on synthetic scenes."""

from __future__ import annotations

import argparse

from one4d_geometry.cli_errors import run_cli

from .arguments import add_config_arguments
from .config import load_config, toml_string


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="one4d-train",
        description="Train One4D (DLC on Wan2.1). Without arguments: the tiny-cpu preset on a laptop CPU.",
    )
    add_config_arguments(parser)
    parser.add_argument("--output-dir", help="where config, logs and checkpoints go")
    parser.add_argument("--max-steps", type=int, help="optimizer steps")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    parser.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("one4d-train", lambda: _train(args))


def _train(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.output_dir:
        overrides.append(f"output_dir={toml_string(args.output_dir)}")
    if args.max_steps is not None:
        overrides.append(f"max_steps={args.max_steps}")
    config = load_config(args.config, args.preset, overrides)
    from .trainer import run_training  # heavy imports only once the config is known to be good

    summary = run_training(config, resume=args.resume, run_eval=not args.no_eval)
    if "eval_before" in summary and "eval_after" in summary:
        before, after = summary["eval_before"], summary["eval_after"]
        print(
            f"one4d-train: held-out flow-matching loss {before['val_loss']:.4f} -> {after['val_loss']:.4f}; "
            f"full-video depth AbsRel {after['full_video/abs_rel']:.3f} (constant depth "
            f"{after['constant/abs_rel']:.3f}, ground truth through the VAE {after['vae/abs_rel']:.3f})"
        )
    print(f"one4d-train: checkpoint in {config.output_dir}/checkpoints (step {summary['final_step']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
