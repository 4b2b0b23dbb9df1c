"""The output folder of a generation: every file `one4d-generate` writes, from a pipeline output.

- `frames/frame_NNNN.png`, `video.mp4`: the generated RGB;
- `xyz.mp4`: the pointmaps as RGB (`visualize.pointmaps_to_rgb`), `depth.mp4`: depth in each frame's recovered
  camera as a colour map (one range per clip), `rgb_depth_xyz.mp4`: the three side by side;
- `points/frame_NNNN.ply`: each frame's valid points, coloured; `scene.ply` and `scene.glb`: the valid points
  of every few frames merged, the GLB with the camera frustums and trajectory (`scene_files`);
- `pointmaps.npz`: `pointmaps` (F, H, W, 3) with NaN where invalid, `valid`, `reliable`, `frames`,
  `frame_mask`;
- from camera recovery: `trajectory.txt` (TUM, camera-to-world), `intrinsics.json`, `depth.npz` (the layout
  `one4d-eval` scores).

The videos need PyAV (the `video` extra); depth and the side-by-side need recovered cameras. Every file is
written atomically, and `manifest.json` marks the folder incomplete while it is written and lists every file
with its size at the end (`one4d_geometry.files`), so an interrupted run never looks complete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .scene import POINTMAPS_FILE, Scene4D
from .video import WAN_FPS, has_video_support, write_mp4
from .visualize import colorize_depth, pointmaps_to_rgb, side_by_side

VIDEO_FILE, XYZ_VIDEO_FILE, DEPTH_VIDEO_FILE = "video.mp4", "xyz.mp4", "depth.mp4"
SIDE_BY_SIDE_FILE = "rgb_depth_xyz.mp4"
SCENE_PLY_FILE, SCENE_GLB_FILE = "scene.ply", "scene.glb"
WRITER = "one4d-generate"


@dataclass
class WriteOptions:
    fps: int = WAN_FPS
    scene_frame_stride: int = 2  # scene.ply / scene.glb take every n-th frame's points
    scene_pixel_stride: int = 1  # ... and every n-th row and column of them


def scene_of(result) -> Scene4D:
    """A pipeline output (numpy) as a `Scene4D`, with its cameras when it has them."""
    cameras = result.cameras
    return Scene4D(
        frames=np.asarray(result.frames),
        pointmaps=np.asarray(result.pointmaps, dtype=np.float32),
        valid=np.asarray(result.valid, dtype=bool),
        c2w=None if cameras is None else cameras.c2w,
        K=None if cameras is None else cameras.K,
        depth=None if cameras is None else cameras.depth,
    )


def write_generation(out: str | Path, result, options: WriteOptions | None = None) -> list[Path]:
    """Write every output of `result` (a `One4DPipelineOutput`, numpy) into `out`; returns the files written
    (the per-frame PNG and PLY files counted by their folders)."""
    from one4d_geometry.files import atomic_path, atomic_savez, begin_outputs, finish_outputs
    from one4d_geometry.ply import write_ply
    from one4d_geometry.recovery_files import DEPTH_FILE, INTRINSICS_FILE, TRAJECTORY_FILE, write_recovery

    from .scene_files import write_scene_glb, write_scene_ply

    options = options or WriteOptions()
    out = Path(out)
    begin_outputs(out, WRITER)
    stale = [TRAJECTORY_FILE, INTRINSICS_FILE, DEPTH_FILE, DEPTH_VIDEO_FILE, SIDE_BY_SIDE_FILE]
    for name in stale if result.cameras is None else []:  # an earlier run's cameras do not fit this one
        (out / name).unlink(missing_ok=True)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    (out / "points").mkdir(exist_ok=True)
    scene = scene_of(result)
    files = []
    for i in range(scene.num_frames):
        png, ply = out / "frames" / f"frame_{i:04d}.png", out / "points" / f"frame_{i:04d}.ply"
        with atomic_path(png) as temporary:
            Image.fromarray(scene.frames[i]).save(temporary)
        write_ply(ply, *scene.points(i))
        files += [png, ply]
    atomic_savez(
        out / POINTMAPS_FILE,
        pointmaps=scene.pointmaps,
        valid=scene.valid,
        reliable=np.asarray(result.reliable),
        frames=scene.frames,
        frame_mask=np.asarray(result.frame_mask),
    )
    written = [out / "frames", out / "points", out / POINTMAPS_FILE]
    if result.cameras is not None:
        write_recovery(out, result.cameras, header="one4d-generate")
        written += [out / TRAJECTORY_FILE, out / INTRINSICS_FILE, out / DEPTH_FILE]
    write_scene_ply(out / SCENE_PLY_FILE, scene, options.scene_frame_stride, options.scene_pixel_stride)
    write_scene_glb(out / SCENE_GLB_FILE, scene, options.scene_frame_stride, options.scene_pixel_stride)
    written += [out / SCENE_PLY_FILE, out / SCENE_GLB_FILE]
    if has_video_support():
        written += write_videos(out, scene, options.fps)
    finish_outputs(out, WRITER, files + [path for path in written if path.is_file()])
    return written


def coloured_videos(scene: Scene4D) -> dict[str, np.ndarray]:
    """The videos `write_videos` writes, by file name, as (F, H, W', 3) uint8 frames: the RGB, the pointmaps'
    colours, and with cameras the depth colour map and the three side by side (RGB, depth, XYZ)."""
    xyz = pointmaps_to_rgb(scene.pointmaps, scene.valid)
    videos = {VIDEO_FILE: scene.frames, XYZ_VIDEO_FILE: xyz}
    if scene.depth is not None:
        depth = colorize_depth(scene.depth, scene.valid)
        videos[DEPTH_VIDEO_FILE] = depth
        videos[SIDE_BY_SIDE_FILE] = side_by_side(scene.frames, depth, xyz)
    return videos


def write_videos(out: Path, scene: Scene4D, fps: int = WAN_FPS) -> list[Path]:
    """video.mp4 and xyz.mp4, and with cameras depth.mp4 and rgb_depth_xyz.mp4; returns the files."""
    videos = coloured_videos(scene)
    for name, frames in videos.items():
        write_mp4(out / name, frames, fps=fps)
    return [out / name for name in videos]
