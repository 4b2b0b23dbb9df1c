"""Synthetic pointmaps with known cameras, for tests, benchmarks and sanity checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cameras import default_principal_point, pixel_grid, unproject_depth
from .rotations import axis_angle_to_matrix

__all__ = ["SyntheticScene", "add_noise", "stuck_region", "synthetic_scene"]


@dataclass
class SyntheticScene:
    """Ground truth: pointmaps (N, H, W, 3) float32 in the first camera's frame and their cameras."""

    pointmaps: np.ndarray
    depth: np.ndarray  # (N, H, W)
    K: np.ndarray  # (N, 3, 3)
    R: np.ndarray  # (N, 3, 3) world-to-camera, R[0] = I
    o: np.ndarray  # (N, 3) camera centres, o[0] = 0


def synthetic_scene(
    n_frames: int, height: int, width: int, focal: float | np.ndarray, seed: int = 0
) -> SyntheticScene:
    """Random smooth depth maps (about 2 to 6 units) seen from a smooth random trajectory."""
    rng = np.random.default_rng(seed)
    u, v = pixel_grid(height, width)
    x, y = u / max(width - 1, 1), v / max(height - 1, 1)
    t = np.linspace(0.0, 1.0, n_frames)[:, None, None]
    log_depth = np.full((n_frames, height, width), np.log(3.0))
    for _ in range(4):
        fx, fy, ft = rng.uniform(0.5, 2.5, 3)
        phase = rng.uniform(0, 2 * np.pi)
        log_depth = log_depth + rng.uniform(0.05, 0.2) * np.sin(
            2 * np.pi * (fx * x + fy * y + ft * t) + phase
        )
    depth = np.exp(log_depth)

    times = np.linspace(0.0, 1.0, n_frames)[:, None]
    turn = rng.normal(0.0, 0.25, (1, 3)) * np.sin(np.pi * times) + rng.normal(0.0, 0.15, (1, 3)) * times
    move = rng.normal(0.0, 0.6, (1, 3)) * times + rng.normal(0.0, 0.2, (1, 3)) * np.sin(2 * np.pi * times)
    R = axis_angle_to_matrix(turn - turn[:1])
    o = move - move[:1]

    cx, cy = default_principal_point(height, width)
    focal = np.broadcast_to(np.asarray(focal, dtype=np.float64), (n_frames,))
    K = np.tile(np.eye(3), (n_frames, 1, 1))
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, 0, 2], K[:, 1, 2] = cx, cy
    pointmaps = unproject_depth(depth, K, R, o).astype(np.float32)
    return SyntheticScene(pointmaps, depth, K, R, o)


def add_noise(
    scene: SyntheticScene,
    depth_noise: float = 0.01,
    outlier_fraction: float = 0.05,
    seed: int = 0,
    *,
    point_noise: float = 0.0,
    outliers: str = "shift",
) -> np.ndarray:
    """Pointmaps with multiplicative depth noise, isotropic noise and gross outliers.

    Depth noise (relative) moves points along their rays, which leaves the cameras exactly recoverable;
    ``point_noise`` adds Gaussian noise in every direction with that standard deviation relative to each
    point's depth. A random ``outlier_fraction`` of the pixels gets a gross error: ``"shift"`` moves the point
    by 10-100 % of its depth in a random direction, ``"replace"`` replaces it by a point drawn uniformly in
    the box holding the scene's points (a wrong point anywhere in the scene).
    """
    if outliers not in ("shift", "replace"):
        raise ValueError(f"outliers must be 'shift' or 'replace', got {outliers!r}")
    rng = np.random.default_rng(seed)
    noisy_depth = scene.depth * (1.0 + depth_noise * rng.standard_normal(scene.depth.shape))
    points = unproject_depth(noisy_depth, scene.K, scene.R, scene.o).astype(np.float64)
    bad = rng.random(scene.depth.shape) < outlier_fraction
    if outliers == "shift":
        direction = rng.standard_normal(points.shape)
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        magnitude = rng.uniform(0.1, 1.0, scene.depth.shape) * scene.depth
        points[bad] += (direction * magnitude[..., None])[bad]
    if point_noise > 0:
        points += point_noise * scene.depth[..., None] * rng.standard_normal(points.shape)
    if outliers == "replace":
        flat = scene.pointmaps.reshape(-1, 3)
        points[bad] = rng.uniform(flat.min(axis=0), flat.max(axis=0), (int(bad.sum()), 3))
    return points.astype(np.float32)


def stuck_region(
    scene: SyntheticScene, points: np.ndarray | None = None, fraction: float = 1 / 3, farther: float = 3.0
) -> np.ndarray:
    """``points`` (default: the scene's pointmaps) with the top ``fraction`` of every frame's rows wrong in
    one piece: they show what the first frame showed there, ``farther`` times farther away, as a sky or a
    backdrop stuck to the screen would. The region agrees with another camera (the first one), which makes
    it harder to set aside than scattered outliers, and the first frame is right."""
    out = np.array(scene.pointmaps if points is None else points, dtype=np.float32, copy=True)
    rows = int(round(fraction * out.shape[1]))
    first_centre = scene.o[0].astype(np.float32)
    out[1:, :rows] = first_centre + np.float32(farther) * (out[:1, :rows] - first_centre)
    return out
