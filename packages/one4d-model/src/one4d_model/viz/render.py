"""Novel-view rendering of a generated 4D point cloud (`one4d-render`): z-buffered point splatting in torch.

Output frame i shows the points of generated frame i seen from camera i of a new path. Every camera here is
camera-to-world in the first camera's frame (world = first camera; OpenCV: x right, y down, z forward), the
frame `pointmaps.npz` and `trajectory.txt` use.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from one4d_geometry import default_principal_point, invert_pose, read_tum
from tqdm import tqdm

from ..errors import ModelError
from .scene import Scene4D

PRESETS = ("orbit", "spiral", "dolly")
# `--amplitude` defaults: orbit yaw (degrees); spiral radius, dolly travel (fractions of the focus depth).
DEFAULT_AMPLITUDE = {"orbit": 15.0, "spiral": 0.1, "dolly": 0.25}
DEFAULT_HFOV_DEG = 60.0  # horizontal field of view for scenes without recovered intrinsics
MIN_DEPTH = 1e-6  # points at or behind this camera depth are dropped

_Array = np.ndarray | torch.Tensor


def _numpy(value: _Array) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def splat(
    points: _Array,
    colors: _Array,
    c2w: _Array,
    K: _Array,
    height: int,
    width: int,
    point_size: int = 1,
    background: int | tuple[int, int, int] = 0,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render coloured world points (P, 3) from camera `c2w` (4, 4) with intrinsics `K` (3, 3).

    Returns (image (H, W, 3) uint8, depth (H, W) float32 camera z, inf where no point landed). A point
    covers the `point_size` x `point_size` pixels whose centres lie in the square of that side around its
    projection; for size 1 that is the pixel nearest to it, so a point projecting onto a pixel centre lands
    exactly on that pixel. The nearest point wins each pixel (ties: the later point). Non-finite points and
    points with depth <= MIN_DEPTH are dropped. Runs on `device` (default: that of `points` if it is a
    tensor, else the CPU).

    Written by hand because none of the project's dependencies (uv.lock) splats points; pytorch3d, the usual
    rasterizer, is not one and is compiled from source against the installed torch. scatter_reduce suffices.
    """
    if int(point_size) != point_size or point_size < 1:
        raise ModelError(f"point_size must be a positive integer, got {point_size}")
    if height < 1 or width < 1:
        raise ModelError(f"image size must be positive, got {height} x {width}")
    if device is None:
        device = points.device if isinstance(points, torch.Tensor) else "cpu"
    device = torch.device(device)
    pts = torch.as_tensor(points, dtype=torch.float32, device=device)
    cols = torch.as_tensor(colors, device=device)
    if pts.ndim != 2 or pts.shape[1] != 3 or cols.shape != pts.shape or cols.dtype != torch.uint8:
        raise ModelError(
            f"expected points (P, 3) and uint8 colours (P, 3), got {tuple(pts.shape)} and "
            f"{cols.dtype} {tuple(cols.shape)}"
        )
    c2w_np, K_np = _numpy(c2w).astype(np.float64), _numpy(K).astype(np.float64)
    if c2w_np.shape != (4, 4) or K_np.shape != (3, 3):
        raise ModelError(f"expected c2w (4, 4) and K (3, 3), got {c2w_np.shape} and {K_np.shape}")
    if not (np.isfinite(c2w_np).all() and np.isfinite(K_np).all()):
        raise ModelError("c2w and K must be finite")
    w2c = torch.as_tensor(invert_pose(c2w_np), dtype=torch.float32, device=device)
    intr = torch.as_tensor(K_np, dtype=torch.float32, device=device)
    back = torch.as_tensor(
        np.broadcast_to(np.array(background), (3,)).copy(), dtype=torch.uint8, device=device
    )

    cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
    z = cam[:, 2]
    keep = torch.isfinite(cam).all(dim=1) & (z > MIN_DEPTH)
    cam, z, cols = cam[keep], z[keep], cols[keep]
    uv = (cam @ intr.T)[:, :2] / z[:, None]
    # First covered pixel: centres c with u - s/2 <= c < u + s/2.
    start = torch.ceil(uv - point_size / 2.0)
    on_screen = (
        (start[:, 0] > -point_size)
        & (start[:, 0] < width)
        & (start[:, 1] > -point_size)
        & (start[:, 1] < height)
    )
    start, z, cols = start[on_screen].long(), z[on_screen], cols[on_screen]
    offsets = torch.arange(point_size, device=device)
    columns = start[:, 0, None, None] + offsets[None, None, :]  # (P, s, s)
    rows = start[:, 1, None, None] + offsets[None, :, None]
    columns, rows = torch.broadcast_tensors(columns, rows)
    inside = (columns >= 0) & (columns < width) & (rows >= 0) & (rows < height)
    pixel = (rows * width + columns)[inside]
    owner_of = torch.arange(len(z), device=device)[:, None, None].expand_as(inside)[inside]
    depth_of = z[:, None, None].expand_as(inside)[inside]

    depth = torch.full((height * width,), math.inf, device=device)
    depth = depth.scatter_reduce(0, pixel, depth_of, reduce="amin")
    front = depth_of == depth[pixel]
    owner = torch.full((height * width,), -1, dtype=torch.long, device=device)
    owner = owner.scatter_reduce(0, pixel[front], owner_of[front], reduce="amax")
    image = back.expand(height * width, 3).clone()
    hit = owner >= 0
    image[hit] = cols[owner[hit]]
    return (
        image.reshape(height, width, 3).cpu().numpy(),
        depth.reshape(height, width).cpu().numpy().astype(np.float32),
    )


def render_trajectory(
    scene: Scene4D,
    c2w: _Array,
    K: _Array,
    point_size: int = 1,
    device: str | torch.device = "cpu",
    progress: bool = True,
    background: int | tuple[int, int, int] = 0,
) -> np.ndarray:
    """Frames (F, H, W, 3) uint8: frame i splats the points of generated frame i from camera `c2w[i]`.

    `K` is one (3, 3) for every frame or (F, 3, 3); the output has the scene's frame size.
    """
    c2w = _numpy(c2w)
    count = scene.num_frames
    if c2w.shape != (count, 4, 4):
        raise ModelError(f"camera path must be ({count}, 4, 4) for {count} frames, got {c2w.shape}")
    K = _numpy(K)
    if K.shape == (3, 3):
        K = np.broadcast_to(K, (count, 3, 3))
    if K.shape != (count, 3, 3):
        raise ModelError(f"K must be (3, 3) or ({count}, 3, 3), got {K.shape}")
    height, width = scene.image_size
    out = np.empty((count, height, width, 3), np.uint8)
    for i in tqdm(range(count), desc="one4d-render", unit="frame", disable=not progress):
        points, colors = scene.points(i)
        out[i] = splat(points, colors, c2w[i], K[i], height, width, point_size, background, device)[0]
    return out


def default_intrinsics(height: int, width: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> np.ndarray:
    """Square pixels, a `hfov_deg` horizontal field of view and the image centre as principal point."""
    focal = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    cx, cy = default_principal_point(height, width)
    return np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]])


def render_intrinsics(scene: Scene4D) -> np.ndarray:
    """The recovered K of frame 0 when the scene has cameras, else `default_intrinsics` (60 degrees)."""
    if scene.K is not None:
        return np.asarray(scene.K[0], dtype=np.float64)
    return default_intrinsics(*scene.image_size)


def focus_depth(scene: Scene4D) -> float:
    """Median depth of frame 0's valid points in front of the first camera: where the presets look."""
    z = scene.points(0)[0][:, 2]
    z = z[z > MIN_DEPTH]
    if len(z) == 0:
        raise ModelError("frame 0 has no valid points in front of the camera: no focus depth for the path")
    return float(np.median(z))


def look_at(centers: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Camera-to-world (N, 4, 4) of cameras at `centers` (N, 3) looking at `target` (3,), with no roll
    relative to the first camera (its y axis, down, stays in the plane of the down vector and the view)."""
    centers = np.atleast_2d(np.asarray(centers, dtype=np.float64))
    forward = np.asarray(target, dtype=np.float64) - centers
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    right = np.cross(np.array([0.0, 1.0, 0.0]), forward)
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    down = np.cross(forward, right)
    c2w = np.tile(np.eye(4), (len(centers), 1, 1))
    c2w[:, :3, :3] = np.stack([right, down, forward], axis=-1)
    c2w[:, :3, 3] = centers
    return c2w


def _progress(num_frames: int) -> np.ndarray:
    if num_frames < 1:
        raise ModelError(f"a camera path needs at least one frame, got {num_frames}")
    return np.linspace(0.0, 1.0, num_frames)


def _check_depth(focus: float) -> None:
    if not (math.isfinite(focus) and focus > 0):
        raise ModelError(f"focus depth must be finite and positive, got {focus}")


def orbit_trajectory(num_frames: int, focus: float, amplitude_deg: float = 15.0) -> np.ndarray:
    """Swing left, right and back around the point `focus` ahead of the first camera, always looking at it:
    yaw = amplitude * sin(2 pi t), t from 0 to 1, so the path starts and ends at the first camera."""
    _check_depth(focus)
    yaw = np.radians(amplitude_deg) * np.sin(2 * np.pi * _progress(num_frames))
    target = np.array([0.0, 0.0, focus])
    centers = target - focus * np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], axis=-1)
    return look_at(centers, target)


def spiral_trajectory(num_frames: int, focus: float, radius: float = 0.1, turns: float = 1.0) -> np.ndarray:
    """LLFF-style: one circle (`turns` of them) of radius `radius * focus` in the image plane, through the
    first camera's centre, while moving forward by `radius * focus` and back, looking at the focus point."""
    _check_depth(focus)
    t = _progress(num_frames)
    angle = 2 * np.pi * turns * t
    r = radius * focus
    centers = np.stack([r * np.sin(angle), r * (np.cos(angle) - 1.0), r * np.sin(np.pi * t)], axis=-1)
    return look_at(centers, np.array([0.0, 0.0, focus]))


def dolly_trajectory(num_frames: int, focus: float, fraction: float = 0.25) -> np.ndarray:
    """Forward along the optical axis by `fraction * focus` and back (smoothly, (1 - cos 2 pi t) / 2),
    never turning."""
    _check_depth(focus)
    c2w = np.tile(np.eye(4), (num_frames, 1, 1))
    c2w[:, 2, 3] = fraction * focus * (1.0 - np.cos(2 * np.pi * _progress(num_frames))) / 2.0
    return c2w


def camera_path(scene: Scene4D, trajectory: str | Path, amplitude: float | None = None) -> np.ndarray:
    """c2w (F, 4, 4) for `trajectory`: a preset (orbit, spiral, dolly; `amplitude` as in DEFAULT_AMPLITUDE),
    "original" (the recovered cameras) or a TUM file (camera-to-world, one pose per frame, in order;
    timestamps are ignored and a different pose count is an error)."""
    count = scene.num_frames
    name = str(trajectory)
    if name in PRESETS:
        value = DEFAULT_AMPLITUDE[name] if amplitude is None else float(amplitude)
        if not math.isfinite(value):
            raise ModelError(f"--amplitude must be finite, got {amplitude}")
        make = {"orbit": orbit_trajectory, "spiral": spiral_trajectory, "dolly": dolly_trajectory}[name]
        return make(count, focus_depth(scene), value)
    if name == "original":
        if scene.c2w is None:
            raise ModelError("trajectory 'original': the scene has no recovered cameras (no trajectory.txt)")
        return np.asarray(scene.c2w, dtype=np.float64)
    path = Path(trajectory)
    if not path.is_file():
        raise FileNotFoundError(
            f"trajectory {name!r}: not one of {', '.join((*PRESETS, 'original'))} and no such file"
        )
    poses = read_tum(path)[1]
    if len(poses) != count:
        raise ModelError(f"{path}: {len(poses)} poses, but the scene has {count} frames (one pose per frame)")
    return poses
