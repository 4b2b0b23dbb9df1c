"""Reading images, 16-bit PNGs and arrays with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError


def require_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    return path


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as (H, W, 3) uint8."""
    path = require_file(path)
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise DataError(path, f"unreadable image ({error})") from error


def read_png16(path: str | Path) -> np.ndarray:
    """A single-channel 16-bit PNG as (H, W) uint16."""
    path = require_file(path)
    try:
        with Image.open(path) as image:
            if image.mode not in ("I;16", "I;16B", "I", "I;16L"):
                raise DataError(path, f"expected a 16-bit single-channel PNG, got mode {image.mode}")
            array = np.asarray(image)
    except OSError as error:
        raise DataError(path, f"unreadable PNG ({error})") from error
    if array.dtype != np.uint16:
        if array.min() < 0 or array.max() > 65535:
            raise DataError(path, "16-bit PNG values out of range")
        array = array.astype(np.uint16)
    return array


def write_png16(path: str | Path, array: np.ndarray) -> None:
    array = np.asarray(array)
    if array.dtype != np.uint16 or array.ndim != 2:
        raise ValueError(f"expected (H, W) uint16, got {array.shape} {array.dtype}")
    Image.fromarray(array).save(path)


def read_npy(path: str | Path) -> np.ndarray:
    """A .npy array (never unpickled)."""
    path = require_file(path)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(path, f"unreadable .npy ({error})") from error


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    path = require_file(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise DataError(path, f"unreadable .npz ({error})") from error


def check_shape(array: np.ndarray, shape: tuple[int, ...], path: str | Path, what: str) -> np.ndarray:
    if array.shape != shape:
        raise DataError(path, f"{what} has shape {array.shape}, expected {shape}")
    return array


def depth_from_metres(depth: np.ndarray, invalid: np.ndarray | None = None) -> np.ndarray:
    """float32 depth with NaN where ``invalid``, non-finite or non-positive."""
    depth = np.asarray(depth, dtype=np.float32)
    bad = ~np.isfinite(depth) | (depth <= 0)
    if invalid is not None:
        bad |= invalid
    return np.where(bad, np.float32(np.nan), depth)
