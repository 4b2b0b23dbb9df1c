"""The generated 4D scene as one object: what `one4d-generate` writes to its output folder, read back for the
viewer (`one4d-view`), novel-view rendering (`one4d-render`) and the merged scene files.

An output folder holds `pointmaps.npz` (`pointmaps` (F, H, W, 3) in the first camera's frame with NaN where
invalid, `valid`, `reliable`, `frames` (F, H, W, 3) uint8, `frame_mask`) and, unless recovery was skipped,
`trajectory.txt` (TUM, camera-to-world), `intrinsics.json` (`K` per frame) and `depth.npz`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from one4d_geometry.files import load_arrays
from one4d_geometry.recovery_files import DEPTH_FILE, INTRINSICS_FILE, TRAJECTORY_FILE

from ..errors import ModelError

POINTMAPS_FILE = "pointmaps.npz"
__all__ = ["DEPTH_FILE", "INTRINSICS_FILE", "POINTMAPS_FILE", "TRAJECTORY_FILE", "Scene4D", "load_scene"]


@dataclass
class Scene4D:
    """Frames and pointmaps of a generated clip, with its recovered cameras when there are any."""

    frames: np.ndarray  # (F, H, W, 3) uint8
    pointmaps: np.ndarray  # (F, H, W, 3) float32, first camera's frame, NaN where invalid
    valid: np.ndarray  # (F, H, W) bool
    c2w: np.ndarray | None = None  # (F, 4, 4) camera-to-world, from recovery
    K: np.ndarray | None = None  # (F, 3, 3) intrinsics, from recovery
    depth: np.ndarray | None = None  # (F, H, W) z-depth in each frame's camera, NaN where invalid

    def __post_init__(self) -> None:
        count, height, width = self.frames.shape[:3]
        if self.frames.shape != (count, height, width, 3) or self.frames.dtype != np.uint8:
            raise ModelError(
                f"frames must be uint8 (F, H, W, 3), got {self.frames.dtype} {self.frames.shape}"
            )
        if self.pointmaps.shape != self.frames.shape:
            raise ModelError(f"pointmaps {self.pointmaps.shape} must match frames {self.frames.shape}")
        if self.valid.shape != self.frames.shape[:3]:
            raise ModelError(f"valid {self.valid.shape} must be {self.frames.shape[:3]}")
        for name, value, tail in (("c2w", self.c2w, (4, 4)), ("K", self.K, (3, 3))):
            if value is not None and value.shape != (count, *tail):
                raise ModelError(f"{name} must be {(count, *tail)}, got {value.shape}")
        if self.depth is not None and self.depth.shape != self.frames.shape[:3]:
            raise ModelError(f"depth {self.depth.shape} must be {self.frames.shape[:3]}")

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.frames.shape[1]), int(self.frames.shape[2])

    @property
    def has_cameras(self) -> bool:
        return self.c2w is not None and self.K is not None

    def points(self, frame: int, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(points (P, 3) float32, colours (P, 3) uint8) of one frame's valid pixels, every `stride`-th row
        and column."""
        valid = self.valid[frame, ::stride, ::stride]
        return (
            self.pointmaps[frame, ::stride, ::stride][valid].astype(np.float32),
            self.frames[frame, ::stride, ::stride][valid],
        )

    def merged_points(self, frame_stride: int = 1, pixel_stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The valid points of every `frame_stride`-th frame together (all in the first camera's frame)."""
        if frame_stride < 1 or pixel_stride < 1:
            raise ModelError(f"strides must be at least 1, got {frame_stride} and {pixel_stride}")
        parts = [self.points(i, pixel_stride) for i in range(0, self.num_frames, frame_stride)]
        return np.concatenate([p for p, _ in parts]), np.concatenate([c for _, c in parts])


def load_scene(folder: str | Path) -> Scene4D:
    """Read a `one4d-generate` output folder; cameras and depth are included when recovery wrote them."""
    folder = Path(folder)
    archive = folder / POINTMAPS_FILE
    if not archive.is_file():
        raise ModelError(f"{folder}: no {POINTMAPS_FILE} (is this a one4d-generate output folder?)")
    arrays = load_arrays(archive, ("pointmaps", "valid", "frames"))
    pointmaps = arrays["pointmaps"].astype(np.float32)
    valid = arrays["valid"].astype(bool) & np.isfinite(pointmaps).all(axis=-1)
    c2w = K = depth = None
    trajectory, intrinsics = folder / TRAJECTORY_FILE, folder / INTRINSICS_FILE
    if trajectory.is_file() and intrinsics.is_file():
        from one4d_geometry import read_tum

        c2w = read_tum(trajectory)[1]
        try:
            K = np.asarray(json.loads(intrinsics.read_text())["K"], dtype=np.float64)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise ModelError(f"{intrinsics}: expected a JSON object with 'K' (F, 3, 3): {error}") from None
        if (folder / DEPTH_FILE).is_file():
            depth = load_arrays(folder / DEPTH_FILE, ("depth",))["depth"].astype(np.float32)
    try:
        return Scene4D(arrays["frames"], pointmaps, valid, c2w=c2w, K=K, depth=depth)
    except ModelError as error:
        raise ModelError(f"{folder}: {error}") from None
