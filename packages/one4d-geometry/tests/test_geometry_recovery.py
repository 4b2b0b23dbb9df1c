from pathlib import Path

import numpy as np
import pytest
from one4d_geometry import (
    ate_rmse,
    extrinsics_to_c2w,
    intrinsics_matrix,
    invert_pose,
    recover_cameras,
    rotation_angle_deg,
    unproject_depth,
)
from one4d_geometry.recovery import depth_along_rays
from one4d_geometry.synthetic import add_noise, stuck_region, synthetic_scene


def assert_exact(result, K, R, o, depth, valid=None):
    scene_depth = np.nanmedian(depth)
    np.testing.assert_allclose(result.K[:, 0, 0], K[:, 0, 0], rtol=1e-3)
    np.testing.assert_allclose(result.K[:, 1, 1], K[:, 1, 1], rtol=1e-3)
    np.testing.assert_allclose(result.K[:, :2, 2], K[:, :2, 2])
    assert rotation_angle_deg(result.R, R).max() < 0.01
    assert np.abs(result.o - o).max() < 1e-4 * scene_depth
    valid = np.isfinite(depth) if valid is None else valid
    assert np.abs(result.depth[valid] / depth[valid] - 1).max() < 1e-4
    assert np.isnan(result.depth[~valid]).all()
    assert result.residuals.shape == (len(K),) and result.residuals.max() < 1e-4 * scene_depth


def test_exact_synthetic_pointmaps_shared_focal():
    scene = synthetic_scene(16, 48, 64, focal=55.0, seed=1)
    result = recover_cameras(scene.pointmaps)
    assert_exact(result, scene.K, scene.R, scene.o, scene.depth)
    np.testing.assert_allclose(result.c2w, extrinsics_to_c2w(scene.R, scene.o), atol=1e-4)


def test_exact_synthetic_pointmaps_per_frame_focal_with_nan_and_mask():
    scene = synthetic_scene(10, 40, 56, focal=np.linspace(30.0, 90.0, 10), seed=2)
    points = scene.pointmaps.copy()
    rng = np.random.default_rng(0)
    holes = rng.random(scene.depth.shape) < 0.2
    points[holes] = np.nan
    mask = rng.random(scene.depth.shape) > 0.1
    points[~mask] = 1e3  # garbage outside the mask must be ignored
    result = recover_cameras(points, mask=mask, shared_focal=False)
    assert_exact(result, scene.K, scene.R, scene.o, scene.depth, valid=~holes & mask)


def test_noisy_pointmaps_meet_the_accuracy_targets():
    scene = synthetic_scene(20, 60, 80, focal=70.0, seed=3)
    noisy = add_noise(scene, depth_noise=0.01, outlier_fraction=0.05, seed=4)
    rng = np.random.default_rng(5)
    noisy += (0.003 * np.median(scene.depth) * rng.standard_normal(noisy.shape)).astype(np.float32)
    result = recover_cameras(noisy)
    median_depth = np.median(scene.depth)
    assert np.abs(result.K[:, 0, 0] / 70.0 - 1).max() < 0.02
    assert ate_rmse(result.o, scene.o) < 0.01 * median_depth
    assert rotation_angle_deg(result.R, scene.R).max() < 1.0
    assert np.median(np.abs(result.depth / scene.depth - 1)) < 0.02


def test_result_is_equivariant_to_the_scale_of_the_pointmaps():
    scene = synthetic_scene(6, 32, 40, focal=35.0, seed=6)
    noisy = add_noise(scene, seed=7)
    small, large = recover_cameras(noisy), recover_cameras(noisy * np.float32(1000.0))
    np.testing.assert_allclose(large.K, small.K, rtol=1e-4)
    np.testing.assert_allclose(large.o, 1000.0 * small.o, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(large.depth, 1000.0 * small.depth, rtol=1e-3)


def test_confidence_downweights_outliers():
    scene = synthetic_scene(5, 40, 48, focal=50.0, seed=8)
    points = scene.pointmaps.copy()
    rng = np.random.default_rng(9)
    bad = rng.random(scene.depth.shape) < 0.4  # too many outliers for the robust loss alone
    points[bad] += rng.normal(0, 2.0, (bad.sum(), 3)).astype(np.float32)
    confidence = np.where(bad, 0.0, 1.0)
    result = recover_cameras(points, confidence=confidence)
    assert_exact(result, scene.K, scene.R, scene.o, np.where(bad, np.nan, scene.depth), valid=~bad)


def test_fit_mask_keeps_bad_points_out_of_the_cameras_but_gives_them_depth():
    scene = synthetic_scene(5, 40, 48, focal=50.0, seed=8)
    points = scene.pointmaps.copy()
    # Points clamped to a box (as a pointmap code clamps them): off their rays, so they must not steer a fit.
    lo, hi = np.percentile(points.reshape(-1, 3), [20, 80], axis=0)
    clamped = ((points < lo) | (points > hi)).any(-1)
    assert 0.3 < clamped.mean() < 0.9
    points = np.clip(points, lo, hi).astype(np.float32)
    result = recover_cameras(points, fit_mask=~clamped)
    np.testing.assert_allclose(result.K, scene.K, rtol=1e-3)
    assert rotation_angle_deg(result.R, scene.R).max() < 0.01
    assert np.abs(result.o - scene.o).max() < 1e-4 * np.median(scene.depth)
    np.testing.assert_allclose(result.depth[~clamped], scene.depth[~clamped], rtol=1e-4)
    # The clamped points still get a depth (along their ray, under the fitted cameras).
    assert np.isfinite(result.depth).all()
    np.testing.assert_allclose(depth_along_rays(points, result), result.depth, rtol=1e-5)
    # Without the fit mask the same points pull the cameras away.
    unmasked = recover_cameras(points)
    assert np.abs(unmasked.focal / scene.K[:, 0, 0] - 1).max() > 1e-2
    with pytest.raises(ValueError, match="inside fit_mask"):
        recover_cameras(points, fit_mask=np.zeros_like(clamped))
    with pytest.raises(ValueError, match="fit_mask must have shape"):
        recover_cameras(points, fit_mask=clamped[:2])


def load_icl_nuim(folder: Path):
    image = pytest.importorskip("PIL.Image")
    lines = (folder / "odometry.log").read_text().split("\n")
    blocks = [line for line in lines if line.strip()]
    c2w = np.array([[[float(x) for x in blocks[5 * i + 1 + r].split()] for r in range(4)] for i in range(5)])
    depth = np.stack(
        [
            np.asarray(image.open(folder / "depth" / f"{i:05d}.png"), dtype=np.float64) / 1000.0
            for i in range(5)
        ]
    )
    depth[depth == 0] = np.nan
    relative = invert_pose(c2w[0]) @ c2w  # world = the first frame's camera
    R, o = np.swapaxes(relative[:, :3, :3], 1, 2), relative[:, :3, 3]
    K = np.tile(intrinsics_matrix(525.0, cx=319.5, cy=239.5), (5, 1, 1))
    return depth, K, R, o


def test_exact_pointmaps_from_real_icl_nuim_frames(shared_data):
    depth, K, R, o = load_icl_nuim(shared_data / "icl-nuim-rgbd")
    pointmaps = unproject_depth(depth, K, R, o).astype(np.float32)
    for shared_focal in (True, False):
        result = recover_cameras(pointmaps, shared_focal=shared_focal)
        assert_exact(result, K, R, o, depth)
        # A real camera's view: no quality threshold is anywhere near (quality.py's constants).
        quality = result.quality
        assert quality.problems() == [] and quality.is_camera_view
        assert quality.relative_residual.max() < 1e-5 and quality.focal_relative_error.max() < 1e-5
        assert quality.behind_fraction.max() == 0 and quality.outlier_fraction.max() < 0.05


def test_single_frame_in_its_own_camera():
    scene = synthetic_scene(1, 30, 40, focal=45.0, seed=10)
    result = recover_cameras(scene.pointmaps)
    assert_exact(result, scene.K, scene.R, scene.o, scene.depth)
    assert result.iterations >= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"pointmaps": np.zeros((4, 4, 3))}, r"shape \(N, H, W, 3\)"),
        ({"pointmaps": np.zeros((0, 4, 4, 3))}, "N >= 1"),
        ({"pointmaps": np.zeros((2, 4, 4, 2))}, r"shape \(N, H, W, 3\)"),
        ({"mask": np.ones((2, 5, 5), bool)}, "mask must have shape"),
        ({"confidence": -np.ones((2, 8, 8))}, "confidence must be finite and non-negative"),
    ],
)
def test_bad_inputs_raise_clear_errors(kwargs, message):
    arguments = {"pointmaps": synthetic_scene(2, 8, 8, focal=10.0).pointmaps, **kwargs}
    with pytest.raises(ValueError, match=message):
        recover_cameras(**arguments)


def test_all_invalid_frames_and_infinite_points_are_rejected():
    points = synthetic_scene(3, 8, 8, focal=10.0).pointmaps
    empty = points.copy()
    empty[1] = np.nan
    with pytest.raises(ValueError, match=r"frame\(s\) \[1\] have fewer than"):
        recover_cameras(empty)
    infinite = points.copy()
    infinite[2, 3, 3, 0] = np.inf
    with pytest.raises(ValueError, match="infinite values"):
        recover_cameras(infinite)
    mask = np.ones(points.shape[:3], bool)
    mask[2, 3, 3] = False
    assert recover_cameras(infinite, mask=mask).depth.shape == (3, 8, 8)
    with pytest.raises(ValueError, match="sample_size"):
        recover_cameras(points, sample_size=3)


def test_degenerate_pointmaps_raise_recovery_error_and_bad_input_geometry_error():
    from one4d_geometry import GeometryError, One4DError, RecoveryError

    coincident = np.ones((2, 8, 8, 3))
    with pytest.raises(RecoveryError, match="coincide"):
        recover_cameras(coincident)
    too_few = np.full((2, 8, 8, 3), np.nan)
    too_few[:, :2, :2] = np.random.default_rng(0).normal(size=(2, 2, 2, 3))
    with pytest.raises(RecoveryError, match="fewer than"):
        recover_cameras(too_few)
    with pytest.raises(GeometryError) as bad_shape:
        recover_cameras(np.zeros((8, 8, 3)))
    assert not isinstance(bad_shape.value, RecoveryError)
    # One root for every package; ValueError kept for callers that already catch it.
    assert issubclass(RecoveryError, One4DError) and issubclass(GeometryError, ValueError)


# --- Robustness (issue 13): gross errors, a wrong region, confidences -----------------------------------


def _errors(result, scene) -> tuple[float, float]:
    """Largest rotation error (degrees) and focal error (%) over the frames."""
    rotation = float(rotation_angle_deg(result.R, scene.R).max())
    return rotation, float(100 * np.abs(result.focal / scene.K[:, 0, 0] - 1).max())


@pytest.fixture(scope="module")
def robustness_scene():
    return synthetic_scene(12, 48, 64, focal=55.0, seed=3)


@pytest.mark.parametrize("outliers", ["replace", "shift"])
@pytest.mark.parametrize("share", [0.1, 0.2, 0.3, 0.4])
def test_gross_errors_up_to_40_percent_do_not_move_the_cameras(robustness_scene, share, outliers):
    scene = robustness_scene
    points = add_noise(scene, 0.0, share, seed=4, point_noise=0.01, outliers=outliers)
    result = recover_cameras(points)
    rotation, focal = _errors(result, scene)
    assert rotation < 1.0 and focal < 5.0
    # The fit set the gross errors aside (and about as many noisy points beyond 2x the median distance).
    assert share - 0.02 < result.quality.outlier_fraction.mean() < share + 0.1
    assert result.quality.is_camera_view
    problems = result.quality.problems()
    if share >= 0.3:  # said, but not fatal
        assert len(problems) == 1 and not problems[0].fatal
        assert (
            "of the fitted points are far off their rays (outliers, left out of the fit)"
            in problems[0].message
        )
    else:
        assert problems == []


def test_the_plain_fit_breaks_down_where_the_robust_one_does_not(robustness_scene):
    scene = robustness_scene
    points = add_noise(scene, 0.0, 0.3, seed=4, point_noise=0.01, outliers="replace")
    assert _errors(recover_cameras(points, robust=False), scene)[0] > 90  # turned around
    assert _errors(recover_cameras(points), scene)[0] < 1.0


def test_a_wrong_region_that_agrees_with_another_camera_is_set_aside(robustness_scene):
    scene = robustness_scene
    points = stuck_region(scene, add_noise(scene, 0.0, 0.0, seed=4, point_noise=0.01))
    rotation, focal = _errors(recover_cameras(points), scene)
    assert rotation < 1.0 and focal < 5.0
    assert _errors(recover_cameras(points, robust=False), scene)[0] > 10


def test_exact_input_stays_exact_with_either_start(robustness_scene):
    scene = robustness_scene
    for robust in (True, False):
        assert_exact(recover_cameras(scene.pointmaps, robust=robust), scene.K, scene.R, scene.o, scene.depth)


def test_confidences_weight_the_robust_start_too(robustness_scene):
    scene = robustness_scene
    rng = np.random.default_rng(5)
    points = add_noise(scene, 0.0, 0.0, seed=4, point_noise=0.005)
    bad = rng.random(scene.depth.shape) < 0.7  # beyond any unweighted robust fit (half the points)
    flat = scene.pointmaps.reshape(-1, 3)
    points[bad] = rng.uniform(flat.min(axis=0), flat.max(axis=0), (int(bad.sum()), 3))
    confidence = np.where(bad, 0.01, 1.0)  # by weight, 2 % of the points are wrong
    weighted = recover_cameras(points, confidence=confidence)
    rotation, focal = _errors(weighted, scene)
    assert rotation < 1.0 and focal < 5.0
    assert _errors(recover_cameras(points), scene)[0] > 10
    # Only ratios matter: DUSt3R-style confidences (>= 1) or any scale give the same cameras.
    rescaled = recover_cameras(points, confidence=1000.0 * confidence)
    np.testing.assert_allclose(rescaled.K, weighted.K, rtol=1e-6)
    np.testing.assert_allclose(rescaled.o, weighted.o, atol=1e-5)


def test_add_noise_keeps_its_old_draws_and_the_stuck_region_its_rows(robustness_scene):
    scene = robustness_scene
    # The default call is unchanged (tests and benchmarks written against it keep their numbers).
    rng = np.random.default_rng(0)
    depth = scene.depth * (1.0 + 0.01 * rng.standard_normal(scene.depth.shape))
    expected = unproject_depth(depth, scene.K, scene.R, scene.o)
    moved = rng.random(scene.depth.shape) < 0.05
    points = add_noise(scene, seed=0)
    np.testing.assert_allclose(points[~moved], expected[~moved], rtol=1e-5, atol=1e-5)
    replaced = add_noise(scene, 0.0, 0.5, seed=0, outliers="replace")
    flat = scene.pointmaps.reshape(-1, 3)
    assert np.all((replaced >= flat.min(axis=0) - 1e-4) & (replaced <= flat.max(axis=0) + 1e-4))
    stuck = stuck_region(scene)
    np.testing.assert_array_equal(stuck[:, 16:], scene.pointmaps[:, 16:])
    np.testing.assert_array_equal(stuck[0], scene.pointmaps[0])
    np.testing.assert_allclose(stuck[5, :16], 3.0 * scene.pointmaps[0, :16], rtol=1e-6)
    with pytest.raises(ValueError, match="outliers must be"):
        add_noise(scene, outliers="uniform")
