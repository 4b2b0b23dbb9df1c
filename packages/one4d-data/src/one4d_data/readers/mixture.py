"""A clip source mixing the frame windows of several groups of sequences (one group per dataset)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..clip import Clip
from ..dataset import item_rng
from .base import FrameSequence


def window_span(num_frames: int, stride: int) -> int:
    """Frames covered by ``num_frames`` frames taken every ``stride``-th frame."""
    return (num_frames - 1) * stride + 1


class WindowMixture:
    """Callable ``index -> Clip`` over windows of ``groups`` of sequences, for :class:`ClipDataset`.

    Each sequence is cut into non-overlapping windows of ``span = (num_frames - 1) * max(strides) + 1``
    frames (a shorter sequence has none). Item ``index`` draws, from ``item_rng(seed, epoch, index, 1)``, a
    group with probability ``weights`` (normalized; default equal), a window of it uniformly, a stride from
    ``strides`` and a start within the window (the last window of a sequence also reaches its tail), then
    reads only those ``num_frames`` frames, lifted to first-frame pointmaps. ``names`` label the groups in
    errors. ``set_epoch`` changes the draws (:class:`ClipDataset` forwards its own).
    """

    def __init__(
        self,
        groups: Sequence[Sequence[FrameSequence]],
        num_frames: int,
        weights: Sequence[float] | None = None,
        strides: tuple[int, ...] | int = 1,
        seed: int = 0,
        names: Sequence[str] | None = None,
    ) -> None:
        self.strides = (strides,) if isinstance(strides, int) else tuple(int(s) for s in strides)
        if not self.strides or min(self.strides) < 1:
            raise ValueError(f"strides must be positive integers, got {strides}")
        if num_frames < 1:
            raise ValueError(f"num_frames must be positive, got {num_frames}")
        if not groups:
            raise ValueError("need at least one group of sequences")
        names = list(names) if names is not None else [f"group {g}" for g in range(len(groups))]
        weights = [1.0] * len(groups) if weights is None else list(weights)
        probs = np.asarray(weights, dtype=np.float64)
        if len(probs) != len(groups) or len(names) != len(groups):
            raise ValueError(
                f"need one weight and name per group, got {len(groups)} groups, weights {weights}"
            )
        if not np.all(np.isfinite(probs)) or np.any(probs < 0) or probs.sum() <= 0:
            raise ValueError(f"weights must be finite, non-negative and not all zero, got {weights}")
        self.groups = [list(g) for g in groups]
        self.num_frames, self.span = int(num_frames), window_span(num_frames, max(self.strides))
        self.probs, self.seed, self.epoch = probs / probs.sum(), int(seed), 0
        self.windows: list[list[tuple[int, int]]] = []
        for name, group in zip(names, self.groups, strict=True):
            windows = [(s, k) for s, seq in enumerate(group) for k in range(self.windows_in(len(seq)))]
            if not windows:
                longest = max((len(seq) for seq in group), default=0)
                raise ValueError(
                    f"{name}: no sequence has the {self.span} frames needed for {num_frames} frames at "
                    f"stride {max(self.strides)} (longest has {longest})"
                )
            self.windows.append(windows)

    def windows_in(self, length: int) -> int:
        """Number of windows of a sequence of ``length`` frames."""
        return max(0, (length - self.span) // self.span + 1)

    @property
    def num_windows(self) -> int:
        return sum(len(w) for w in self.windows)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def locate(self, index: int) -> tuple[int, int, np.ndarray]:
        """(group, sequence within it, frame indices) of item ``index``."""
        rng = item_rng(self.seed, self.epoch, index, stream=1)
        group = int(rng.choice(len(self.groups), p=self.probs))
        seq, k = self.windows[group][int(rng.integers(0, len(self.windows[group])))]
        stride = int(rng.choice(self.strides))
        length = len(self.groups[group][seq])
        last_start = length - window_span(self.num_frames, stride)
        low = k * self.span
        high = last_start if k == self.windows_in(length) - 1 else min(low + self.span - 1, last_start)
        start = int(rng.integers(low, high + 1))
        return group, seq, start + stride * np.arange(self.num_frames)

    def __call__(self, index: int) -> Clip:
        if index < 0:
            raise IndexError(f"index must be non-negative, got {index}")
        group, seq, frames = self.locate(index)
        return self.groups[group][seq].read(frames).lifted()
