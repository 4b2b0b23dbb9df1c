"""Pinhole camera conventions (DESIGN section 3).

OpenCV pinhole, x right, y down, z forward; pixel (u, v) = (column, row) with pixel centres at integer
coordinates. Extrinsics are the world-to-camera rotation ``R`` and the camera centre ``o`` in world
coordinates: a pixel with depth ``D`` (camera z) maps to ``X = R^T (D K^-1 [u, v, 1]) + o``, and
camera-to-world is ``[R^T | o]``.
"""

from __future__ import annotations

import numpy as np

from .errors import GeometryError

__all__ = [
    "c2w_to_extrinsics",
    "camera_to_world",
    "default_principal_point",
    "extrinsics_to_c2w",
    "intrinsics_matrix",
    "invert_pose",
    "pixel_grid",
    "project",
    "unproject_depth",
    "world_to_camera",
]


def _as_array(name: str, value: np.ndarray, tail: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim < len(tail) or array.shape[array.ndim - len(tail) :] != tail:
        raise GeometryError(f"{name} must have shape (..., {', '.join(map(str, tail))}), got {array.shape}")
    return array


def default_principal_point(height: int, width: int) -> tuple[float, float]:
    """Image centre ((W - 1) / 2, (H - 1) / 2) for integer pixel centres."""
    if height < 1 or width < 1:
        raise GeometryError(f"image size must be positive, got height={height}, width={width}")
    return (width - 1) / 2.0, (height - 1) / 2.0


def intrinsics_matrix(fx: float, fy: float | None = None, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    """3x3 pinhole intrinsics; ``fy`` defaults to ``fx``."""
    fy = fx if fy is None else fy
    if not (np.isfinite(fx) and np.isfinite(fy) and fx > 0 and fy > 0):
        raise GeometryError(f"focal lengths must be finite and positive, got fx={fx}, fy={fy}")
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) arrays of pixel columns u and rows v (float64, integer pixel centres)."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float64)
    return u, v


def unproject_depth(
    depth: np.ndarray, K: np.ndarray, R: np.ndarray | None = None, o: np.ndarray | None = None
) -> np.ndarray:
    """Depth maps (..., H, W) -> pointmaps (..., H, W, 3).

    With ``R`` (..., 3, 3) world-to-camera and ``o`` (..., 3) camera centre the points are in world
    coordinates, otherwise in camera coordinates. ``K`` is (..., 3, 3). Invalid depth (NaN) stays NaN.
    """
    depth = np.asarray(depth)
    if depth.ndim < 2:
        raise GeometryError(f"depth must have shape (..., H, W), got {depth.shape}")
    K = _as_array("K", K, (3, 3)).astype(np.float64)
    u, v = pixel_grid(*depth.shape[-2:])
    K_ = K[..., None, None, :, :]
    x = (u - K_[..., 0, 2]) / K_[..., 0, 0]
    y = (v - K_[..., 1, 2]) / K_[..., 1, 1]
    points = np.stack(np.broadcast_arrays(x * depth, y * depth, depth * np.ones_like(x)), axis=-1)
    if R is None and o is None:
        return points.astype(np.result_type(depth.dtype, np.float32))
    if R is None or o is None:
        raise GeometryError("R and o must be given together (or neither, for camera-frame points)")
    world = camera_to_world(points, R[..., None, :, :], np.asarray(o)[..., None, :])
    return world.astype(np.result_type(depth.dtype, np.float32))


def world_to_camera(points: np.ndarray, R: np.ndarray, o: np.ndarray) -> np.ndarray:
    """World points (..., P, 3) -> camera coordinates R (X - o); R (..., 3, 3), o (..., 3) broadcast."""
    points = _as_array("points", points, (3,))
    R = _as_array("R", R, (3, 3))
    o = _as_array("o", o, (3,))
    return np.einsum("...ij,...pj->...pi", R, points - o[..., None, :])


def camera_to_world(points: np.ndarray, R: np.ndarray, o: np.ndarray) -> np.ndarray:
    """Camera points (..., P, 3) -> world coordinates R^T p + o."""
    points = _as_array("points", points, (3,))
    R = _as_array("R", R, (3, 3))
    o = _as_array("o", o, (3,))
    return np.einsum("...ji,...pj->...pi", R, points) + o[..., None, :]


def project(
    points: np.ndarray, K: np.ndarray, R: np.ndarray | None = None, o: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Project points (..., P, 3) to pixels; returns (uv (..., P, 2), depth (..., P)).

    Points are world coordinates when ``R`` and ``o`` are given, else camera coordinates. Points with
    depth <= 0 get NaN pixel coordinates.
    """
    points = _as_array("points", points, (3,)).astype(np.float64)
    K = _as_array("K", K, (3, 3)).astype(np.float64)
    if R is not None or o is not None:
        if R is None or o is None:
            raise GeometryError("R and o must be given together (or neither, for camera-frame points)")
        points = world_to_camera(points, R, o)
    z = points[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        z_safe = np.where(z > 0, z, np.nan)
        u = K[..., None, 0, 0] * points[..., 0] / z_safe + K[..., None, 0, 2]
        v = K[..., None, 1, 1] * points[..., 1] / z_safe + K[..., None, 1, 2]
    return np.stack([u, v], axis=-1), z


def extrinsics_to_c2w(R: np.ndarray, o: np.ndarray) -> np.ndarray:
    """World-to-camera rotation R (..., 3, 3) and centre o (..., 3) -> camera-to-world (..., 4, 4)."""
    R = _as_array("R", R, (3, 3))
    o = _as_array("o", o, (3,))
    shape = np.broadcast_shapes(R.shape[:-2], o.shape[:-1])
    c2w = np.zeros(shape + (4, 4))
    c2w[..., :3, :3] = np.swapaxes(R, -1, -2)
    c2w[..., :3, 3] = o
    c2w[..., 3, 3] = 1.0
    return c2w


def c2w_to_extrinsics(c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-to-world (..., 4, 4) or (..., 3, 4) -> (R world-to-camera (..., 3, 3), o (..., 3))."""
    c2w = np.asarray(c2w, dtype=np.float64)
    if c2w.ndim < 2 or c2w.shape[-1] != 4 or c2w.shape[-2] not in (3, 4):
        raise GeometryError(f"c2w must have shape (..., 4, 4) or (..., 3, 4), got {c2w.shape}")
    return np.swapaxes(c2w[..., :3, :3], -1, -2).copy(), c2w[..., :3, 3].copy()


def invert_pose(pose: np.ndarray) -> np.ndarray:
    """Inverse of rigid transforms (..., 4, 4): c2w <-> w2c."""
    pose = np.asarray(pose, dtype=np.float64)
    if pose.ndim < 2 or pose.shape[-2:] != (4, 4):
        raise GeometryError(f"pose must have shape (..., 4, 4), got {pose.shape}")
    rot_t = np.swapaxes(pose[..., :3, :3], -1, -2)
    inverse = np.zeros_like(pose)
    inverse[..., :3, :3] = rot_t
    inverse[..., :3, 3] = -np.einsum("...ij,...j->...i", rot_t, pose[..., :3, 3])
    inverse[..., 3, 3] = 1.0
    return inverse
