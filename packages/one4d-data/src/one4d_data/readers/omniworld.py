"""OmniWorld-Game: ``color/%06d.png``, ``depth/%06d.png`` (uint16, non-linear), ``camera/split_<k>.json``
(``focals``, ``cx``, ``cy``, ``quats`` (w, x, y, z), ``trans``: world-to-camera, OpenCV) and
``split_info.json`` (``split``: the frame indices of each split)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from one4d_geometry.cameras import invert_pose
from one4d_geometry.rotations import quaternion_to_matrix

from ..cameras import pose_matrix
from ..clip import Clip
from ..errors import DataError
from ..files import check_shape, depth_from_metres, read_png16, read_rgb, require_file
from .base import FrameSequence

NEAR, FAR = 1.0, 1000.0


def decode_omniworld_depth(raw: np.ndarray) -> np.ndarray:
    """uint16 non-linear depth -> metres (NaN invalid): d = v / 65535, invalid if d < 0.0015 or
    d > 65500 / 65535, metres = d / (far - d (far - near)) / 0.004."""
    d = raw.astype(np.float64) / 65535.0
    invalid = (d < 0.0015) | (d > 65500.0 / 65535.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        metres = d / (FAR - d * (FAR - NEAR)) / 0.004
    return depth_from_metres(metres.astype(np.float32), invalid)


def _load_json(path: Path) -> dict:
    path = require_file(path)
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(path, f"bad JSON ({error})") from error


class OmniWorldSequence(FrameSequence):
    """One split of an OmniWorld-Game scene."""

    dataset = "omniworld"

    def __init__(self, path: str | Path, split: int = 0) -> None:
        super().__init__(path)
        info_path = self.path / "split_info.json"
        info = _load_json(info_path)
        try:
            self.frames = [int(i) for i in info["split"][split]]
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise DataError(info_path, f"no frame list for split {split} ({error!r})") from error
        cam_path = self.path / "camera" / f"split_{split}.json"
        cam = _load_json(cam_path)
        try:
            n = len(self.frames)
            focals = np.broadcast_to(np.asarray(cam["focals"], dtype=np.float64), (n,))
            cx = np.broadcast_to(np.asarray(cam["cx"], dtype=np.float64), (n,))
            cy = np.broadcast_to(np.asarray(cam["cy"], dtype=np.float64), (n,))
            quats = np.asarray(cam["quats"], dtype=np.float64).reshape(n, 4)
            trans = np.asarray(cam["trans"], dtype=np.float64).reshape(n, 3)
        except (KeyError, ValueError) as error:
            raise DataError(
                cam_path, f"camera arrays do not match the {len(self.frames)} frames ({error!r})"
            ) from error
        self.K = np.zeros((n, 3, 3))
        self.K[:, 0, 0] = self.K[:, 1, 1] = focals
        self.K[:, 0, 2], self.K[:, 1, 2], self.K[:, 2, 2] = cx, cy, 1.0
        try:
            rot = quaternion_to_matrix(quats[:, [1, 2, 3, 0]])
        except ValueError as error:
            raise DataError(cam_path, str(error)) from error
        self.c2w = invert_pose(pose_matrix(rot, trans))

    def __len__(self) -> int:
        return len(self.frames)

    def read(self, indices) -> Clip:
        idx = self._indices(indices)
        rgb, depth = [], []
        for i in idx:
            frame = self.frames[i]
            image = read_rgb(self.path / "color" / f"{frame:06d}.png")
            depth_path = self.path / "depth" / f"{frame:06d}.png"
            raw = check_shape(read_png16(depth_path), image.shape[:2], depth_path, "depth")
            rgb.append(image)
            depth.append(decode_omniworld_depth(raw))
        return self._clip(rgb, depth, self.K[idx], self.c2w[idx], idx)
