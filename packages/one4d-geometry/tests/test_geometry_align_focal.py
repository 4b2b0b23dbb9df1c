import numpy as np
import pytest
from one4d_geometry import (
    ate_rmse,
    axis_angle_to_matrix,
    estimate_focal,
    intrinsics_matrix,
    robust_umeyama,
    rotation_angle_deg,
    umeyama,
    unproject_depth,
)


def test_umeyama_recovers_a_known_similarity_and_ignores_zero_weights():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(50, 3))
    R = axis_angle_to_matrix([0.3, -0.5, 1.2])
    target = 2.5 * source @ R.T + [1.0, -2.0, 0.5]
    weights = np.ones(50)
    target[:5] += 10.0  # outliers with zero weight
    weights[:5] = 0.0
    fit = umeyama(source, target, weights)
    assert fit.scale == pytest.approx(2.5, rel=1e-12)
    assert rotation_angle_deg(fit.R, R) < 1e-9
    np.testing.assert_allclose(fit.t, [1.0, -2.0, 0.5], atol=1e-12)
    np.testing.assert_allclose(fit.apply(source[5:]), target[5:], atol=1e-12)


def test_robust_umeyama_is_exact_on_exact_points_and_ignores_a_minority_of_gross_errors():
    rng = np.random.default_rng(3)
    source = rng.normal(size=(400, 3))
    R = axis_angle_to_matrix([-0.2, 0.7, 0.4])
    target = 0.4 * source @ R.T + [0.3, 0.1, -2.0]
    exact = robust_umeyama(source, target)
    assert exact.scale == pytest.approx(0.4, rel=1e-10) and rotation_angle_deg(exact.R, R) < 1e-8
    noisy = target + rng.normal(scale=0.005, size=target.shape)
    noisy[:120] += rng.normal(scale=2.0, size=(120, 3))  # 30 % of the points wrong by a lot
    plain, robust = umeyama(source, noisy), robust_umeyama(source, noisy)
    assert rotation_angle_deg(robust.R, R) < 0.5 and robust.scale == pytest.approx(0.4, rel=0.01)
    assert rotation_angle_deg(plain.R, R) > 5 * rotation_angle_deg(robust.R, R)


def test_rigid_alignment_keeps_scale_one_and_handles_reflections():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(30, 3))
    R = axis_angle_to_matrix([np.pi - 1e-3, 0.0, 0.0])
    fit = umeyama(source, source @ R.T + 1.0, with_scale=False)
    assert fit.scale == 1.0 and np.linalg.det(fit.R) == pytest.approx(1.0)
    assert rotation_angle_deg(fit.R, R) < 1e-7


def test_ate_is_invariant_to_a_similarity_of_the_estimate_and_measures_noise():
    rng = np.random.default_rng(2)
    reference = np.cumsum(rng.normal(size=(40, 3)), axis=0)
    estimate = 0.3 * reference @ axis_angle_to_matrix([0.1, 0.2, 0.3]).T + 5.0
    assert ate_rmse(estimate, reference) < 1e-9
    assert ate_rmse(estimate, reference, with_scale=False) > 1.0
    noise = 0.01 * rng.normal(size=reference.shape)
    assert (
        0.5 * 0.01 * np.sqrt(3)
        < ate_rmse(reference + noise, reference)
        <= np.sqrt(np.mean(np.sum(noise**2, 1)))
    )


def test_umeyama_errors():
    with pytest.raises(ValueError, match=r"shape \(P, 3\)"):
        umeyama(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least 3 points"):
        umeyama(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="weights"):
        umeyama(np.zeros((4, 3)), np.zeros((4, 3)), weights=-np.ones(4))


@pytest.mark.parametrize("focal", [80.0, 240.0])
def test_weiszfeld_focal_from_a_camera_frame_pointmap(focal):
    rng = np.random.default_rng(3)
    height, width = 48, 64
    depth = rng.uniform(1.0, 5.0, (height, width))
    points = unproject_depth(depth, intrinsics_matrix(focal, cx=(width - 1) / 2, cy=(height - 1) / 2))
    assert estimate_focal(points) == pytest.approx(focal, rel=1e-9)
    # robust to 10 % gross outliers, which a least-squares fit is not
    bad = rng.random((height, width)) < 0.1
    points[bad] *= rng.uniform(0.2, 3.0, (bad.sum(), 3))
    assert estimate_focal(points) == pytest.approx(focal, rel=0.01)
    points[0, 0] = np.nan
    mask = ~bad
    assert estimate_focal(points, mask=mask) == pytest.approx(focal, rel=1e-6)


def test_focal_errors():
    with pytest.raises(ValueError, match=r"points_cam must have shape \(H, W, 3\)"):
        estimate_focal(np.ones((4, 3)))
    with pytest.raises(ValueError, match="no valid"):
        estimate_focal(np.full((4, 4, 3), np.nan))
