"""MPI Sintel: ``.dpt`` depth, ``.cam`` cameras, frames 1-based (DESIGN section 7)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from one4d_geometry.cameras import invert_pose

from ..cameras import pose_matrix
from ..clip import Clip
from ..errors import DataError
from ..files import depth_from_metres, read_rgb, require_file
from .base import FrameSequence, check_same_length, sorted_files

TAG_FLOAT = 202021.25


def read_dpt(path: str | Path) -> np.ndarray:
    """A Sintel ``.dpt`` depth map (H, W) float32."""
    path = require_file(path)
    data = path.read_bytes()
    if len(data) < 12:
        raise DataError(path, "file too short for a .dpt header")
    tag, width, height = struct.unpack_from("<fii", data, 0)
    if tag != np.float32(TAG_FLOAT):
        raise DataError(path, f"bad .dpt tag {tag} (expected {TAG_FLOAT})")
    if width <= 0 or height <= 0 or width * height > 1 << 28:
        raise DataError(path, f"bad .dpt size {width} x {height}")
    if len(data) != 12 + 4 * width * height:
        raise DataError(path, f"truncated .dpt: {len(data) - 12} data bytes for {width} x {height} floats")
    return np.frombuffer(data, dtype="<f4", offset=12).reshape(height, width).astype(np.float32)


def write_dpt(path: str | Path, depth: np.ndarray) -> None:
    depth = np.asarray(depth, dtype="<f4")
    Path(path).write_bytes(struct.pack("<fii", TAG_FLOAT, depth.shape[1], depth.shape[0]) + depth.tobytes())


def read_cam(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A Sintel ``.cam``: intrinsics (3, 3) and world-to-camera (3, 4)."""
    path = require_file(path)
    data = path.read_bytes()
    if len(data) < 4 + 21 * 8:
        raise DataError(path, f"truncated .cam ({len(data)} bytes, expected {4 + 21 * 8})")
    tag = struct.unpack_from("<f", data, 0)[0]
    if tag != np.float32(TAG_FLOAT):
        raise DataError(path, f"bad .cam tag {tag} (expected {TAG_FLOAT})")
    values = np.frombuffer(data, dtype="<f8", count=21, offset=4)
    return values[:9].reshape(3, 3).copy(), values[9:].reshape(3, 4).copy()


def write_cam(path: str | Path, K: np.ndarray, w2c: np.ndarray) -> None:
    payload = np.concatenate([np.asarray(K, "<f8").ravel(), np.asarray(w2c, "<f8")[:3].ravel()])
    Path(path).write_bytes(struct.pack("<f", TAG_FLOAT) + payload.tobytes())


class SintelSequence(FrameSequence):
    """``<root>/training/{final|clean}/<seq>/frame_%04d.png``, ``depth/<seq>/frame_%04d.dpt``,
    ``camdata_left/<seq>/frame_%04d.cam``; ``path`` is the training root's parent or the training folder."""

    dataset = "sintel"

    def __init__(self, path: str | Path, sequence: str, render_pass: str = "final") -> None:
        root = Path(path)
        root = root / "training" if (root / "training").is_dir() else root
        super().__init__(root / render_pass / sequence)
        self.images = sorted_files(root / render_pass / sequence, "frame_*.png")
        self.depths = sorted_files(root / "depth" / sequence, "frame_*.dpt")
        self.cams = sorted_files(root / "camdata_left" / sequence, "frame_*.cam")
        check_same_length(self.path, images=len(self.images), depths=len(self.depths), cameras=len(self.cams))
        if not self.images:
            raise DataError(self.path, "no frames found")

    def __len__(self) -> int:
        return len(self.images)

    def cameras(self, indices=None) -> tuple[np.ndarray, np.ndarray]:
        """(K (N, 3, 3), camera-to-world (N, 4, 4)) of the frames ``indices`` (default all), from the .cam
        files alone (no images read)."""
        idx = self._indices(range(len(self)) if indices is None else indices)
        cams = [read_cam(self.cams[i]) for i in idx]
        w2c = pose_matrix(np.stack([c[1][:, :3] for c in cams]), np.stack([c[1][:, 3] for c in cams]))
        return np.stack([c[0] for c in cams]), invert_pose(w2c)

    def read(self, indices) -> Clip:
        idx = self._indices(indices)
        rgb = [read_rgb(self.images[i]) for i in idx]
        depth = [read_dpt(self.depths[i]) for i in idx]
        K, c2w = self.cameras(idx)
        return self._clip(rgb, [depth_from_metres(d) for d in depth], K, c2w, idx)
