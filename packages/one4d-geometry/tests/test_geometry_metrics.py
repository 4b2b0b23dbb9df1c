import numpy as np
import pytest
from one4d_geometry.metrics import (
    focal_relative_error,
    median_scaled_depth_errors,
    relative_rotation_errors_deg,
)
from one4d_geometry.rotations import axis_angle_to_matrix


def test_depth_errors_are_scale_free_and_count_missing_pixels():
    gt = np.array([[1.0, 2.0], [4.0, np.nan]])
    abs_rel, delta, pixels = median_scaled_depth_errors(3.0 * gt, gt)
    assert abs_rel == pytest.approx(0.0) and delta == 1.0 and pixels == 3
    # A pixel declared invalid (NaN) is scored with the median prediction, never skipped.
    pred = np.array([[1.0, 2.0], [np.nan, 7.0]])
    abs_rel, delta, pixels = median_scaled_depth_errors(pred, gt)
    # median pred over the scored pixels: fill 1.5 -> [1, 2, 1.5], scaled by median(gt)/median = 2/1.5
    d_hat = np.array([1.0, 2.0, 1.5]) * (2.0 / 1.5)
    expected = np.mean(np.abs(d_hat - [1, 2, 4]) / [1, 2, 4])
    assert abs_rel == pytest.approx(expected) and pixels == 3
    assert delta == pytest.approx(np.mean(np.maximum(d_hat / [1, 2, 4], [1, 2, 4] / d_hat) < 1.25))
    with pytest.raises(ValueError, match="no valid pixel"):
        median_scaled_depth_errors(gt, np.full_like(gt, np.nan))


def test_rotation_errors_are_relative_to_the_first_frame():
    gt = np.stack([np.eye(4)] * 3)
    gt[1, :3, :3] = axis_angle_to_matrix(np.array([0.0, 0.2, 0.0]))
    gt[2, :3, :3] = axis_angle_to_matrix(np.array([0.0, 0.4, 0.0]))
    # The same trajectory seen from a rotated world frame scores zero.
    offset = np.eye(4)
    offset[:3, :3] = axis_angle_to_matrix(np.array([0.3, -0.1, 0.5]))
    np.testing.assert_allclose(relative_rotation_errors_deg(offset @ gt, gt), 0.0, atol=1e-6)
    static = np.stack([np.eye(4)] * 3)
    np.testing.assert_allclose(relative_rotation_errors_deg(static, gt), np.degrees([0.2, 0.4]), rtol=1e-6)


def test_focal_error_is_relative_per_frame():
    assert focal_relative_error(110.0, np.array([100.0, 100.0])) == pytest.approx(0.1)
    assert focal_relative_error(np.array([90.0, 130.0]), 100.0) == pytest.approx(0.2)
