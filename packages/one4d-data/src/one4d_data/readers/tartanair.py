"""TartanAir: ``image_left/%06d_left.png``, ``depth_left/%06d_left_depth.npy`` (float32 metres, sky huge),
``pose_left.txt`` lines ``tx ty tz qx qy qz qw`` (camera-to-world in NED axes); fixed intrinsics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from one4d_geometry.rotations import quaternion_to_matrix

from ..cameras import pose_matrix
from ..clip import Clip
from ..errors import DataError
from ..files import check_shape, depth_from_metres, read_npy, read_rgb, require_file
from .base import FrameSequence, check_same_length, sorted_files

TARTANAIR_K = np.array([[320.0, 0.0, 320.0], [0.0, 320.0, 240.0], [0.0, 0.0, 1.0]])
# NED (x forward, y right, z down) -> OpenCV camera (x right, y down, z forward): file x, y, z -> z, x, y.
NED_TO_CV = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


def ned_poses_to_opencv(poses_ned: np.ndarray) -> np.ndarray:
    """(N, 4, 4) NED camera-to-world -> OpenCV camera-to-world (world axes permuted the same way)."""
    P = np.eye(4)
    P[:3, :3] = NED_TO_CV
    return P @ poses_ned @ P.T


def read_tartanair_poses(path: str | Path) -> np.ndarray:
    path = require_file(path)
    try:
        values = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise DataError(path, f"unreadable pose file ({error})") from error
    if values.shape[1] != 7:
        raise DataError(path, f"pose lines need 7 numbers (tx ty tz qx qy qz qw), got {values.shape[1]}")
    try:
        rot = quaternion_to_matrix(values[:, 3:])
    except ValueError as error:
        raise DataError(path, str(error)) from error
    return ned_poses_to_opencv(pose_matrix(rot, values[:, :3]))


class TartanAirSequence(FrameSequence):
    """One trajectory folder ``<env>/<Easy|Hard>/<Pxxx>``; depth beyond ``max_depth`` (sky) is invalid."""

    dataset = "tartanair"

    def __init__(self, path: str | Path, max_depth: float = 1000.0) -> None:
        super().__init__(path)
        self.images = sorted_files(self.path / "image_left", "*_left.png")
        self.depths = sorted_files(self.path / "depth_left", "*_left_depth.npy")
        self.c2w = read_tartanair_poses(self.path / "pose_left.txt")
        check_same_length(self.path, images=len(self.images), depths=len(self.depths), poses=len(self.c2w))
        self.max_depth = max_depth

    def __len__(self) -> int:
        return len(self.images)

    def read(self, indices) -> Clip:
        idx = self._indices(indices)
        rgb = [read_rgb(self.images[i]) for i in idx]
        depth = []
        for i, image in zip(idx, rgb, strict=False):
            d = check_shape(read_npy(self.depths[i]), image.shape[:2], self.depths[i], "depth").astype(
                np.float32
            )
            depth.append(depth_from_metres(d, d > self.max_depth))
        K = np.broadcast_to(TARTANAIR_K, (idx.size, 3, 3)).copy()
        return self._clip(rgb, depth, K, self.c2w[idx], idx)
