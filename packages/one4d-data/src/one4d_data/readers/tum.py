"""TUM RGB-D and Bonn RGB-D Dynamic: 16-bit PNG depth / 5000, timestamps, ``groundtruth.txt``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from one4d_geometry.tum import read_tum

from ..clip import Clip
from ..errors import DataError
from ..files import depth_from_metres, read_png16, read_rgb, require_file
from .base import FrameSequence

DEPTH_SCALE = 5000.0
# (fx, fy, cx, cy) of the sensors; TUM's ROS-default calibration for fr3, the per-sensor ones for fr1/fr2.
TUM_INTRINSICS = {
    "freiburg1": (517.3, 516.5, 318.6, 255.3),
    "freiburg2": (520.9, 521.0, 325.1, 249.7),
    "freiburg3": (535.4, 539.2, 320.1, 247.6),
}
BONN_INTRINSICS = (542.822841, 542.576870, 315.593520, 237.756098)
BONN_EVAL_FRAMES = slice(30, 140)  # MonST3R / Geo4D protocol: frames 30..139


def read_file_list(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """``timestamp value...`` lines (``#`` comments) -> timestamps and the rest of each line."""
    path = require_file(path)
    stamps, values = [], []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        try:
            stamps.append(float(parts[0]))
        except ValueError as error:
            raise DataError(path, f"line {number}: bad timestamp {parts[0]!r}") from error
        values.append(" ".join(parts[1:]))
    return np.asarray(stamps, dtype=np.float64), values


def read_tum_trajectory(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A TUM trajectory ``timestamp tx ty tz qx qy qz qw`` -> timestamps (N,), camera-to-world (N, 4, 4)."""
    path = require_file(path)
    try:
        return read_tum(path)
    except ValueError as error:
        raise DataError(path, str(error)) from error


def associate(first: np.ndarray, second: np.ndarray, max_difference: float = 0.02) -> list[tuple[int, int]]:
    """Greedy one-to-one matching of two timestamp lists by smallest difference (as TUM's associate.py),
    keeping pairs closer than ``max_difference`` seconds; sorted by the first list."""
    first, second = np.asarray(first), np.asarray(second)
    if first.size == 0 or second.size == 0:
        return []
    order = np.argsort(second)
    sorted_second = second[order]
    candidates = []
    for i, t in enumerate(first):
        j = np.searchsorted(sorted_second, t)
        for k in (j - 1, j, j + 1):
            if 0 <= k < sorted_second.size and abs(sorted_second[k] - t) < max_difference:
                candidates.append((abs(sorted_second[k] - t), i, int(order[k])))
    candidates.sort()
    used_a, used_b, pairs = set(), set(), []
    for _, a, b in candidates:
        if a not in used_a and b not in used_b:
            used_a.add(a)
            used_b.add(b)
            pairs.append((a, b))
    return sorted(pairs)


class TumSequence(FrameSequence):
    """A TUM-format folder: ``rgb.txt``, ``depth.txt``, ``groundtruth.txt``; RGB, depth and poses are
    associated within ``max_difference`` seconds (to the RGB timestamps). ``frames`` slices the associated
    frames (e.g. ``slice(0, 270, 3)`` for every 3rd of the first 90)."""

    dataset = "tum"

    def __init__(
        self,
        path: str | Path,
        intrinsics: tuple[float, float, float, float] | None = None,
        frames: slice | None = None,
        max_difference: float = 0.02,
    ) -> None:
        super().__init__(path)
        rgb_t, rgb_files = read_file_list(self.path / "rgb.txt")
        depth_t, depth_files = read_file_list(self.path / "depth.txt")
        pose_t, poses = read_tum_trajectory(self.path / "groundtruth.txt")
        rgb_depth = associate(rgb_t, depth_t, max_difference)
        depth_of = dict(rgb_depth)
        rgb_pose = [(a, b) for a, b in associate(rgb_t, pose_t, max_difference) if a in depth_of]
        if not rgb_pose:
            raise DataError(self.path, f"no RGB frame has depth and a pose within {max_difference} s")
        keep = rgb_pose[frames] if frames is not None else rgb_pose
        self.timestamps = np.array([rgb_t[a] for a, _ in keep])
        self.rgb_files = [self.path / rgb_files[a] for a, _ in keep]
        self.depth_files = [self.path / depth_files[depth_of[a]] for a, _ in keep]
        self.c2w = poses[[b for _, b in keep]]
        self.intrinsics = intrinsics or self.default_intrinsics()

    def default_intrinsics(self) -> tuple[float, float, float, float]:
        for key, value in TUM_INTRINSICS.items():
            if key in str(self.path.resolve()):
                return value
        return TUM_INTRINSICS["freiburg3"]  # the dynamic sequences of the protocol are fr3

    def __len__(self) -> int:
        return len(self.rgb_files)

    def read(self, indices) -> Clip:
        idx = self._indices(indices)
        rgb = [read_rgb(self.rgb_files[i]) for i in idx]
        depth = []
        for i in idx:
            raw = read_png16(self.depth_files[i])
            depth.append(depth_from_metres(raw.astype(np.float32) / DEPTH_SCALE))
        fx, fy, cx, cy = self.intrinsics
        K = np.broadcast_to(np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]), (idx.size, 3, 3)).copy()
        return self._clip(rgb, depth, K, self.c2w[idx], idx, timestamps=self.timestamps[idx])


class BonnSequence(TumSequence):
    """A Bonn RGB-D Dynamic sequence (TUM layout). ``frames`` defaults to the evaluation slice 30..139."""

    dataset = "bonn"

    def __init__(
        self,
        path: str | Path,
        intrinsics: tuple[float, float, float, float] | None = BONN_INTRINSICS,
        frames: slice | None = BONN_EVAL_FRAMES,
        max_difference: float = 0.02,
    ) -> None:
        super().__init__(path, intrinsics, frames, max_difference)
