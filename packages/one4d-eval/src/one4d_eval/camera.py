"""Camera-pose metrics of the MonST3R / Geo4D protocol, defined to agree with the `evo` package.

ATE is the RMSE of the position error after a Sim(3) Umeyama alignment of the estimated camera centres to
the reference (evo APE, translation part, ``align=True, correct_scale=True``). RPE-trans and RPE-rot are
the RMSEs over consecutive frame pairs (evo RPE, ``delta=1`` frame, consecutive pairs) of the translation
norm and rotation angle (degrees) of the relative error pose ``inv(Q_i^-1 Q_j) (P_i^-1 P_j)``, computed
on the same aligned estimate. Poses are camera-to-world 4x4 matrices.

A Sim(3) alignment needs an estimate whose camera centres move: if they all coincide (a model that returned
identical poses), the scale is undefined. evo refuses it ("degenerate covariance rank"); the Umeyama fit
here would fall back to scale 1 and score the reference's own spread as if it were an error, so
`align_trajectory` refuses it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from one4d_geometry.align import Similarity, umeyama
from one4d_geometry.cameras import invert_pose
from one4d_geometry.rotations import rotation_angle_deg
from one4d_geometry.tum import associate_timestamps, read_tum

__all__ = [
    "DEGENERATE_SPREAD",
    "MIN_POSES",
    "CameraScores",
    "align_trajectory",
    "camera_scores",
    "centre_spread",
    "evaluate_tum_files",
    "mean_camera_scores",
]

# A Sim(3) fit of camera centres needs three points (two leave the roll about their line free).
MIN_POSES = 3
# An estimate whose camera centres spread less than this fraction of the reference's is degenerate. Far
# below any real prediction's scale (an estimate's scale is arbitrary, but not a millionth of the truth),
# far above float rounding of coincident centres.
DEGENERATE_SPREAD = 1e-6
# Same tolerance evo uses to accept a rotation matrix (evo.core.lie_algebra.is_so3).
_ROTATION_ATOL = 1e-6


@dataclass(frozen=True)
class CameraScores:
    """Per-sequence (or dataset-mean) camera errors: ATE, RPE-trans in reference units; RPE-rot in degrees."""

    ate: float
    rpe_trans: float
    rpe_rot: float
    num_poses: int


def _check_poses(name: str, poses: np.ndarray) -> np.ndarray:
    """Rigid camera-to-world stacks only: a scaled or sheared rotation would silently corrupt the RPE."""
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise ValueError(f"{name} must have shape (N, 4, 4), got {poses.shape}")
    if not np.all(np.isfinite(poses)):
        raise ValueError(f"{name} contains non-finite values")
    if not np.allclose(poses[:, 3], [0.0, 0.0, 0.0, 1.0]):
        raise ValueError(f"{name}: the last row of every pose must be [0, 0, 0, 1]")
    rot = poses[:, :3, :3]
    orthonormal = np.allclose(np.swapaxes(rot, 1, 2) @ rot, np.eye(3), atol=_ROTATION_ATOL)
    if not orthonormal or np.any(np.linalg.det(rot) <= 0):
        raise ValueError(
            f"{name}: rotation parts must be proper rotations (orthonormal to {_ROTATION_ATOL}, det +1); "
            "use one4d_geometry.rotations.orthonormalize on approximate rotations"
        )
    return poses


def _check_pair(estimate_c2w: np.ndarray, reference_c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both trajectories are rigid pose stacks of the same length, long enough for a Sim(3) fit."""
    estimate = _check_poses("estimate_c2w", estimate_c2w)
    reference = _check_poses("reference_c2w", reference_c2w)
    if len(estimate) != len(reference) or len(estimate) < MIN_POSES:
        raise ValueError(
            f"estimate and reference need the same number N >= {MIN_POSES} of poses, "
            f"got estimate {estimate.shape} and reference {reference.shape}"
        )
    return estimate, reference


def centre_spread(c2w: np.ndarray) -> float:
    """RMS distance of the camera centres (N, 4, 4 camera-to-world) from their mean."""
    centres = np.asarray(c2w, dtype=np.float64)[:, :3, 3]
    return float(np.sqrt(np.mean(np.sum(np.square(centres - centres.mean(axis=0)), axis=-1))))


def _check_not_degenerate(estimate: np.ndarray, reference: np.ndarray) -> None:
    estimate_spread, reference_spread = centre_spread(estimate), centre_spread(reference)
    if estimate_spread <= DEGENERATE_SPREAD * reference_spread:
        raise ValueError(
            f"the estimated camera centres do not move (RMS spread {estimate_spread:.3g} against the "
            f"reference's {reference_spread:.3g}, below {DEGENERATE_SPREAD:g} of it): a Sim(3) alignment "
            "of them is undefined, so ATE and RPE would not mean anything"
        )


def _apply_similarity(poses: np.ndarray, sim: Similarity) -> np.ndarray:
    """Apply the alignment as evo does: scale the positions, then left-multiply by the rigid [R | t].

    The rotation part stays a pure rotation, so aligned poses remain rigid camera-to-world matrices.
    """
    aligned = poses.copy()
    aligned[:, :3, :3] = sim.R @ poses[:, :3, :3]
    aligned[:, :3, 3] = (sim.scale * poses[:, :3, 3]) @ sim.R.T + sim.t
    return aligned


def align_trajectory(
    estimate_c2w: np.ndarray, reference_c2w: np.ndarray, correct_scale: bool = True
) -> tuple[np.ndarray, Similarity]:
    """Umeyama-align the estimated camera centres to the reference (Sim(3), or SE(3) without scale).

    Returns the aligned estimate (N, 4, 4) and the Similarity mapping estimate positions onto reference.
    With `correct_scale`, an estimate whose camera centres do not move (`DEGENERATE_SPREAD`) is refused.
    """
    estimate, reference = _check_pair(estimate_c2w, reference_c2w)
    if correct_scale:
        _check_not_degenerate(estimate, reference)
    sim = umeyama(estimate[:, :3, 3], reference[:, :3, 3], with_scale=correct_scale)
    return _apply_similarity(estimate, sim), sim


def _rmse(errors: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(errors))))


def _relative_pose_errors(estimate: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per consecutive pair: translation norm and angle (degrees) of inv(Q_rel) @ P_rel (TUM RPE)."""
    ref_rel = invert_pose(reference[:-1]) @ reference[1:]
    est_rel = invert_pose(estimate[:-1]) @ estimate[1:]
    error = invert_pose(ref_rel) @ est_rel
    translation = np.linalg.norm(error[:, :3, 3], axis=-1)
    rotation = rotation_angle_deg(ref_rel[:, :3, :3], est_rel[:, :3, :3])
    return translation, rotation


def camera_scores(
    estimate_c2w: np.ndarray, reference_c2w: np.ndarray, *, correct_scale: bool = True
) -> CameraScores:
    """ATE, RPE-trans and RPE-rot of an estimated trajectory against its reference, after one alignment.

    Inputs are time-associated camera-to-world stacks (N, 4, 4), N >= 3. RPE uses consecutive pairs.
    """
    aligned, _ = align_trajectory(estimate_c2w, reference_c2w, correct_scale=correct_scale)
    reference = np.asarray(reference_c2w, dtype=np.float64)
    translation, rotation = _relative_pose_errors(aligned, reference)
    return CameraScores(
        ate=_rmse(np.linalg.norm(aligned[:, :3, 3] - reference[:, :3, 3], axis=-1)),
        rpe_trans=_rmse(translation),
        rpe_rot=_rmse(rotation),
        num_poses=len(aligned),
    )


def _associate_like_evo(
    estimate_stamps: np.ndarray, reference_stamps: np.ndarray, max_difference: float
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-timestamp pairs, starting from the shorter trajectory (the estimate on ties) as evo does.

    The pairs follow the shorter trajectory's order, which fixes what "consecutive" means for the RPE.
    """
    if len(reference_stamps) < len(estimate_stamps):
        idx_ref, idx_est = associate_timestamps(reference_stamps, estimate_stamps, max_difference)
    else:
        idx_est, idx_ref = associate_timestamps(estimate_stamps, reference_stamps, max_difference)
    return idx_est, idx_ref


def evaluate_tum_files(
    estimate_path: str | Path,
    reference_path: str | Path,
    *,
    max_difference: float = 0.02,
    correct_scale: bool = True,
) -> CameraScores:
    """Camera scores of two TUM trajectory files, associated by nearest timestamp within max_difference s."""
    estimate_stamps, estimate = read_tum(estimate_path)
    reference_stamps, reference = read_tum(reference_path)
    idx_est, idx_ref = _associate_like_evo(estimate_stamps, reference_stamps, max_difference)
    if len(idx_est) < MIN_POSES:
        raise ValueError(
            f"only {len(idx_est)} poses of {estimate_path} ({len(estimate)} poses, "
            f"t={estimate_stamps.min():.3f}..{estimate_stamps.max():.3f}) associate with {reference_path} "
            f"({len(reference)} poses, t={reference_stamps.min():.3f}..{reference_stamps.max():.3f}) "
            f"within {max_difference} s; need at least {MIN_POSES}"
        )
    return camera_scores(estimate[idx_est], reference[idx_ref], correct_scale=correct_scale)


def mean_camera_scores(scores: Sequence[CameraScores]) -> CameraScores:
    """Dataset score: unweighted mean over sequences (each sequence counts once); num_poses is the total."""
    if len(scores) == 0:
        raise ValueError("mean_camera_scores needs at least one sequence")
    return CameraScores(
        ate=float(np.mean([s.ate for s in scores])),
        rpe_trans=float(np.mean([s.rpe_trans for s in scores])),
        rpe_rot=float(np.mean([s.rpe_rot for s in scores])),
        num_poses=int(sum(s.num_poses for s in scores)),
    )
