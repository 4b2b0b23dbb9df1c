"""Coloured point clouds as binary little-endian PLY, the format point-cloud viewers (MeshLab, CloudCompare,
Open3D, Blender) open."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import GeometryError
from .files import atomic_write_bytes

_VERTEX = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")])


def write_ply(path: str | Path, points: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Write (N, 3) points with optional (N, 3) uint8 colours (grey when absent); non-finite points are
    dropped."""
    points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    if colors is None:
        colors = np.full(points.shape, 200, dtype=np.uint8)
    colors = np.asarray(colors).reshape(-1, 3)
    if colors.shape != points.shape or colors.dtype != np.uint8:
        raise GeometryError(
            f"colors must be uint8 (N, 3) like the points {points.shape}, got {colors.dtype} {colors.shape}"
        )
    keep = np.isfinite(points).all(axis=1)
    vertices = np.empty(int(keep.sum()), dtype=_VERTEX)
    vertices["x"], vertices["y"], vertices["z"] = points[keep].T
    vertices["red"], vertices["green"], vertices["blue"] = colors[keep].T
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"element vertex {len(vertices)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    atomic_write_bytes(path, header.encode("ascii") + vertices.tobytes())


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(points (N, 3) float32, colors (N, 3) uint8) of a file written by :func:`write_ply`."""
    data = Path(path).read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise GeometryError(f"{path}: not a PLY file")
    header = data[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in header:
        raise GeometryError(f"{path}: only binary little-endian PLY is read")
    count = next(int(line.split()[2]) for line in header if line.startswith("element vertex"))
    vertices = np.frombuffer(data, dtype=_VERTEX, count=count, offset=end + len(b"end_header\n"))
    points = np.stack([vertices["x"], vertices["y"], vertices["z"]], axis=1)
    colors = np.stack([vertices["red"], vertices["green"], vertices["blue"]], axis=1)
    return points, colors
