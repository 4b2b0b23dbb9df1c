"""The clip type shared by readers, the synthetic generator and the dataset."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .cameras import check_poses, relative_to_first, unproject_to_world
from .errors import DataError


@dataclass
class Clip:
    """F frames of RGB-D video with cameras.

    ``rgb`` (F, H, W, 3) uint8; ``depth`` (F, H, W) float32 camera z, NaN = invalid; ``K`` (F, 3, 3) pixels;
    ``c2w`` (F, 4, 4) camera-to-world. ``pointmaps`` (F, H, W, 3) float32 are world points in ``c2w``'s
    world (after :meth:`lifted` that is the first frame's camera), NaN where invalid; ``valid`` (F, H, W)
    bool; ``dynamic`` (F, H, W) bool where known. ``source`` holds free-form metadata (dataset, path,
    frame indices); ``timestamps`` (F,) seconds where known.
    """

    rgb: np.ndarray
    depth: np.ndarray
    K: np.ndarray
    c2w: np.ndarray
    pointmaps: np.ndarray | None = None
    valid: np.ndarray | None = None
    dynamic: np.ndarray | None = None
    caption: str = ""
    source: dict = field(default_factory=dict)
    timestamps: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[2])

    @property
    def name(self) -> str:
        return str(self.source.get("path", self.source.get("dataset", "clip")))

    def validate(self) -> Clip:
        """Check shapes, dtypes and poses; raise :class:`DataError` naming the clip. Returns self."""
        where = self.name
        f, h, w = self.num_frames, self.height, self.width
        if self.rgb.ndim != 4 or self.rgb.shape[3] != 3 or self.rgb.dtype != np.uint8:
            raise DataError(where, f"rgb must be (F, H, W, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}")
        expected = {
            "depth": (f, h, w),
            "K": (f, 3, 3),
            "c2w": (f, 4, 4),
            "pointmaps": (f, h, w, 3),
            "valid": (f, h, w),
            "dynamic": (f, h, w),
        }
        for key, shape in expected.items():
            value = getattr(self, key)
            if value is not None and value.shape != shape:
                raise DataError(where, f"{key} has shape {value.shape}, expected {shape} (frame count {f})")
        if self.timestamps is not None and self.timestamps.shape != (f,):
            raise DataError(where, f"timestamps have shape {self.timestamps.shape}, expected ({f},)")
        check_poses(self.c2w, where)
        if not np.all(np.isfinite(self.K)) or np.any(self.K[:, 0, 0] <= 0) or np.any(self.K[:, 1, 1] <= 0):
            raise DataError(where, "intrinsics must be finite with positive focal lengths")
        return self

    def select(self, indices) -> Clip:
        """The frames ``indices`` (cameras keep their world frame)."""
        idx = np.asarray(indices, dtype=np.int64)

        def take(a):
            return None if a is None else a[idx]

        source = dict(self.source)
        base = np.asarray(source.get("frame_indices", np.arange(self.num_frames)))
        source["frame_indices"] = base[idx].tolist()
        return replace(
            self,
            rgb=self.rgb[idx],
            depth=self.depth[idx],
            K=self.K[idx],
            c2w=self.c2w[idx],
            pointmaps=take(self.pointmaps),
            valid=take(self.valid),
            dynamic=take(self.dynamic),
            timestamps=take(self.timestamps),
            source=source,
        )

    def lifted(self) -> Clip:
        """Cameras relative to the first frame (c2w[0] = I) and pointmaps recomputed from depth."""
        c2w = relative_to_first(self.c2w)
        valid = np.isfinite(self.depth) & (self.depth > 0)
        depth = np.where(valid, self.depth, np.float32(np.nan)).astype(np.float32)
        pointmaps = unproject_to_world(depth, self.K, c2w)
        return replace(self, depth=depth, c2w=c2w, pointmaps=pointmaps, valid=valid)
