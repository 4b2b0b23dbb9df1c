"""one4d_geometry: cameras, trajectories and the One4D post-optimization (numpy + scipy only)."""

from .threads import apply_thread_policy

apply_thread_policy()  # before anything loads torch (see threads.py)

from .align import Similarity, ate_rmse, robust_umeyama, umeyama
from .cameras import (
    c2w_to_extrinsics,
    camera_to_world,
    default_principal_point,
    extrinsics_to_c2w,
    intrinsics_matrix,
    invert_pose,
    pixel_grid,
    project,
    unproject_depth,
    world_to_camera,
)
from .errors import GeometryError, One4DError, RecoveryError
from .focal import estimate_focal
from .quality import RecoveryQuality
from .recovery import CameraRecovery, recover_cameras
from .rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    orthonormalize,
    quaternion_to_matrix,
    rotation_angle_deg,
)
from .tum import associate_timestamps, read_tum, write_tum

__version__ = "0.1.0"

__all__ = [
    "CameraRecovery",
    "GeometryError",
    "One4DError",
    "RecoveryError",
    "RecoveryQuality",
    "Similarity",
    "associate_timestamps",
    "ate_rmse",
    "axis_angle_to_matrix",
    "robust_umeyama",
    "c2w_to_extrinsics",
    "camera_to_world",
    "default_principal_point",
    "estimate_focal",
    "extrinsics_to_c2w",
    "intrinsics_matrix",
    "invert_pose",
    "matrix_to_axis_angle",
    "matrix_to_quaternion",
    "orthonormalize",
    "pixel_grid",
    "project",
    "quaternion_to_matrix",
    "read_tum",
    "recover_cameras",
    "rotation_angle_deg",
    "umeyama",
    "unproject_depth",
    "world_to_camera",
    "write_tum",
]
