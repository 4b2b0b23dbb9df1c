"""`one4d-train`: train One4D. With no arguments, the CPU-sized `tiny-cpu` preset on synthetic scenes."""

from __future__ import annotations

import argparse

from one4d_geometry.cli_errors import run_cli

from .config import PRESETS, load_config


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


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --preset and --set, shared by the training and cache-building commands."""
    parser.add_argument("--config", help="a TOML config file (sections: model, data, optim)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from this preset (default tiny-cpu)")
    add_set_argument(parser, "override a config value, e.g. --set optim.lr=3e-4 (repeatable)")


def add_set_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """Repeatable `--set KEY=VALUE` into `args.overrides` (parsed by `config._parse_override`)."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help_text
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("one4d-train", lambda: _train(args))


def _train(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)
    if args.output_dir:
        overrides.append(f"output_dir={_toml_string(args.output_dir)}")
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


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    raise SystemExit(main())
