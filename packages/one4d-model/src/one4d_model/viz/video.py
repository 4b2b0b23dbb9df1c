"""mp4 output through PyAV (the `video` extra: `pip install one4d-model[video]`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from one4d_geometry.files import atomic_path

from ..errors import ModelError

WAN_FPS = 16  # the frame rate Wan2.1 generates at


def has_video_support() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def write_mp4(path: str | Path, frames: np.ndarray, fps: int = WAN_FPS, crf: int = 18) -> None:
    """H.264 (yuv420p, the pixel format every player decodes) of uint8 frames (F, H, W, 3) with even H, W."""
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ModelError(f"expected uint8 frames (F, H, W, 3), got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ModelError(f"H.264 in yuv420p needs an even height and width, got {height} x {width}")
    with atomic_path(path) as temporary, av.open(str(temporary), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf)}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
