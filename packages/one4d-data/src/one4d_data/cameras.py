"""Small camera helpers used by the readers (DESIGN section 3 conventions).

Pinhole OpenCV cameras; ``c2w`` is camera-to-world ``[R^T | o]``; depth is camera z.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from one4d_geometry.cameras import invert_pose

from .errors import DataError


def pixel_rays(K: np.ndarray, height: int, width: int, dtype=np.float32) -> np.ndarray:
    """Rays ``K^-1 [u, v, 1]`` (H, W, 3) for integer pixel centres; their z component is 1."""
    K = np.asarray(K, dtype=np.float64)
    Kinv = np.linalg.inv(K)
    u = np.arange(width, dtype=np.float64)
    v = np.arange(height, dtype=np.float64)
    rays = (
        Kinv[:, 0][None, None, :] * u[None, :, None]
        + Kinv[:, 1][None, None, :] * v[:, None, None]
        + Kinv[:, 2][None, None, :]
    )
    return rays.astype(dtype)


def unproject_to_world(depth: np.ndarray, K: np.ndarray, c2w: np.ndarray) -> np.ndarray:
    """Depth (F, H, W) + K (F, 3, 3) + c2w (F, 4, 4) -> world points (F, H, W, 3) float32.

    NaN depth gives NaN points.
    """
    depth = np.asarray(depth, dtype=np.float32)
    frames, height, width = depth.shape
    out = np.empty((frames, height, width, 3), dtype=np.float32)
    for i in range(frames):
        rays = pixel_rays(K[i], height, width)
        cam = rays * depth[i][..., None]
        rot = np.asarray(c2w[i][:3, :3], dtype=np.float32)
        trans = np.asarray(c2w[i][:3, 3], dtype=np.float32)
        np.matmul(cam, rot.T, out=out[i])
        out[i] += trans
    return out


def relative_to_first(c2w: np.ndarray) -> np.ndarray:
    """Re-express camera-to-world poses so that the first camera is the world frame (identity)."""
    c2w = np.asarray(c2w, dtype=np.float64)
    first_inv = invert_pose(c2w[0])
    rel = first_inv[None] @ c2w
    rel[0] = np.eye(4)
    return rel


def pose_matrix(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation and (..., 3) translation -> (..., 4, 4) homogeneous transform."""
    rotation = np.asarray(rotation, dtype=np.float64)
    out = np.zeros(rotation.shape[:-2] + (4, 4))
    out[..., :3, :3] = rotation
    out[..., :3, 3] = translation
    out[..., 3, 3] = 1.0
    return out


def check_rotations(rotations: np.ndarray, where: str | Path, atol: float = 1e-3) -> None:
    """Raise :class:`DataError` unless every (..., 3, 3) matrix is a proper rotation."""
    rot = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
    if not np.all(np.isfinite(rot)):
        raise DataError(where, "camera pose contains non-finite values")
    err = np.abs(rot @ np.swapaxes(rot, -1, -2) - np.eye(3)).max(axis=(-1, -2))
    det = np.linalg.det(rot)
    bad = np.flatnonzero((err > atol) | (np.abs(det - 1.0) > atol))
    if bad.size:
        raise DataError(
            where,
            f"camera pose {bad[0]} is not a rotation "
            f"(|R R^T - I| = {err[bad[0]]:.3g}, det = {det[bad[0]]:.3g})",
        )


def check_poses(c2w: np.ndarray, where: str | Path) -> None:
    """Validate (F, 4, 4) rigid poses: finite, rotation block orthonormal, last row [0, 0, 0, 1]."""
    c2w = np.asarray(c2w, dtype=np.float64)
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
        raise DataError(where, f"poses must have shape (F, 4, 4), got {c2w.shape}")
    check_rotations(c2w[:, :3, :3], where)
    if not np.all(np.isfinite(c2w[:, :3, 3])):
        raise DataError(where, "camera translation contains non-finite values")
    if not np.allclose(c2w[:, 3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise DataError(where, "pose matrices must end with the row [0, 0, 0, 1]")
