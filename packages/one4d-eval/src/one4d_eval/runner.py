"""Scoring a folder of predictions on a benchmark of the protocol.

Predictions are laid out as `one4d-recover --out PRED/<sequence>` writes them: `PRED/<sequence>/depth.npz`
(array `depth`, (N, h, w), any positive scale) and `PRED/<sequence>/trajectory.txt` (TUM, camera-to-world).
They are matched to the benchmark's frames in order, so a prediction must cover exactly those frames.

Every prediction is checked before any is scored (a folder whose `manifest.json` says its writing did not
finish, a missing file), so a mistake in the last sequence does not surface after minutes of scoring; what
does not fit the benchmark raises `PredictionError` naming the file and the sequence.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from one4d_geometry.errors import GeometryError, One4DError
from one4d_geometry.files import atomic_write_text, check_complete, load_arrays
from one4d_geometry.tum import read_tum

from .camera import CameraScores, camera_scores, mean_camera_scores
from .depth import DepthScores, SequenceDepth, aggregate_depth, evaluate_depth_sequence
from .protocols import Benchmark, get_benchmark, ground_truth_depth, ground_truth_trajectory

PREDICTION_FILES = {"depth": "depth.npz", "camera": "trajectory.txt"}


@dataclass(frozen=True)
class SequenceResult:
    sequence: str
    frames: int
    scores: DepthScores | CameraScores
    alignment: dict[str, float]  # the fitted depth scale / shift, or the trajectory's Sim(3) scale


@dataclass(frozen=True)
class BenchmarkResult:
    benchmark: str
    task: str
    sequences: list[SequenceResult]
    overall: DepthScores | CameraScores

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "task": self.task,
            "overall": dataclasses.asdict(self.overall),
            "sequences": [
                {"sequence": r.sequence, "frames": r.frames, **dataclasses.asdict(r.scores), **r.alignment}
                for r in self.sequences
            ],
        }


class PredictionError(One4DError, ValueError):
    """A prediction is missing or unreadable, or does not fit the benchmark (its frames, its sequences)."""


def load_predicted_depth(pred_dir: str | Path, sequence: str) -> np.ndarray:
    path = Path(pred_dir) / sequence / PREDICTION_FILES["depth"]
    if not path.is_file():
        raise PredictionError(f"{path}: no depth prediction for sequence {sequence}")
    try:
        depth = load_arrays(path, ["depth"])["depth"]
    except GeometryError as error:  # empty, truncated, pickled or foreign: the message names the file
        raise PredictionError(f"{error}; expected an .npz archive with an array 'depth' (N, H, W)") from None
    if depth.ndim != 3 or 0 in depth.shape:
        raise PredictionError(f"{path}: 'depth' must be (N, H, W), got shape {depth.shape}")
    if not (np.issubdtype(depth.dtype, np.integer) or np.issubdtype(depth.dtype, np.floating)):
        raise PredictionError(f"{path}: 'depth' must hold real numbers, got dtype {depth.dtype}")
    return depth.astype(np.float64)


def load_predicted_trajectory(pred_dir: str | Path, sequence: str) -> np.ndarray:
    path = Path(pred_dir) / sequence / PREDICTION_FILES["camera"]
    if not path.is_file():
        raise PredictionError(f"{path}: no trajectory for sequence {sequence}")
    try:
        _, c2w = read_tum(path)
    except GeometryError as error:  # names the file and line
        raise PredictionError(str(error)) from None
    except UnicodeDecodeError:
        raise PredictionError(f"{path}: not a text file; expected a TUM trajectory") from None
    return c2w


def _check_complete(folder: Path) -> None:
    """A folder a one4d tool was still writing (or failed half-way through) is not read."""
    try:
        check_complete(folder)
    except GeometryError as error:
        raise PredictionError(str(error)) from None


def check_predictions(benchmark: Benchmark, pred_dir: str | Path, sequences: Sequence[str]) -> None:
    """Before scoring: the predictions folder, and each sequence's folder and file, exist and are complete."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise PredictionError(f"{pred_dir}: no such predictions folder")
    _check_complete(pred_dir)
    name = PREDICTION_FILES[benchmark.task]
    for sequence in sequences:
        if (pred_dir / sequence).is_dir():
            _check_complete(pred_dir / sequence)
        if not (pred_dir / sequence / name).is_file():
            what = "depth prediction" if benchmark.task == "depth" else "trajectory"
            raise PredictionError(f"{pred_dir / sequence / name}: no {what} for sequence {sequence}")


def _check_frames(path: Path, predicted: int, expected: int, benchmark: Benchmark, sequence: str) -> None:
    if predicted != expected:
        raise PredictionError(
            f"{path}: {predicted} frames predicted, "
            f"{benchmark.name} evaluates {expected} frames of {sequence}"
        )


def _unscorable(path: Path, sequence: str, error: ValueError) -> PredictionError:
    """A metric's refusal (constant depth, coincident cameras, NaN at valid pixels), naming the file."""
    return PredictionError(f"{path}: sequence {sequence} cannot be scored: {error}")


def _depth_sequence(
    benchmark: Benchmark, root: str | Path, pred_dir: str | Path, sequence: str, alignment: str
) -> tuple[SequenceResult, SequenceDepth]:
    path = Path(pred_dir) / sequence / PREDICTION_FILES["depth"]
    pred = load_predicted_depth(pred_dir, sequence)  # a missing prediction is the likelier mistake
    gt = ground_truth_depth(benchmark, root, sequence)
    _check_frames(path, len(pred), len(gt), benchmark, sequence)
    try:
        result = evaluate_depth_sequence(
            pred, gt, alignment=alignment, max_depth=benchmark.max_depth, clip_max=benchmark.clip_max
        )
    except ValueError as error:
        raise _unscorable(path, sequence, error) from None
    fitted = {"scale": result.scale, "shift": result.shift}
    return SequenceResult(sequence, len(gt), result.scores, fitted), result


def _camera_sequence(
    benchmark: Benchmark, root: str | Path, pred_dir: str | Path, sequence: str
) -> SequenceResult:
    path = Path(pred_dir) / sequence / PREDICTION_FILES["camera"]
    pred = load_predicted_trajectory(pred_dir, sequence)
    gt = ground_truth_trajectory(benchmark, root, sequence)
    _check_frames(path, len(pred), len(gt), benchmark, sequence)
    try:
        scores = camera_scores(pred, gt)
    except ValueError as error:
        raise _unscorable(path, sequence, error) from None
    return SequenceResult(sequence, len(gt), scores, {})


def evaluate_benchmark(
    name: str,
    root: str | Path,
    pred_dir: str | Path,
    *,
    sequences: Sequence[str] | None = None,
    alignment: str = "scale_shift",
    progress: Callable[[Iterable[str]], Iterable[str]] | None = None,
) -> BenchmarkResult:
    """Score `pred_dir` on benchmark `name` (`protocols.BENCHMARKS`) with the dataset at `root`.

    `sequences` restricts the run to some of the benchmark's sequences (the overall score is then not the
    benchmark's score, and the result says which sequences it covers). Depth: one alignment per sequence
    (`scale_shift`, L1-optimal, or `scale`, median), dataset score weighted by valid pixels. Camera: ATE,
    RPE-trans and RPE-rot after Sim(3) alignment, dataset score the mean over sequences. `progress` wraps the
    sequences (a progress bar). Raises `PredictionError` for predictions that are missing, incomplete,
    unreadable, of other frame counts or unscorable (coincident cameras, constant depth), and
    `one4d_data.errors.DataError` for ground truth that is unreadable or shorter than the protocol's frames.
    """
    benchmark = get_benchmark(name)
    chosen = tuple(sequences) if sequences else benchmark.sequences
    unknown = [s for s in chosen if s not in benchmark.sequences]
    if unknown:
        raise PredictionError(
            f"{name} has no sequences {unknown}; its sequences: {list(benchmark.sequences)}"
        )
    check_predictions(benchmark, pred_dir, chosen)
    walk = progress(chosen) if progress is not None else chosen
    if benchmark.task == "depth":
        pairs = [_depth_sequence(benchmark, root, pred_dir, s, alignment) for s in walk]
        results = [result for result, _ in pairs]
        overall: DepthScores | CameraScores = aggregate_depth([depth for _, depth in pairs])
    else:
        results = [_camera_sequence(benchmark, root, pred_dir, s) for s in walk]
        overall = mean_camera_scores([r.scores for r in results])
    return BenchmarkResult(name, benchmark.task, results, overall)


def format_table(result: BenchmarkResult) -> str:
    """A Markdown table: one row per sequence, then the dataset score."""
    if result.task == "depth":
        header = "| sequence | frames | AbsRel | delta<1.25 | valid pixels |\n|---|---|---|---|---|"

        def row(label, frames, s):
            return f"| {label} | {frames} | {s.abs_rel:.4f} | {s.delta_1_25:.4f} | {s.valid_pixels} |"
    else:
        header = "| sequence | frames | ATE | RPE trans | RPE rot (deg) |\n|---|---|---|---|---|"

        def row(label, frames, s):
            return f"| {label} | {frames} | {s.ate:.5f} | {s.rpe_trans:.5f} | {s.rpe_rot:.4f} |"

    lines = [header, *(row(r.sequence, r.frames, r.scores) for r in result.sequences)]
    total = sum(r.frames for r in result.sequences)
    lines.append(row(f"**{result.benchmark}** ({len(result.sequences)} sequences)", total, result.overall))
    return "\n".join(lines)


def write_json(result: BenchmarkResult, path: str | Path) -> None:
    """The scores as JSON, written atomically; the folder is created if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(result.to_dict(), indent=2) + "\n")
