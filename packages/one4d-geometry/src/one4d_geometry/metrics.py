"""Scores of recovered geometry against ground truth, for held-out evaluation of generated pointmaps.

Generated pointmaps are defined up to scale, so depth is compared after one median scale per clip; rotations
are compared relative to the first frame (the clip's world), which is where both trajectories agree.
"""

from __future__ import annotations

import numpy as np

from .errors import GeometryError
from .rotations import rotation_angle_deg

DELTA_THRESHOLD = 1.25


def median_scaled_depth_errors(pred: np.ndarray, gt: np.ndarray) -> tuple[float, float, int]:
    """(AbsRel, delta < 1.25, pixels) of `pred` against `gt` (same shape) over the pixels where `gt` is
    finite and positive, after scaling `pred` by median(gt) / median(pred) over them.

    Pixels where `pred` is missing (NaN, or not positive) are scored too, with the median predicted depth, so
    declaring a pixel invalid is never cheaper than predicting it.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape:
        raise GeometryError(f"predicted depth {pred.shape} and ground truth {gt.shape} differ in shape")
    scored = np.isfinite(gt) & (gt > 0)
    if not scored.any():
        raise GeometryError("ground-truth depth has no valid pixel to score")
    predicted = scored & np.isfinite(pred) & (pred > 0)
    if not predicted.any():
        return float("nan"), float("nan"), int(scored.sum())
    fill = np.median(pred[predicted])
    d_hat = np.where(predicted, pred, fill)[scored]
    d = gt[scored]
    d_hat = d_hat * (np.median(d) / np.median(d_hat))
    abs_rel = float(np.mean(np.abs(d_hat - d) / d))
    delta = float(np.mean(np.maximum(d_hat / d, d / d_hat) < DELTA_THRESHOLD))
    return abs_rel, delta, int(scored.sum())


def relative_rotation_errors_deg(c2w_pred: np.ndarray, c2w_gt: np.ndarray) -> np.ndarray:
    """(N - 1,) angles in degrees between the predicted and true rotations of frames 1..N-1 relative to
    frame 0 (camera-to-world (N, 4, 4) or (N, 3, 3) rotations)."""
    pred = np.asarray(c2w_pred)[:, :3, :3]
    gt = np.asarray(c2w_gt)[:, :3, :3]
    if pred.shape != gt.shape:
        raise GeometryError(f"trajectories of {len(pred)} and {len(gt)} frames cannot be compared")
    rel_pred = np.swapaxes(pred[:1], 1, 2) @ pred[1:]
    rel_gt = np.swapaxes(gt[:1], 1, 2) @ gt[1:]
    return rotation_angle_deg(rel_pred, rel_gt)


def focal_relative_error(focal_pred: np.ndarray, focal_gt: np.ndarray) -> float:
    """Mean over frames of |f_pred - f_gt| / f_gt (focal lengths in pixels, (N,) each or scalars)."""
    pred, gt = np.broadcast_arrays(np.asarray(focal_pred, float), np.asarray(focal_gt, float))
    return float(np.mean(np.abs(pred - gt) / gt))
