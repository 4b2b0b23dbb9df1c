"""one4d_eval: the depth and camera benchmarks of the protocol One4D is evaluated with (MonST3R / Geo4D)."""

from one4d_geometry.threads import apply_thread_policy

apply_thread_policy()  # before anything loads torch (see one4d_geometry.threads)

from .camera import CameraScores, align_trajectory, camera_scores, evaluate_tum_files, mean_camera_scores
from .depth import (
    DepthScores,
    SequenceDepth,
    aggregate_depth,
    align_median_scale,
    align_scale_shift_l1,
    depth_scores,
    evaluate_depth_sequence,
    resize_depth,
    valid_depth_mask,
)
from .protocols import BENCHMARKS, Benchmark, get_benchmark, ground_truth_depth, ground_truth_trajectory
from .runner import BenchmarkResult, PredictionError, SequenceResult, evaluate_benchmark, format_table

__version__ = "0.1.0"

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "BenchmarkResult",
    "CameraScores",
    "DepthScores",
    "PredictionError",
    "SequenceDepth",
    "SequenceResult",
    "aggregate_depth",
    "align_median_scale",
    "align_scale_shift_l1",
    "align_trajectory",
    "camera_scores",
    "depth_scores",
    "evaluate_benchmark",
    "evaluate_depth_sequence",
    "evaluate_tum_files",
    "format_table",
    "get_benchmark",
    "ground_truth_depth",
    "ground_truth_trajectory",
    "mean_camera_scores",
    "resize_depth",
    "valid_depth_mask",
]
