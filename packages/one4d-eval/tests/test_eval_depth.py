import math

import numpy as np
import pytest
from one4d_eval.depth import (
    DepthScores,
    aggregate_depth,
    align_median_scale,
    align_scale_shift_l1,
    depth_scores,
    evaluate_depth_sequence,
    resize_depth,
    valid_depth_mask,
)
from scipy.optimize import linprog


def _l1_objective(pred, gt, s, t):
    return math.fsum(np.abs(s * pred + t - gt))


def _lp_l1_fit(x, y):
    """Reference: min sum e_i s.t. -e_i <= y_i - s x_i - t <= e_i, solved by HiGHS."""
    n = x.size
    ones, eye = np.ones((n, 1)), np.eye(n)
    a_ub = np.block([[-x[:, None], -ones, -eye], [x[:, None], ones, -eye]])
    res = linprog(
        np.r_[0.0, 0.0, np.ones(n)],
        A_ub=a_ub,
        b_ub=np.r_[-y, y],
        bounds=[(None, None)] * 2 + [(0, None)] * n,
        method="highs",
    )
    assert res.status == 0
    return res.x[0], res.x[1], res.fun


def _random_depth(rng, shape, low=0.5, high=60.0):
    return np.exp(rng.uniform(np.log(low), np.log(high), shape))


# ------------------------------------------------------------------------------------------------ alignment


@pytest.mark.parametrize("seed", range(6))
def test_l1_alignment_matches_the_linear_programme_on_data_with_outliers(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 160))
    pred = rng.uniform(0.2, 8.0, n)
    gt = 2.3 * pred + 0.6 + rng.normal(0.0, 0.2, n)
    outliers = rng.random(n) < 0.3
    gt[outliers] = rng.uniform(0.1, 60.0, outliers.sum())
    if seed % 3 == 2:
        pred -= 5.0  # negative predictions: the solver shifts internally, the answer must not change
    s, t = align_scale_shift_l1(pred, gt, np.ones(n, bool))
    s_lp, t_lp, optimum = _lp_l1_fit(pred, gt)
    assert _l1_objective(pred, gt, s, t) == pytest.approx(optimum, rel=1e-9)
    # Continuous random data: the optimum is unique, so the parameters agree too.
    assert s == pytest.approx(s_lp, rel=1e-8)
    assert t == pytest.approx(t_lp, rel=1e-8, abs=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_l1_alignment_is_optimal_with_many_ties(seed):
    # Quantised depths (like Bonn's 1/5000 m steps) make many residuals tie; the optimum may not be unique.
    rng = np.random.default_rng(100 + seed)
    n = 120
    pred = np.round(rng.uniform(1.0, 6.0, n), 1)
    gt = np.round(1.5 * pred + 0.5 + rng.normal(0.0, 0.3, n), 1)
    s, t = align_scale_shift_l1(pred, gt, np.ones(n, bool))
    optimum = _lp_l1_fit(pred, gt)[2]
    assert _l1_objective(pred, gt, s, t) == pytest.approx(optimum, rel=1e-9)


def test_l1_alignment_recovers_the_affine_map_exactly_despite_30_percent_outliers():
    rng = np.random.default_rng(7)
    gt = rng.uniform(0.5, 60.0, (4, 50, 60))
    pred = (gt + 0.7) / 2.5  # gt = 2.5 * pred - 0.7
    outliers = rng.random(gt.shape) < 0.3
    pred[outliers] = rng.uniform(0.0, 40.0, outliers.sum())
    s, t = align_scale_shift_l1(pred, gt, np.ones(gt.shape, bool))
    assert s == pytest.approx(2.5, rel=1e-12)
    assert t == pytest.approx(-0.7, abs=1e-11)


def test_l1_alignment_on_two_million_pixels_is_a_minimum():
    # Large inputs take the subsample + working-set path; check optimality along the slope (convex: local
    # minimum = global) with the shift re-optimised, in compensated summation.
    rng = np.random.default_rng(3)
    gt = _random_depth(rng, (8, 500, 500))
    pred = (gt - 0.4) / 3.0 * np.exp(rng.normal(0.0, 0.1, gt.shape))
    outliers = rng.random(gt.shape) < 0.1
    pred[outliers] = rng.uniform(0.0, 30.0, outliers.sum())
    mask = valid_depth_mask(gt)
    s, t = align_scale_shift_l1(pred.astype(np.float32), gt, mask)
    assert 2.5 < s < 3.5  # the noise is multiplicative, so the L1 line is not exactly the generating one
    x, y = pred.astype(np.float32)[mask].astype(np.float64), gt[mask]

    def best_objective(slope):
        residual = y - slope * x
        return math.fsum(np.abs(residual - np.median(residual)))

    reached = _l1_objective(x, y, s, t)
    assert reached <= best_objective(s) * (1 + 1e-12)
    for step in (1e-9, 1e-6):
        assert best_objective(s * (1 + step)) >= reached * (1 - 1e-12)
        assert best_objective(s * (1 - step)) >= reached * (1 - 1e-12)


def test_l1_alignment_of_constant_gt_is_a_zero_scale():
    pred = np.array([1.0, 2.0, 3.0, 4.0])
    s, t = align_scale_shift_l1(pred, np.full(4, 5.0), np.ones(4, bool))
    assert s == pytest.approx(0.0, abs=1e-12) and t == pytest.approx(5.0)


def test_median_scaling_uses_the_masked_medians():
    pred = np.array([1.0, 2.0, 3.0, 4.0, 100.0])
    gt = np.array([2.0, 4.0, 6.0, 8.0, 1.0])
    assert align_median_scale(pred, gt, np.ones(5, bool)) == pytest.approx(4.0 / 3.0, rel=1e-15)
    mask = np.array([True, True, True, True, False])
    assert align_median_scale(pred, gt, mask) == 2.0


# --------------------------------------------------------------------------------------------------- scores


def test_abs_rel_and_delta_on_a_toy_example():
    gt = np.array([[1.0, 2.0], [4.0, 5.0]])
    pred = np.array([[1.1, 2.0], [3.0, 10.0]])
    scores = depth_scores(pred, gt, np.ones((2, 2), bool))
    # |d^-d|/d = 0.1, 0, 0.25, 1; max ratios 1.1, 1, 4/3, 2 -> two below 1.25.
    assert scores == DepthScores(abs_rel=pytest.approx(0.3375, rel=1e-15), delta_1_25=0.5, valid_pixels=4)
    partial = depth_scores(pred, gt, np.array([[True, True], [True, False]]))
    assert partial.abs_rel == pytest.approx(0.35 / 3, rel=1e-15)
    assert partial.delta_1_25 == pytest.approx(2 / 3) and partial.valid_pixels == 3


def test_a_non_positive_prediction_never_counts_as_a_delta_hit():
    # max(d^/d, d/d^) of a negative d^ is negative, which the naive formula would count as < 1.25.
    scores = depth_scores(np.array([-1.0, 0.0, 1.0]), np.ones(3), np.ones(3, bool))
    assert scores.delta_1_25 == pytest.approx(1 / 3)
    assert scores.abs_rel == pytest.approx(1.0)


def test_valid_mask_excludes_missing_non_finite_and_far_depth():
    gt = np.array([0.0, -1.0, np.nan, np.inf, 5.0, 70.0, 69.9, 1e-6])
    np.testing.assert_array_equal(valid_depth_mask(gt), [0, 0, 0, 0, 1, 0, 1, 1])
    np.testing.assert_array_equal(valid_depth_mask(gt, max_depth=None), [0, 0, 0, 0, 1, 1, 1, 1])


# ---------------------------------------------------------------------------------------- sequence protocol


def test_an_affine_prediction_scores_perfectly_with_scale_and_shift():
    rng = np.random.default_rng(11)
    gt = _random_depth(rng, (3, 24, 32))
    result = evaluate_depth_sequence((gt - 0.3) / 2.0, gt)
    assert result.scale == pytest.approx(2.0, rel=1e-12)
    assert result.shift == pytest.approx(0.3, abs=1e-12)
    assert result.scores.abs_rel < 1e-12
    assert result.scores.delta_1_25 == 1.0
    assert result.scores.valid_pixels == gt.size

    scaled = evaluate_depth_sequence(gt / 3.0, gt, alignment="scale")
    assert scaled.scale == pytest.approx(3.0, rel=1e-12) and scaled.shift == 0.0
    assert scaled.scores.abs_rel < 1e-12


def test_clip_max_bounds_the_aligned_prediction():
    gt = np.array([[10.0, 20.0], [30.0, 60.0]])
    pred = np.array([[10.0, 20.0], [30.0, 100.0]])  # median scale is exactly 1
    clipped = evaluate_depth_sequence(pred, gt, alignment="scale", clip_max=70.0)
    assert clipped.scores.abs_rel == pytest.approx((10 / 60) / 4)
    assert clipped.scores.delta_1_25 == 1.0  # 70 / 60 < 1.25
    raw = evaluate_depth_sequence(pred, gt, alignment="scale")
    assert raw.scores.abs_rel == pytest.approx((40 / 60) / 4)
    assert raw.scores.delta_1_25 == 0.75


def test_clip_min_keeps_aligned_predictions_positive():
    gt = np.array([[10.0, 20.0, 30.0, 40.0, 50.0]])
    pred = np.array([[-5.0, 30.0, 30.0, 40.0, 50.0]])  # median scale is exactly 1
    clamped = evaluate_depth_sequence(pred, gt, alignment="scale")  # default clip_min = 1e-3
    assert clamped.scores.abs_rel == pytest.approx(((10 - 1e-3) / 10 + 10 / 20) / 5, rel=1e-14)
    assert clamped.scores.delta_1_25 == pytest.approx(0.6)
    raw = evaluate_depth_sequence(pred, gt, alignment="scale", clip_min=None)
    assert raw.scores.abs_rel == pytest.approx((15 / 10 + 10 / 20) / 5, rel=1e-14)
    assert raw.scores.delta_1_25 == pytest.approx(0.6)


def _smooth_depth(rows, cols):
    return 10.0 + 3.0 * np.sin(rows / 7.0) * np.cos(cols / 9.0) + 0.05 * cols


def test_a_half_resolution_prediction_is_resized_to_the_gt():
    height, width = 32, 48
    gt = _smooth_depth(*np.meshgrid(np.arange(height), np.arange(width), indexing="ij"))[None]
    # Half-resolution pixel i has its centre at full-resolution coordinate 2 i + 0.5 (align_corners=False).
    half = _smooth_depth(*np.meshgrid(2 * np.arange(16) + 0.5, 2 * np.arange(24) + 0.5, indexing="ij"))[None]
    resized = resize_depth(half, (height, width))
    assert resized.shape == (1, height, width)
    result = evaluate_depth_sequence(half, gt)
    assert result.scores.abs_rel < 5e-3
    assert result.scores.delta_1_25 == 1.0
    assert resize_depth(half[0], (height, width)).shape == (height, width)


def test_resize_to_the_same_size_is_an_identity_copy():
    depth = np.random.default_rng(0).uniform(1, 5, (2, 6, 7)).astype(np.float32)
    same = resize_depth(depth, (6, 7))
    np.testing.assert_array_equal(same, depth)
    assert same.dtype == np.float32 and not np.shares_memory(same, depth)


def test_invalid_gt_pixels_do_not_affect_the_scores():
    rng = np.random.default_rng(5)
    gt = _random_depth(rng, (2, 16, 20))
    pred = gt * np.exp(rng.normal(0.0, 0.2, gt.shape))
    invalid = rng.random(gt.shape) < 0.2
    bad_values = np.array([0.0, np.nan, 70.0, 95.0, -3.0, np.inf])
    gt_a, gt_b, pred_b = gt.copy(), gt.copy(), pred.copy()
    gt_a[invalid] = rng.choice(bad_values, invalid.sum())
    gt_b[invalid] = rng.choice(bad_values, invalid.sum())
    pred_b[invalid] = rng.choice([1e4, 0.0, -50.0], invalid.sum())
    for alignment in ("scale_shift", "scale"):
        a = evaluate_depth_sequence(pred, gt_a, alignment=alignment, clip_max=70.0)
        b = evaluate_depth_sequence(pred_b, gt_b, alignment=alignment, clip_max=70.0)
        assert a == b
        assert a.scores.valid_pixels == np.count_nonzero(~invalid)


# -------------------------------------------------------------------------------------------- aggregation


def test_aggregation_is_the_metric_over_all_valid_pixels_not_the_mean_of_sequences():
    rng = np.random.default_rng(9)
    gts = [_random_depth(rng, (2, 30, 40)), _random_depth(rng, (3, 8, 10))]
    noise = [0.05, 0.5]  # a large accurate sequence and a small poor one
    preds = [g * np.exp(rng.normal(0.0, sigma, g.shape)) for g, sigma in zip(gts, noise, strict=True)]
    results = [evaluate_depth_sequence(p, g) for p, g in zip(preds, gts, strict=True)]
    aligned, truth = [], []
    for pred, gt, result in zip(preds, gts, results, strict=True):
        mask = valid_depth_mask(gt)
        aligned.append(np.maximum(result.scale * pred[mask] + result.shift, 1e-3))
        truth.append(gt[mask])
    pooled = depth_scores(np.concatenate(aligned), np.concatenate(truth), np.ones(sum(map(len, truth)), bool))
    total = aggregate_depth(results)
    assert total.valid_pixels == pooled.valid_pixels == sum(r.scores.valid_pixels for r in results)
    assert total.abs_rel == pytest.approx(pooled.abs_rel, rel=1e-12)
    assert total.delta_1_25 == pytest.approx(pooled.delta_1_25, rel=1e-12)
    plain_mean = np.mean([r.scores.abs_rel for r in results])
    assert abs(total.abs_rel - plain_mean) > 0.1 * plain_mean


# ------------------------------------------------------------------------------------------------- errors


def test_mismatched_frame_counts_name_both_shapes():
    with pytest.raises(ValueError, match=r"pred \(3, 4, 5\).*gt \(2, 4, 5\)"):
        evaluate_depth_sequence(np.ones((3, 4, 5)), np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(2, 4, 5\)"):
        evaluate_depth_sequence(np.ones((4, 5)), np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match="shapes differ"):
        align_scale_shift_l1(np.ones((4, 5)), np.ones((4, 6)), np.ones((4, 6), bool))


def test_empty_or_degenerate_inputs_say_what_is_wrong():
    ones = np.ones((3, 3))
    empty = np.zeros((3, 3), bool)
    with pytest.raises(ValueError, match="at least 2 valid pixels, got 0"):
        align_scale_shift_l1(ones, ones, empty)
    with pytest.raises(ValueError, match="constant"):
        align_scale_shift_l1(ones, np.arange(9.0).reshape(3, 3), ~empty)
    with pytest.raises(ValueError, match="mask is empty"):
        align_median_scale(ones, ones, empty)
    with pytest.raises(ValueError, match="no valid pixels"):
        depth_scores(ones, ones, empty)
    with pytest.raises(ValueError, match="at least 2 valid pixels"):
        evaluate_depth_sequence(ones, np.full((3, 3), 80.0))  # all GT beyond max_depth
    with pytest.raises(ValueError, match="unknown alignment 'lstsq'"):
        evaluate_depth_sequence(ones, ones, alignment="lstsq")
    with pytest.raises(ValueError, match="non-finite"):
        evaluate_depth_sequence(np.full((3, 3), np.nan), ones)
    with pytest.raises(ValueError, match="no sequences"):
        aggregate_depth([])
