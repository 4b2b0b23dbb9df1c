"""The benchmarks of the evaluation protocol (MonST3R / Geo4D, as the paper) and their ground truth.

A benchmark names its dataset reader, its sequences, the frames of each, and the depth validity rules.
Ground truth is read with `one4d_data.readers`; predictions are matched to it frame by frame, in order.

Where the protocol fixes a frame window (Bonn: frames 30..139, TUM-dynamics: every 3rd of the first 270),
its frame count is a fact of the protocol: ground truth that gives fewer frames (a partial download, a
sequence whose poses stop early) is refused with a `DataError` naming the sequence folder, instead of being
scored on a shorter window without a word. Sintel is scored on all frames of each sequence, as shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from one4d_data.errors import DataError
from one4d_data.files import read_png16
from one4d_data.readers.sintel import SintelSequence, read_dpt
from one4d_data.readers.tum import BONN_EVAL_FRAMES, DEPTH_SCALE, BonnSequence, TumSequence

SINTEL_SEQUENCES = (
    "alley_1", "alley_2", "ambush_2", "ambush_4", "ambush_5", "ambush_6", "ambush_7", "bamboo_1",
    "bamboo_2", "bandage_1", "bandage_2", "cave_2", "cave_4", "market_2", "market_5", "market_6",
    "mountain_1", "shaman_2", "shaman_3", "sleeping_1", "sleeping_2", "temple_2", "temple_3",
)  # fmt: skip
SINTEL_MOVING_CAMERA = (
    "alley_2", "ambush_4", "ambush_5", "ambush_6", "cave_2", "cave_4", "market_2", "market_5", "market_6",
    "shaman_3", "sleeping_1", "sleeping_2", "temple_2", "temple_3",
)  # fmt: skip
BONN_SEQUENCES = ("balloon2", "crowd2", "crowd3", "person_tracking2", "synchronous")
TUM_DYNAMICS_SEQUENCES = tuple(
    f"{who}_{motion}" for who in ("sitting", "walking") for motion in ("static", "xyz", "halfsphere", "rpy")
)


@dataclass(frozen=True)
class Benchmark:
    """One line of the protocol: which sequences of which dataset, which frames, which metric."""

    name: str
    dataset: str  # one4d_data reader format
    task: str  # "depth" or "camera"
    sequences: tuple[str, ...]
    frames: slice | None = None  # of the reader's frames (after TUM's RGB / pose association)
    max_depth: float | None = 70.0  # valid ground truth: 0 < d < max_depth
    clip_max: float | None = None  # aligned predictions clipped to this depth

    @property
    def expected_frames(self) -> int | None:
        """How many frames the protocol scores per sequence; None when it scores all the dataset has."""
        if self.frames is None or self.frames.stop is None:
            return None
        return len(range(self.frames.start or 0, self.frames.stop, self.frames.step or 1))

    def describe_frames(self) -> str:
        """The frame window in words, for messages."""
        if self.frames is None or self.frames.stop is None:
            return "all frames"
        frames = range(self.frames.start or 0, self.frames.stop, self.frames.step or 1)
        if len(frames) < 2:
            return f"frames {list(frames)}"
        if frames.step == 1:
            return f"frames {frames.start}..{frames[-1]}"
        return f"frames {frames.start}, {frames[1]}, ..., {frames[-1]}"

    def folder(self, root: str | Path, sequence: str) -> Path:
        """Where a sequence lives under the dataset root, as the datasets ship."""
        root = Path(root)
        if self.dataset == "bonn":
            return root / f"rgbd_bonn_{sequence}"
        if self.dataset == "tum":
            return root / f"rgbd_dataset_freiburg3_{sequence}"
        return root


BENCHMARKS = {
    b.name: b
    for b in (
        Benchmark("sintel-depth", "sintel", "depth", SINTEL_SEQUENCES, clip_max=70.0),
        Benchmark("bonn-depth", "bonn", "depth", BONN_SEQUENCES, frames=BONN_EVAL_FRAMES),  # 30..139
        Benchmark("sintel-camera", "sintel", "camera", SINTEL_MOVING_CAMERA),
        # TUM-dynamics: every 3rd of the first 270 associated frames = 90 frames.
        Benchmark("tum-camera", "tum", "camera", TUM_DYNAMICS_SEQUENCES, frames=slice(0, 270, 3)),
    )
}


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose from {sorted(BENCHMARKS)}")
    return BENCHMARKS[name]


def _sequence_reader(benchmark: Benchmark, root: str | Path, sequence: str):
    """The dataset reader of `sequence`, refused when it gives fewer frames than the protocol scores."""
    folder = benchmark.folder(root, sequence)
    if benchmark.dataset == "sintel":
        reader = SintelSequence(folder, sequence)
    elif benchmark.dataset == "bonn":
        reader = BonnSequence(folder, frames=benchmark.frames)
    elif benchmark.dataset == "tum":
        reader = TumSequence(folder, frames=benchmark.frames)
    else:
        raise ValueError(f"benchmark {benchmark.name}: no reader for dataset {benchmark.dataset!r}")
    expected = benchmark.expected_frames
    if expected is not None and len(reader) != expected:
        window = benchmark.describe_frames()
        raise DataError(
            folder,
            f"{benchmark.name} scores {expected} frames of sequence {sequence} ({window} of the RGB frames "
            f"with depth and a ground-truth pose), the ground truth gives {len(reader)}; the protocol's "
            "frame counts are fixed (is the sequence complete?)",
        )
    return reader


def ground_truth_depth(benchmark: Benchmark, root: str | Path, sequence: str) -> np.ndarray:
    """(N, H, W) metric depth of the benchmark's frames, 0 where the dataset has none."""
    reader = _sequence_reader(benchmark, root, sequence)
    if isinstance(reader, SintelSequence):
        depth = [read_dpt(path) for path in reader.depths]
    else:
        depth = [read_png16(path).astype(np.float32) / DEPTH_SCALE for path in reader.depth_files]
    sizes = sorted({d.shape for d in depth})
    if len(sizes) != 1:
        raise DataError(benchmark.folder(root, sequence), f"depth maps of {sequence} differ in size: {sizes}")
    depth = np.stack(depth)
    return np.nan_to_num(depth.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def ground_truth_trajectory(benchmark: Benchmark, root: str | Path, sequence: str) -> np.ndarray:
    """(N, 4, 4) camera-to-world poses of the benchmark's frames."""
    reader = _sequence_reader(benchmark, root, sequence)
    if isinstance(reader, SintelSequence):
        return reader.cameras()[1]
    return np.asarray(reader.c2w, dtype=np.float64)
