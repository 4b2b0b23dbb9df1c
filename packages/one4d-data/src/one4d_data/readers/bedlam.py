"""BEDLAM: ``<scene>/png/<seq>/<seq>_%04d.png``, ``<scene>/depth/<seq>/<seq>_%04d_depth.exr`` (channel
``Depth``, centimetres) and ``<scene>/ground_truth/camera/<seq>_camera.csv`` in Unreal conventions."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..cameras import pose_matrix
from ..clip import Clip
from ..errors import DataError
from ..exr import read_exr
from ..files import check_shape, depth_from_metres, read_rgb, require_file
from .base import FrameSequence, check_same_length, sorted_files

SENSOR_MM = (36.0, 20.25)
# Unreal world (x forward, y right, z up; left-handed, centimetres) -> OpenCV-style world (y, -z, x).
UNREAL_TO_CV = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def unreal_camera_to_c2w(x: float, y: float, z: float, yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Unreal camera location (cm) and rotator (degrees) -> OpenCV camera-to-world (metres).

    Positive yaw turns from +x towards +y, positive pitch looks up, roll is about the view axis.
    """
    yaw, pitch, roll = np.deg2rad([yaw, pitch, roll])
    w2c_unreal = _rot_x(roll) @ _rot_y(pitch) @ _rot_z(-yaw)  # Unreal world -> Unreal camera axes
    w2c = UNREAL_TO_CV @ w2c_unreal @ UNREAL_TO_CV.T
    centre = UNREAL_TO_CV @ (np.array([x, y, z], dtype=np.float64) / 100.0)
    return pose_matrix(w2c.T, centre)


def bedlam_intrinsics(focal_mm: float, width: int, height: int) -> np.ndarray:
    fx = focal_mm / SENSOR_MM[0] * width
    fy = focal_mm / SENSOR_MM[1] * height
    return np.array([[fx, 0.0, (width - 1) / 2.0], [0.0, fy, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def read_bedlam_cameras(path: str | Path) -> list[dict[str, float]]:
    path = require_file(path)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    needed = ("x", "y", "z", "yaw", "pitch", "roll", "focal_length")
    if not rows or any(k not in rows[0] for k in needed):
        raise DataError(path, f"camera CSV needs columns {needed}")
    try:
        return [{k: float(row[k]) for k in needed} for row in rows]
    except ValueError as error:
        raise DataError(path, f"non-numeric camera value ({error})") from error


class BedlamSequence(FrameSequence):
    dataset = "bedlam"

    def __init__(self, scene_dir: str | Path, sequence: str) -> None:
        scene_dir = Path(scene_dir)
        super().__init__(scene_dir / "png" / sequence)
        self.images = sorted_files(scene_dir / "png" / sequence, f"{sequence}_*.png")
        self.depth_dir = scene_dir / "depth" / sequence
        self.cameras = read_bedlam_cameras(scene_dir / "ground_truth" / "camera" / f"{sequence}_camera.csv")
        check_same_length(self.path, images=len(self.images), cameras=len(self.cameras))
        self.c2w = np.stack(
            [
                unreal_camera_to_c2w(c["x"], c["y"], c["z"], c["yaw"], c["pitch"], c["roll"])
                for c in self.cameras
            ]
        )

    def __len__(self) -> int:
        return len(self.images)

    def read(self, indices) -> Clip:
        idx = self._indices(indices)
        rgb, depth, K = [], [], []
        for i in idx:
            image = read_rgb(self.images[i])
            depth_path = self.depth_dir / (self.images[i].stem + "_depth.exr")
            channels = read_exr(depth_path)
            if "Depth" not in channels:
                raise DataError(depth_path, f"no 'Depth' channel (has {sorted(channels)})")
            d = check_shape(channels["Depth"], image.shape[:2], depth_path, "depth") / np.float32(100.0)
            rgb.append(image)
            depth.append(depth_from_metres(d))
            K.append(bedlam_intrinsics(self.cameras[i]["focal_length"], image.shape[1], image.shape[0]))
        return self._clip(rgb, depth, np.stack(K), self.c2w[idx], idx)
