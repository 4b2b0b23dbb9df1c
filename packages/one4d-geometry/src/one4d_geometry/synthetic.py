"""Synthetic pointmaps with known cameras, for tests, benchmarks and sanity checks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cameras import default_principal_point, pixel_grid, unproject_depth
from .rotations import axis_angle_to_matrix

__all__ = ["SyntheticScene", "add_noise", "synthetic_scene"]


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
    scene: SyntheticScene, depth_noise: float = 0.01, outlier_fraction: float = 0.05, seed: int = 0
) -> np.ndarray:
    """Pointmaps with multiplicative depth noise and gross outliers (points moved by 10-100 % of depth)."""
    rng = np.random.default_rng(seed)
    noisy_depth = scene.depth * (1.0 + depth_noise * rng.standard_normal(scene.depth.shape))
    points = unproject_depth(noisy_depth, scene.K, scene.R, scene.o).astype(np.float64)
    outliers = rng.random(scene.depth.shape) < outlier_fraction
    direction = rng.standard_normal(points.shape)
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    magnitude = rng.uniform(0.1, 1.0, scene.depth.shape) * scene.depth
    points[outliers] += (direction * magnitude[..., None])[outliers]
    return points.astype(np.float32)
