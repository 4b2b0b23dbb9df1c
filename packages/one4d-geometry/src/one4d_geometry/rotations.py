"""Rotation conversions: matrices, quaternions (x, y, z, w order as in TUM files) and axis-angle vectors."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from .errors import GeometryError

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "orthonormalize",
    "quaternion_to_matrix",
    "rotation_angle_deg",
]


def _check_last_dims(name: str, array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.shape[array.ndim - len(shape) :] != shape or array.ndim < len(shape):
        raise GeometryError(f"{name} must have shape (..., {', '.join(map(str, shape))}), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise GeometryError(f"{name} contains non-finite values")
    return array


def quaternion_to_matrix(quaternion: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions in x, y, z, w order (normalised here) -> (..., 3, 3) rotation matrices."""
    q = _check_last_dims("quaternion", quaternion, (4,))
    if np.any(np.linalg.norm(q, axis=-1) < 1e-12):
        raise GeometryError("quaternion has zero norm")
    flat = Rotation.from_quat(q.reshape(-1, 4)).as_matrix()
    return flat.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions in x, y, z, w order with w >= 0."""
    m = _check_last_dims("matrix", matrix, (3, 3))
    q = Rotation.from_matrix(m.reshape(-1, 3, 3)).as_quat()
    q *= np.where(q[:, 3:] < 0, -1.0, 1.0)
    return q.reshape(m.shape[:-2] + (4,))


def axis_angle_to_matrix(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors (axis times angle in radians) -> (..., 3, 3) rotation matrices."""
    v = _check_last_dims("axis_angle", axis_angle, (3,))
    return Rotation.from_rotvec(v.reshape(-1, 3)).as_matrix().reshape(v.shape[:-1] + (3, 3))


def matrix_to_axis_angle(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) rotation vectors (angle in radians, at most pi)."""
    m = _check_last_dims("matrix", matrix, (3, 3))
    return Rotation.from_matrix(m.reshape(-1, 3, 3)).as_rotvec().reshape(m.shape[:-2] + (3,))


def orthonormalize(matrix: np.ndarray) -> np.ndarray:
    """Nearest rotation matrix (Frobenius norm) to each (..., 3, 3) matrix, via SVD."""
    m = _check_last_dims("matrix", matrix, (3, 3))
    u, _, vt = np.linalg.svd(m)
    sign = np.sign(np.linalg.det(u @ vt))
    u[..., :, 2] *= sign[..., None]
    return u @ vt


def rotation_angle_deg(r_a: np.ndarray, r_b: np.ndarray) -> np.ndarray:
    """Angle in degrees of the relative rotation r_a^T r_b, for (..., 3, 3) inputs (numerically stable)."""
    rel = np.swapaxes(_check_last_dims("r_a", r_a, (3, 3)), -1, -2) @ _check_last_dims("r_b", r_b, (3, 3))
    return np.degrees(np.linalg.norm(matrix_to_axis_angle(rel), axis=-1))
