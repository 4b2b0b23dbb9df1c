"""SpatialVID: an mp4 clip with pseudo-geometry: ``poses.npy`` (N, 7) ``[tx ty tz qx qy qz qw]``
world-to-camera, ``intrinsics.npy`` (N, 4) normalised ``fx fy cx cy``, ``indexes.txt`` (the video frame of
each annotation), and ``depth.zip`` of float16 EXRs (channel ``Z``) holding inverse depth, one per
annotation in name order. RGB comes from the mp4 (needs ``av``: ``one4d-data[video]``) or, when present,
from a ``frames/`` folder of extracted images (``%06d.png|jpg`` by video frame index)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from one4d_geometry.cameras import invert_pose
from one4d_geometry.rotations import quaternion_to_matrix

from ..cameras import pose_matrix
from ..clip import Clip
from ..errors import DataError
from ..exr import read_exr_bytes
from ..files import check_shape, depth_from_metres, read_npy, read_rgb, require_file
from .base import FrameSequence, check_same_length


def read_video_frames(path: Path, wanted: list[int]) -> dict[int, np.ndarray]:
    """Decode the frames ``wanted`` (indices) of a video file as uint8 RGB."""
    try:
        import av  # noqa: PLC0415 (optional dependency)
    except ImportError as error:
        raise DataError(path, "reading mp4 needs the 'av' package (pip install one4d-data[video])") from error
    remaining, out = set(wanted), {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in remaining:
                out[index] = frame.to_ndarray(format="rgb24")
                remaining.discard(index)
            if not remaining:
                break
    if remaining:
        raise DataError(path, f"video has no frames {sorted(remaining)[:5]}")
    return out


class SpatialVIDSequence(FrameSequence):
    dataset = "spatialvid"

    def __init__(self, path: str | Path, video: str | Path | None = None) -> None:
        super().__init__(path)
        poses = read_npy(self.path / "poses.npy").astype(np.float64)
        intr = read_npy(self.path / "intrinsics.npy").astype(np.float64)
        index_path = require_file(self.path / "indexes.txt")
        try:
            self.frame_of = [int(v) for v in index_path.read_text().split()]
        except ValueError as error:
            raise DataError(index_path, f"non-integer frame index ({error})") from error
        self.depth_zip = require_file(self.path / "depth.zip")
        with zipfile.ZipFile(self.depth_zip) as archive:
            self.depth_names = sorted(n for n in archive.namelist() if n.lower().endswith(".exr"))
        count = check_same_length(
            self.path,
            poses=len(poses),
            intrinsics=len(intr),
            indexes=len(self.frame_of),
            depths=len(self.depth_names),
        )
        check_shape(poses, (count, 7), self.path / "poses.npy", "poses")
        check_shape(intr, (count, 4), self.path / "intrinsics.npy", "intrinsics")
        try:
            rot = quaternion_to_matrix(poses[:, 3:])
        except ValueError as error:
            raise DataError(self.path / "poses.npy", str(error)) from error
        self.c2w = invert_pose(pose_matrix(rot, poses[:, :3]))
        self.normalised_intrinsics = intr
        self.frames_dir = self.path / "frames"
        self.video = Path(video) if video else next(iter(sorted(self.path.glob("*.mp4"))), None)

    def __len__(self) -> int:
        return len(self.frame_of)

    def _rgb(self, frames: list[int]) -> dict[int, np.ndarray]:
        if self.frames_dir.is_dir():
            out = {}
            for f in frames:
                candidates = [self.frames_dir / f"{f:06d}{ext}" for ext in (".png", ".jpg")]
                path = next((c for c in candidates if c.is_file()), candidates[0])
                out[f] = read_rgb(path)
            return out
        if self.video is None:
            raise DataError(self.path, "no frames/ folder and no .mp4 video")
        return read_video_frames(self.video, frames)

    def read(self, indices) -> Clip:
        idx = self._indices(indices)
        images = self._rgb([self.frame_of[i] for i in idx])
        rgb, depth, K = [], [], []
        with zipfile.ZipFile(self.depth_zip) as archive:
            for i in idx:
                image = images[self.frame_of[i]]
                name = self.depth_names[i]
                where = f"{self.depth_zip}:{name}"
                channels = read_exr_bytes(archive.read(name), where)
                if "Z" not in channels:
                    raise DataError(where, f"no 'Z' channel (has {sorted(channels)})")
                inverse = check_shape(channels["Z"], image.shape[:2], where, "inverse depth")
                with np.errstate(divide="ignore"):
                    d = np.where(inverse > 0, 1.0 / inverse, np.nan).astype(np.float32)
                h, w = image.shape[:2]
                fx, fy, cx, cy = self.normalised_intrinsics[i]
                K.append(np.array([[fx * w, 0.0, cx * w], [0.0, fy * h, cy * h], [0.0, 0.0, 1.0]]))
                rgb.append(image)
                depth.append(depth_from_metres(d))
        return self._clip(rgb, depth, np.stack(K), self.c2w[idx], idx)
