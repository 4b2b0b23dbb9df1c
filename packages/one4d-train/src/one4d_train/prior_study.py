"""`one4d-prior`: the paper's claim in miniature, that the pretrained video prior makes geometry learnable in
a short fine-tuning.

The same DLC fine-tuning (the `tiny-cpu` preset: same steps, batch, data, seed and shared latent cache) starts
from several frozen bases, e.g. a random one, the shipped one and a longer-pretrained one, and the held-out
full-video geometry of each is measured at its checkpoints, beside the constant answer and the ground truth
through the VAE on the same scenes. Writes `study.json` and a plot of geometry against fine-tuning steps.

    one4d-prior --output-dir runs/prior --base random --base shipped --base longer=runs/base-long/base
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from one4d_geometry.cli_errors import run_cli
from one4d_geometry.files import atomic_path, atomic_write_text

from .arguments import add_set_argument
from .config import ConfigError, load_config, toml_string

METRICS = ("abs_rel", "rotation_error_deg", "focal_error", "xyz_explained")
LABELS = {
    "abs_rel": "depth AbsRel",
    "rotation_error_deg": "rotation error (deg)",
    "focal_error": "focal error",
    "xyz_explained": "XYZ variance explained at sigma 1",
}
REFERENCE_EXPLAINED = {"constant": 0.0, "vae": 1.0}
"""`xyz_explained` of the references: the per-channel mean answer explains nothing, the truth all of it."""


def parse_base(text: str) -> tuple[str, str | None]:
    """`random`, `shipped` or `NAME=PATH` (a diffusers folder of a one4d-tiny-shaped base) -> (name, path);
    path None is the shipped base, "random" a freshly initialised one."""
    if text in ("random", "shipped"):
        return text, None if text == "shipped" else "random"
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path).is_dir():
        raise ConfigError(f"--base {text!r}: expected random, shipped or NAME=FOLDER of a diffusers base")
    return name, path


def random_base(folder: Path) -> Path:
    """A randomly initialised base of the tiny One4D's shape (seed 0), saved as a diffusers folder."""
    import torch
    from diffusers import WanTransformer3DModel
    from one4d_model.models.configs import wan_config
    from one4d_model.models.tiny import TINY_NAME

    if not (folder / "config.json").is_file():
        torch.manual_seed(0)
        WanTransformer3DModel(**wan_config(TINY_NAME)).save_pretrained(folder)
    return folder


def checkpoint_scores(
    run_dir: Path,
    held_out,
    seed: int,
    known: dict[str, dict] | None = None,
    on_scored: Callable[[dict[str, dict[str, float]]], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Full-video geometry of every kept checkpoint of a run on the `held_out` clip dataset (the pipeline's
    defaults), and `xyz_explained`: its held-out `val_xyz_explained` (the evaluation's sigma-1 R^2). Scores
    in `known` (by step, from an earlier study of the same run and scenes) are kept, not computed again;
    `on_scored` gets the scores so far after each checkpoint (to save them: scoring a run takes minutes)."""
    from one4d_model import One4DPipeline

    from .batches import EncodedBatches
    from .checkpoint import STEP_DIR, checkpoint_root
    from .evaluation import evaluate_task, held_out_losses

    clips = [held_out.source[i] for i in range(len(held_out))]
    scores = {}
    root = checkpoint_root(run_dir)
    steps = sorted((int(m.group(1)), p) for p in root.glob("step_*") if (m := STEP_DIR.match(p.name)))
    for step, folder in steps:
        done = dict((known or {}).get(str(step), {}))
        if "xyz_explained" in done and "abs_rel" in done:
            scores[str(step)] = done
            continue
        pipeline = One4DPipeline.from_checkpoint(folder)
        pipeline.set_progress_bar_config(disable=True)
        if "abs_rel" not in done:
            done.update(asdict(evaluate_task(pipeline, clips, "full_video")))
        encoders = (pipeline.vae, pipeline.text_encoder, pipeline.image_encoder)
        batches = EncodedBatches(held_out, held_out.seed, *encoders, pipeline.device)
        done["xyz_explained"] = held_out_losses(pipeline.transformer, batches, seed)["val_xyz_explained"]
        scores[str(step)] = done
        if on_scored is not None:
            on_scored(scores)
    return scores


def run_study(output_dir: str | Path, bases: list[str], overrides: list[str]) -> dict:
    """Fine-tune from each base under `output_dir/<name>`, score its checkpoints; returns the study."""
    from one4d_model.models.vae import build_vae

    from .batches import synthetic_clips
    from .evaluation import constant_reference, vae_reference
    from .trainer import run_training

    output_dir = Path(output_dir)
    shared = [f"data.cache_dir={toml_string(str(output_dir / 'latent-cache'))}", "keep_last=100"]
    study: dict = {"runs": {}}
    earlier = _earlier_study(output_dir / "study.json")
    clips: list = []
    for text in bases:
        name, path = parse_base(text)
        if path == "random":
            path = str(random_base(output_dir / "random-base"))
        settings = [*shared, *overrides, f"output_dir={toml_string(str(output_dir / name))}"]
        if path is not None:
            settings.append(f"model.base_path={toml_string(path)}")
        config = load_config(None, "tiny-cpu", settings)
        if not (output_dir / name / "checkpoints" / "latest").is_file():
            run_training(config, run_eval=False)
        held_out = synthetic_clips(config, held_out=True)
        clips = [held_out.source[i] for i in range(len(held_out))]
        base = path or "shipped"
        known = earlier["runs"].get(name, {})
        same = known.get("base") == base and earlier.get("held_out_clips") == len(clips)
        study["held_out_clips"] = len(clips)

        def save(scores: dict, name: str = name, base: str = base) -> None:
            study["runs"][name] = {"base": base, "steps": dict(scores)}
            atomic_write_text(output_dir / "study.json", json.dumps(study, indent=2) + "\n")

        earlier_scores = known["steps"] if same else None
        save(checkpoint_scores(output_dir / name, held_out, config.seed, earlier_scores, save))
    # Every run shares the held-out scenes and the VAE: the references are the same for all of them.
    study["constant"] = asdict(constant_reference(clips))
    study["vae"] = asdict(vae_reference(build_vae(config.model.vae), clips))
    atomic_write_text(output_dir / "study.json", json.dumps(study, indent=2) + "\n")
    return study


def _earlier_study(path: Path) -> dict:
    """The study a previous `one4d-prior` wrote here (its scores are reused: delete it to score again)."""
    if not path.is_file():
        return {"runs": {}}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not a study written by one4d-prior ({error}); delete it") from None


def format_study(study: dict) -> str:
    """A Markdown table: one row per base and checkpoint, then the references."""

    def cell(value: float, fmt: str, scale: float = 1.0) -> str:
        return "-" if value is None or not math.isfinite(value) else format(value * scale, fmt)

    lines = [
        "| base | fine-tuning steps | depth AbsRel | delta<1.25 | focal error | rotation error | recovered "
        "| XYZ explained at sigma 1 |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def row(label: str, steps: str, s: dict, explained: float | None) -> str:
        return (
            f"| {label} | {steps} | {cell(s['abs_rel'], '.3f')} | {cell(s['delta'], '.3f')} | "
            f"{cell(s['focal_error'], '.1f', 100)} % | {cell(s['rotation_error_deg'], '.2f')} deg | "
            f"{s['recovered']}/{s['clips']} | {cell(explained, '.3f')} |"
        )

    for name, run in study["runs"].items():
        for step, scores in run["steps"].items():
            lines.append(row(name, str(step), scores, scores.get("xyz_explained")))
    for key, label in (
        ("constant", "reference: constant depth, identity cameras, mean focal (XYZ: channel means)"),
        ("vae", "reference: ground truth through the VAE"),
    ):
        lines.append(row(label, "-", study[key], REFERENCE_EXPLAINED[key]))
    return "\n".join(lines)


def plot_study(study: dict, path: str | Path) -> None:
    """Geometry against fine-tuning steps, one line per base, references dashed (a PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(METRICS), figsize=(4.2 * len(METRICS), 3.4))
    # matplotlib's colour cycle repeats after 10 runs: the runs after them get dash-dot lines and squares.
    palette = plt.get_cmap("tab10").colors
    for axis, metric in zip(axes, METRICS, strict=True):
        for index, (name, run) in enumerate(study["runs"].items()):
            steps = [step for step in sorted(run["steps"], key=int) if metric in run["steps"][step]]
            values = [run["steps"][step][metric] for step in steps]
            solid = index < 10
            axis.plot(
                [int(step) for step in steps],
                values,
                label=name,
                color=palette[index % 10],
                marker="o" if solid else "s",
                linestyle="-" if solid else "-.",
            )
        references = {key: study[key].get(metric, REFERENCE_EXPLAINED[key]) for key in REFERENCE_EXPLAINED}
        axis.axhline(references["constant"], color="grey", linestyle="--", label="constant / identity")
        axis.axhline(references["vae"], color="black", linestyle=":", label="ground truth through VAE")
        axis.set_xlabel("DLC fine-tuning steps")
        axis.set_title(f"held-out full video: {LABELS[metric]}", fontsize=9)
    # One legend under the panels: a study may hold many runs with long labels.
    handles, labels = axes[0].get_legend_handles_labels()
    columns = 3
    rows = -(-len(labels) // columns)
    figure.set_size_inches(4.2 * len(METRICS), 3.4 + 0.22 * rows)
    figure.legend(handles, labels, loc="lower center", ncol=columns, fontsize=7, frameon=False)
    figure.tight_layout(rect=(0, 0.22 * rows / (3.4 + 0.22 * rows) + 0.01, 1, 1))
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="one4d-prior", description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="runs/prior", help="one run folder per base in here")
    parser.add_argument(
        "--base",
        dest="bases",
        action="append",
        help="random, shipped or NAME=FOLDER (a diffusers base of the tiny shape); repeatable "
        "(default: random and shipped)",
    )
    parser.add_argument("--plot", help="PNG of geometry against steps (default: OUTPUT_DIR/study.png)")
    add_set_argument(parser, "override a training config value of every run, e.g. --set max_steps=600")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def study() -> int:
        bases = args.bases or ["random", "shipped"]
        for text in bases:
            parse_base(text)  # errors before anything trains
        result = run_study(args.output_dir, bases, args.overrides)
        plot_study(result, args.plot or Path(args.output_dir) / "study.png")
        print(format_study(result))
        return 0

    return run_cli("one4d-prior", study)


if __name__ == "__main__":
    raise SystemExit(main())
