"""The files a camera recovery is saved as, one writer for `one4d-recover` and `one4d-generate`:
`trajectory.txt` (TUM, camera-to-world), `intrinsics.json` and `depth.npz`: the layout `one4d-eval` scores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .files import atomic_savez, atomic_write_text
from .recovery import CameraRecovery
from .tum import write_tum

TRAJECTORY_FILE = "trajectory.txt"
INTRINSICS_FILE = "intrinsics.json"
DEPTH_FILE = "depth.npz"

__all__ = ["DEPTH_FILE", "INTRINSICS_FILE", "TRAJECTORY_FILE", "write_recovery"]


def write_recovery(
    folder: str | Path,
    recovery: CameraRecovery,
    timestamps: np.ndarray | None = None,
    *,
    shared_focal: bool = True,
    header: str = "",
) -> list[Path]:
    """Write `recovery` into `folder` (created if missing), each file atomically; timestamps default to the
    frame indices. Returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    count = len(recovery.K)
    stamps = np.arange(count, dtype=np.float64) if timestamps is None else np.asarray(timestamps)
    write_tum(folder / TRAJECTORY_FILE, stamps, recovery.c2w, header=header or None)
    height, width = recovery.depth.shape[1:]
    intrinsics = {
        "width": width,
        "height": height,
        "shared_focal": shared_focal,
        "fx": recovery.K[:, 0, 0].tolist(),
        "fy": recovery.K[:, 1, 1].tolist(),
        "cx": recovery.K[:, 0, 2].tolist(),
        "cy": recovery.K[:, 1, 2].tolist(),
        "K": recovery.K.tolist(),
        "residuals": recovery.residuals.tolist(),
    }
    if recovery.quality is not None:
        intrinsics["quality"] = recovery.quality.as_dict()
    atomic_write_text(folder / INTRINSICS_FILE, json.dumps(intrinsics, indent=2))
    atomic_savez(folder / DEPTH_FILE, depth=recovery.depth)
    return [folder / TRAJECTORY_FILE, folder / INTRINSICS_FILE, folder / DEPTH_FILE]
