"""Frame sequences: lazily read frames of one recorded sequence into clips."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..cameras import check_poses
from ..clip import Clip
from ..errors import DataError


class FrameSequence(ABC):
    """One sequence of a dataset. The constructor parses metadata (file lists, cameras) and checks it;
    :meth:`read` loads the frames ``indices`` into a :class:`Clip` with cameras in the dataset's world."""

    dataset: str = ""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def read(self, indices: Sequence[int] | np.ndarray) -> Clip: ...

    def read_all(self) -> Clip:
        return self.read(np.arange(len(self)))

    def _indices(self, indices) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= len(self):
            raise IndexError(f"{self.path}: frame indices must be in [0, {len(self)}), got {idx.tolist()}")
        return idx

    def _clip(self, rgb, depth, K, c2w, idx, timestamps=None, caption: str = "") -> Clip:
        check_poses(c2w, self.path)
        clip = Clip(
            rgb=np.stack(rgb) if isinstance(rgb, list) else rgb,
            depth=np.stack(depth).astype(np.float32) if isinstance(depth, list) else depth,
            K=np.asarray(K, dtype=np.float64),
            c2w=np.asarray(c2w, dtype=np.float64),
            caption=caption,
            source={"dataset": self.dataset, "path": str(self.path), "frame_indices": idx.tolist()},
            timestamps=timestamps,
        )
        shapes = {f.shape[:2] for f in clip.rgb} | {clip.depth.shape[1:]}
        if len(shapes) != 1:
            raise DataError(self.path, f"RGB and depth sizes differ: {sorted(shapes)}")
        return clip.validate()


def check_same_length(path: str | Path, **counts: int) -> int:
    """Raise unless every named count is equal (e.g. images, depth maps, poses)."""
    values = set(counts.values())
    if len(values) != 1:
        detail = ", ".join(f"{k}={v}" for k, v in counts.items())
        raise DataError(path, f"mismatched frame counts: {detail}")
    return values.pop()


def sorted_files(folder: Path, pattern: str) -> list[Path]:
    if not folder.is_dir():
        raise DataError(folder, "folder not found")
    return sorted(folder.glob(pattern))


def iter_clips(
    sequence: FrameSequence, num_frames: int, stride: int = 1, step: int | None = None
) -> Iterator[Clip]:
    """Windows of ``num_frames`` frames (every ``stride``-th frame) starting every ``step`` frames (default
    non-overlapping), each lifted to first-frame pointmaps."""
    span = (num_frames - 1) * stride + 1
    step = step or span
    for start in range(0, len(sequence) - span + 1, step):
        yield sequence.read(start + stride * np.arange(num_frames)).lifted()


class WindowSource:
    """A sequence-like clip source over windows of several frame sequences, for :class:`ClipDataset`."""

    def __init__(
        self, sequences: Sequence[FrameSequence], num_frames: int, stride: int = 1, step: int | None = None
    ):
        self.sequences, self.num_frames, self.stride = list(sequences), num_frames, stride
        span = (num_frames - 1) * stride + 1
        step = step or span
        self.windows = [
            (s, start)
            for s, seq in enumerate(self.sequences)
            for start in range(0, len(seq) - span + 1, step)
        ]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> Clip:
        seq, start = self.windows[index]
        return self.sequences[seq].read(start + self.stride * np.arange(self.num_frames)).lifted()
