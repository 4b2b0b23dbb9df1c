"""TUM trajectory files (``timestamp tx ty tz qx qy qz qw``, camera-to-world, ``#`` comments)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import GeometryError
from .files import atomic_write_text
from .rotations import matrix_to_quaternion, quaternion_to_matrix

__all__ = ["associate_timestamps", "read_tum", "write_tum"]


def read_tum(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a TUM trajectory; returns (timestamps (N,), camera-to-world poses (N, 4, 4))."""
    path = Path(path)
    rows = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.replace(",", " ").split()
        if len(fields) != 8:
            raise GeometryError(
                f"{path}:{line_number}: expected 8 fields 'timestamp tx ty tz qx qy qz qw', got {len(fields)}"
            )
        try:
            rows.append([float(field) for field in fields])
        except ValueError as error:
            raise GeometryError(f"{path}:{line_number}: non-numeric field ({error})") from None
    if not rows:
        raise GeometryError(f"{path}: no poses found")
    data = np.array(rows)
    if not np.all(np.isfinite(data)):
        raise GeometryError(f"{path}: non-finite values")
    poses = np.tile(np.eye(4), (len(data), 1, 1))
    poses[:, :3, :3] = quaternion_to_matrix(data[:, 4:8])
    poses[:, :3, 3] = data[:, 1:4]
    return data[:, 0], poses


def write_tum(path: str | Path, timestamps: np.ndarray, c2w: np.ndarray, header: str | None = None) -> None:
    """Write camera-to-world poses (N, 4, 4) with timestamps (N,) as a TUM trajectory."""
    timestamps = np.asarray(timestamps, dtype=np.float64)
    c2w = np.asarray(c2w, dtype=np.float64)
    if c2w.ndim != 3 or c2w.shape[1:] not in ((4, 4), (3, 4)):
        raise GeometryError(f"c2w must have shape (N, 4, 4) or (N, 3, 4), got {c2w.shape}")
    if timestamps.shape != (len(c2w),):
        raise GeometryError(f"timestamps must have shape ({len(c2w)},), got {timestamps.shape}")
    quats = matrix_to_quaternion(c2w[:, :3, :3])
    lines = [f"# {line}" for line in (header or "").splitlines()]
    lines.append("# timestamp tx ty tz qx qy qz qw")
    for stamp, t, q in zip(timestamps, c2w[:, :3, 3], quats, strict=True):
        lines.append(" ".join([f"{stamp:.6f}"] + [f"{value:.9g}" for value in (*t, *q)]))
    atomic_write_text(path, "\n".join(lines) + "\n")


def associate_timestamps(
    stamps_a: np.ndarray, stamps_b: np.ndarray, max_difference: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """Match each stamp of ``a`` to the nearest stamp of ``b`` within ``max_difference`` seconds.

    Returns index arrays (idx_a, idx_b) of the matched pairs, in the order of ``a`` (as evo does).
    """
    a = np.asarray(stamps_a, dtype=np.float64).ravel()
    b = np.asarray(stamps_b, dtype=np.float64).ravel()
    if len(b) == 0 or len(a) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if max_difference < 0:
        raise GeometryError(f"max_difference must be >= 0, got {max_difference}")
    order = np.argsort(b, kind="stable")
    sorted_b = b[order]
    right = np.clip(np.searchsorted(sorted_b, a), 0, len(b) - 1)
    left = np.clip(right - 1, 0, len(b) - 1)
    take_left = np.abs(a - sorted_b[left]) <= np.abs(sorted_b[right] - a)
    nearest = np.where(take_left, left, right)
    keep = np.abs(sorted_b[nearest] - a) <= max_difference
    return np.flatnonzero(keep), order[nearest[keep]]
