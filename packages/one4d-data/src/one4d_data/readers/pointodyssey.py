"""PointOdyssey: ``rgbs/rgb_%05d.jpg``, ``depths/depth_%05d.png`` (uint16, metres = v / 65535 * 1000),
``anno.npz`` with ``intrinsics`` (T, 3, 3) and ``extrinsics`` (T, 4, 4) world-to-camera."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from one4d_geometry.cameras import invert_pose

from ..clip import Clip
from ..errors import DataError
from ..files import check_shape, depth_from_metres, read_npz, read_png16, read_rgb
from .base import FrameSequence, check_same_length, sorted_files

DEPTH_MAX_METRES = 1000.0


class PointOdysseySequence(FrameSequence):
    dataset = "pointodyssey"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        self.images = sorted_files(self.path / "rgbs", "rgb_*.jpg")
        self.depths = sorted_files(self.path / "depths", "depth_*.png")
        anno = read_npz(self.path / "anno.npz")
        for key in ("intrinsics", "extrinsics"):
            if key not in anno:
                raise DataError(self.path / "anno.npz", f"missing array {key!r}")
        self.K, w2c = anno["intrinsics"].astype(np.float64), anno["extrinsics"].astype(np.float64)
        count = check_same_length(
            self.path,
            images=len(self.images),
            depths=len(self.depths),
            intrinsics=len(self.K),
            extrinsics=len(w2c),
        )
        check_shape(self.K, (count, 3, 3), self.path / "anno.npz", "intrinsics")
        check_shape(w2c, (count, 4, 4), self.path / "anno.npz", "extrinsics")
        self.c2w = invert_pose(w2c)

    def __len__(self) -> int:
        return len(self.images)

    def read(self, indices) -> Clip:
        idx = self._indices(indices)
        rgb = [read_rgb(self.images[i]) for i in idx]
        depth = []
        for i, image in zip(idx, rgb, strict=False):
            raw = check_shape(read_png16(self.depths[i]), image.shape[:2], self.depths[i], "depth")
            depth.append(
                depth_from_metres(
                    raw.astype(np.float32) * np.float32(DEPTH_MAX_METRES / 65535.0), raw == 65535
                )
            )
        return self._clip(rgb, depth, self.K[idx], self.c2w[idx], idx)
