"""`one4d-ablate`: the paper's coupling ablation in miniature.

Fine-tunes the same frozen pretrained tiny base with each coupling (`dlc`, and the Figure-2 baselines
`channel` and `spatial`) under the same budget (the `tiny-cpu` preset: same steps, batch, data and seed),
evaluates each on the same held-out scenes, and prints one table beside the base before fine-tuning. The
paper's claim to check: channel- and spatial-wise coupling cost the base its RGB quality, DLC keeps it while
learning geometry.

    one4d-ablate --output-dir runs/ablation [--set max_steps=600] [--coupling dlc --coupling channel]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from one4d_geometry.cli_errors import run_cli
from one4d_geometry.files import atomic_write_text

from .arguments import add_config_arguments
from .config import COUPLINGS, ConfigError, TrainConfig, load_config, toml_string


def _step_time(output_dir: Path) -> float:
    from .metrics_log import read_metrics

    rates = [r["samples_per_s"] for r in read_metrics(output_dir) if "samples_per_s" in r]
    return math.nan if not rates else float(sum(rates) / len(rates))


def base_row(config: TrainConfig) -> dict[str, float]:
    """RGB quality of the base before fine-tuning: a DLC model at initialisation, whose RGB branch is
    exactly the base (its LoRA starts at zero)."""
    from .trainer import Trainer

    trainer = Trainer(config)
    result = trainer.evaluate(geometry=True)
    if result is None:
        raise ConfigError("the ablation needs held-out synthetic scenes: data.source = 'synthetic'")
    values = result[0]
    return {
        "val_loss_rgb": values["val_loss_rgb"],
        "psnr_sparse": values["sparse_frames/psnr"],
        "psnr_single": values["single_image/psnr"],
    }


def run_ablation(
    output_dir: str | Path,
    couplings: list[str],
    config_file: str | None = None,
    preset: str | None = None,
    overrides: list[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Train and evaluate one run per coupling under `output_dir/<coupling>`; returns the table's rows."""
    from .trainer import run_training

    output_dir = Path(output_dir)
    rows: dict[str, dict[str, float]] = {}
    # Every run reads the same clips through the same VAE: encode them once for all (when pre-encoding).
    shared = [f"data.cache_dir={toml_string(str(output_dir / 'latent-cache'))}"]
    overrides = [*shared, *(overrides or [])]
    first = load_config(
        config_file, preset, [*overrides, f"output_dir={toml_string(str(output_dir / 'base'))}"]
    )
    rows["base (before fine-tuning)"] = base_row(first)
    for coupling in couplings:
        run_dir = output_dir / coupling
        config = load_config(
            config_file,
            preset,
            [
                *overrides,
                f"model.coupling={toml_string(coupling)}",
                f"output_dir={toml_string(str(run_dir))}",
            ],
        )
        summary = run_training(config)
        values = summary["eval_after"]
        report = summary["parameters"]
        samples_per_s = _step_time(run_dir)
        rows[coupling] = {
            "trainable": float(report["trainable"]),
            "s_per_step": config.batch_size * config.optim.grad_accum / samples_per_s,
            "val_loss_rgb": values["val_loss_rgb"],
            "psnr_sparse": values["sparse_frames/psnr"],
            "psnr_single": values["single_image/psnr"],
            "abs_rel": values["full_video/abs_rel"],
            "delta": values["full_video/delta"],
            "focal_error": values["full_video/focal_error"],
            "rotation_error_deg": values["full_video/rotation_error_deg"],
            "constant_abs_rel": values["constant/abs_rel"],
            "vae_abs_rel": values["vae/abs_rel"],
        }
    atomic_write_text(output_dir / "ablation.json", json.dumps(rows, indent=2) + "\n")
    return rows


def format_ablation(rows: dict[str, dict[str, float]]) -> str:
    def cell(row: dict[str, float], key: str, fmt: str, scale: float = 1.0) -> str:
        value = row.get(key, math.nan)
        return "-" if not math.isfinite(value) else format(value * scale, fmt)

    lines = [
        "| coupling | trainable | s/step | held-out RGB loss | PSNR sparse | PSNR single | AbsRel | "
        "delta<1.25 | focal error | rotation error |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        trainable = row.get("trainable", math.nan)
        lines.append(
            f"| {name} | {'-' if not math.isfinite(trainable) else f'{trainable / 1e6:.2f}M'} | "
            f"{cell(row, 's_per_step', '.3f')} | {cell(row, 'val_loss_rgb', '.4f')} | "
            f"{cell(row, 'psnr_sparse', '.2f')} dB | {cell(row, 'psnr_single', '.2f')} dB | "
            f"{cell(row, 'abs_rel', '.3f')} | {cell(row, 'delta', '.3f')} | "
            f"{cell(row, 'focal_error', '.1f', 100)} % | {cell(row, 'rotation_error_deg', '.2f')} deg |"
        )
    some = next((r for r in rows.values() if "constant_abs_rel" in r), None)
    if some is not None:
        lines.append(
            f"\nReferences on the same scenes: constant depth AbsRel {some['constant_abs_rel']:.3f}, "
            f"ground truth through the VAE {some['vae_abs_rel']:.3f}."
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="one4d-ablate", description=__doc__.splitlines()[0])
    add_config_arguments(parser)
    parser.add_argument("--output-dir", default="runs/ablation", help="one run folder per coupling in here")
    parser.add_argument(
        "--coupling",
        dest="couplings",
        action="append",
        choices=COUPLINGS,
        help="couplings to compare (repeatable; default: all three)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def ablate() -> int:
        load_config(args.config, args.preset, args.overrides)  # errors before anything trains
        rows = run_ablation(
            args.output_dir, args.couplings or list(COUPLINGS), args.config, args.preset, args.overrides
        )
        print(format_ablation(rows))
        return 0

    return run_cli("one4d-ablate", ablate)


if __name__ == "__main__":
    raise SystemExit(main())
