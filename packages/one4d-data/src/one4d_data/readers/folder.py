"""Our own simple "folder" format for users' data and tests.

```
<root>/cameras.json   {"frames": [{"K": 3x3, "c2w": 4x4, "timestamp": t (optional)}, ...],
                       "K": 3x3 (optional, shared by all frames), "depth_scale": s (16-bit PNG only),
                       "caption": "..." (optional)}
<root>/rgb/<name>.png|.jpg            one image per frame, sorted by name
<root>/depth/<name>.npy | <name>.png  float32 metres (NaN or 0 invalid), or uint16 with metres = v / s
```
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..clip import Clip
from ..errors import DataError
from ..files import check_shape, depth_from_metres, read_npy, read_png16, read_rgb, require_file, write_png16
from .base import FrameSequence, check_same_length, sorted_files

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class FolderSequence(FrameSequence):
    dataset = "folder"

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        meta_path = require_file(self.path / "cameras.json")
        try:
            meta = json.loads(meta_path.read_text())
            frames = meta["frames"]
            K = [np.asarray(f.get("K", meta.get("K")), dtype=np.float64) for f in frames]
            c2w = np.asarray([f["c2w"] for f in frames], dtype=np.float64)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise DataError(meta_path, f"bad cameras.json ({error!r})") from error
        if any(k.shape != (3, 3) for k in K):
            raise DataError(meta_path, "every frame needs a 3x3 K (per frame or shared)")
        if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
            raise DataError(meta_path, f"c2w must be 4x4 per frame, got {c2w.shape}")
        self.K, self.c2w = np.stack(K), c2w
        stamps = [f.get("timestamp") for f in frames]
        self.timestamps = None if any(t is None for t in stamps) else np.asarray(stamps, dtype=np.float64)
        self.depth_scale = float(meta.get("depth_scale", 1000.0))
        self.caption = str(meta.get("caption", ""))
        self.images = [p for p in sorted_files(self.path / "rgb", "*") if p.suffix.lower() in IMAGE_SUFFIXES]
        self.depths = [p for p in sorted_files(self.path / "depth", "*") if p.suffix in (".npy", ".png")]
        check_same_length(self.path, images=len(self.images), depths=len(self.depths), cameras=len(frames))
        if not self.images:
            raise DataError(self.path, "no frames")

    def __len__(self) -> int:
        return len(self.images)

    def _depth(self, path: Path, shape: tuple[int, int]) -> np.ndarray:
        if path.suffix == ".npy":
            depth = read_npy(path)
            if depth.dtype.kind != "f":
                raise DataError(path, f"depth .npy must be floating point, got {depth.dtype}")
            check_shape(depth, shape, path, "depth")
            return depth_from_metres(depth)
        raw = check_shape(read_png16(path), shape, path, "depth")
        return depth_from_metres(raw.astype(np.float32) / self.depth_scale)

    def read(self, indices) -> Clip:
        idx = self._indices(indices)
        rgb = [read_rgb(self.images[i]) for i in idx]
        depth = [self._depth(self.depths[i], r.shape[:2]) for i, r in zip(idx, rgb, strict=False)]
        stamps = None if self.timestamps is None else self.timestamps[idx]
        return self._clip(
            rgb, depth, self.K[idx], self.c2w[idx], idx, timestamps=stamps, caption=self.caption
        )


def write_folder(
    clip: Clip, root: str | Path, depth_format: str = "npy", depth_scale: float = 1000.0
) -> Path:
    """Write a clip in the folder format (RGB as PNG; depth as float32 .npy or uint16 PNG / depth_scale)."""
    root = Path(root)
    (root / "rgb").mkdir(parents=True, exist_ok=True)
    (root / "depth").mkdir(parents=True, exist_ok=True)
    for i in range(clip.num_frames):
        Image.fromarray(clip.rgb[i]).save(root / "rgb" / f"{i:06d}.png")
        depth = np.nan_to_num(clip.depth[i], nan=0.0)
        if depth_format == "npy":
            np.save(root / "depth" / f"{i:06d}.npy", depth.astype(np.float32))
        elif depth_format == "png":
            write_png16(
                root / "depth" / f"{i:06d}.png",
                np.clip(np.round(depth * depth_scale), 0, 65535).astype(np.uint16),
            )
        else:
            raise ValueError(f"depth_format must be 'npy' or 'png', got {depth_format!r}")
    frames = [{"K": clip.K[i].tolist(), "c2w": clip.c2w[i].tolist()} for i in range(clip.num_frames)]
    if clip.timestamps is not None:
        for frame, t in zip(frames, clip.timestamps, strict=False):
            frame["timestamp"] = float(t)
    meta = {"frames": frames, "depth_scale": depth_scale, "caption": clip.caption}
    (root / "cameras.json").write_text(json.dumps(meta))
    return root
