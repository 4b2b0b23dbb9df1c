import numpy as np
import pytest
import torch
from one4d_data.errors import DataError
from one4d_data.normalize import (
    INVALID_POINT_CODE,
    NORMALIZATION_MARGIN,
    NORMALIZATION_PERCENTILES,
    PointmapNormalization,
    decode_pointmaps,
    encode_pointmaps,
    normalize_pointmaps,
    rgb_to_unit,
    unit_to_rgb,
)
from one4d_data.umc import (
    TASKS,
    TaskRatios,
    conditioning_video,
    observed_frame_mask,
    sample_task,
    sparse_frame_indices,
)


def _pointmaps(seed=0):
    rng = np.random.default_rng(seed)
    pts = rng.normal([1.0, -2.0, 5.0], [2.0, 1.0, 3.0], size=(3, 8, 10, 3)).astype(np.float32)
    valid = rng.random((3, 8, 10)) > 0.2
    pts[0, 0, 0] = [1e6, 1e6, 1e6]  # an outlier must not set the scale
    return pts, valid


def test_normalize_then_invert_is_exact_and_invalid_is_nan():
    pts, valid = _pointmaps()
    out, norm = normalize_pointmaps(pts, valid)
    assert out.dtype == np.float32
    assert np.isnan(out[~valid]).all() and np.isfinite(out[valid]).all()
    back = norm.invert(out)
    np.testing.assert_allclose(back[valid], pts[valid], rtol=1e-6, atol=1e-6 * norm.scale)
    # Float64 round trip is exact to double precision.
    x64 = pts[valid].astype(np.float64)
    np.testing.assert_allclose(norm.invert(norm.apply(x64)), x64, rtol=1e-14, atol=1e-12)
    # Torch tensors too.
    t = torch.from_numpy(out[valid])
    np.testing.assert_allclose(norm.invert(t).numpy(), pts[valid], rtol=1e-6, atol=1e-6 * norm.scale)


def test_normalization_is_robust_and_fills_unit_box():
    pts, valid = _pointmaps()
    out, norm = normalize_pointmaps(pts, valid)
    inside = np.abs(out[valid]) <= 1.0
    assert inside.all(-1).mean() > 0.95  # the 1st-99th percentile box with a 20 % margin
    assert np.abs(out[valid]).max(0).max() > 0.8
    assert norm.scale < 20  # the 1e6 outlier is ignored
    lo, hi = np.percentile(out[valid], NORMALIZATION_PERCENTILES, axis=0)
    np.testing.assert_allclose(np.abs(lo + hi).max(), 0.0, atol=1e-5)  # centred
    np.testing.assert_allclose(max(hi - lo), 2.0 / NORMALIZATION_MARGIN, rtol=1e-5)  # largest side


def test_scale_and_translation_invariance():
    pts, valid = _pointmaps(1)
    out1, n1 = normalize_pointmaps(pts, valid)
    out2, n2 = normalize_pointmaps(pts * 3.0 + np.float32(7.0), valid)
    np.testing.assert_allclose(out1[valid], out2[valid], atol=1e-5)
    np.testing.assert_allclose(n2.scale, 3 * n1.scale, rtol=1e-6)


def test_pointmap_code_round_trip_marks_invalid_and_clamped_points():
    pts, valid = _pointmaps()
    pts[1, 2, 3] = np.nan  # a NaN point counts as invalid even where the mask says valid
    _, norm = normalize_pointmaps(pts, valid)
    code = encode_pointmaps(torch.from_numpy(pts), torch.from_numpy(valid), norm).numpy()
    assert code.min() >= -1 and code.max() <= 1
    expected_valid = valid & np.isfinite(pts).all(-1)
    assert (code[~expected_valid] == INVALID_POINT_CODE).all()
    read = decode_pointmaps(code, norm)
    assert np.array_equal(read.valid, expected_valid)
    assert np.isnan(read.points[~read.valid]).all()
    inside = expected_valid & (np.abs(norm.apply(pts)) < 0.98).all(-1)
    np.testing.assert_allclose(read.points[inside], pts[inside], rtol=1e-5, atol=1e-5 * norm.scale)
    # Points beyond the box are clamped: valid, saturated, not reliable for a camera fit.
    outside = expected_valid & (np.abs(norm.apply(pts)) > 1.0).any(-1)
    assert outside.any() and read.saturated[outside].all() and not read.reliable[outside].any()
    assert not read.saturated[inside].any()
    # A decoded code near the invalid corner (VAE blur) still reads as invalid.
    blurred = code.copy()
    blurred[~expected_valid] = -0.8
    assert np.array_equal(decode_pointmaps(blurred, norm).valid, expected_valid)


def test_no_valid_points_raises():
    pts, valid = _pointmaps()
    with pytest.raises(DataError, match="no valid points"):
        normalize_pointmaps(pts, np.zeros_like(valid))
    with pytest.raises(ValueError):
        PointmapNormalization(np.zeros(3), 0.0)


def test_task_ratios_validated_and_sampled_in_proportion():
    with pytest.raises(ValueError):
        TaskRatios(-0.1, 0.5, 0.6)
    with pytest.raises(ValueError):
        TaskRatios(0.0, 0.0, 0.0)
    rng = np.random.default_rng(0)
    draws = [sample_task(rng, TaskRatios()) for _ in range(4000)]
    freq = np.array([draws.count(t) for t in TASKS]) / len(draws)
    np.testing.assert_allclose(freq, [0.35, 0.30, 0.35, 0.0], atol=0.03)
    only_sparse = {sample_task(rng, TaskRatios(0, 1, 0)) for _ in range(50)}
    assert only_sparse == {"sparse_frames"}
    # Text to 4D is drawn only when a config asks for it, and adding it kept the paper's draws unchanged.
    with_text = [sample_task(rng, TaskRatios(0.3, 0.2, 0.3, 0.2)) for _ in range(4000)]
    assert abs(with_text.count("text") / 4000 - 0.2) < 0.03
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    paper = [sample_task(rng_a, TaskRatios()) for _ in range(200)]
    three = ("single_image", "sparse_frames", "full_video")
    assert paper == [three[int(rng_b.choice(3, p=[0.35, 0.30, 0.35]))] for _ in range(200)]


def test_text_task_observes_nothing():
    assert not observed_frame_mask("text", 9).any()
    video = np.ones((3, 9, 4, 4), np.float32)
    assert not conditioning_video(video, observed_frame_mask("text", 9)).any()


@pytest.mark.parametrize("num_frames", [1, 5, 9, 49, 81])
def test_single_image_and_full_video_masks(num_frames):
    single = observed_frame_mask("single_image", num_frames)
    assert single[0] and single.sum() == 1
    assert observed_frame_mask("full_video", num_frames).all()


@pytest.mark.parametrize(
    ("num_frames", "sparsity", "expected"),
    [
        (9, 0.5, [0, 3, 5, 8]),  # round(4.5) = 4 observed at 0, 2.67, 5.33, 8
        (81, 0.05, [0, 27, 53, 80]),
        (81, 0.1, [0, 11, 23, 34, 46, 57, 69, 80]),
        (81, 0.01, [0, 80]),
        (5, 1.0, [0, 1, 2, 3, 4]),
    ],
)
def test_sparse_mask_keeps_first_last_and_spreads_uniformly(num_frames, sparsity, expected):
    mask = observed_frame_mask("sparse_frames", num_frames, sparsity=sparsity)
    observed = np.flatnonzero(mask)
    count = max(2, min(num_frames, int(round(sparsity * num_frames))))
    assert observed.size == count
    assert observed[0] == 0 and observed[-1] == num_frames - 1
    gaps = np.diff(observed)
    assert gaps.max() - gaps.min() <= 1
    np.testing.assert_array_equal(observed, expected)
    np.testing.assert_array_equal(sparse_frame_indices(num_frames, count), expected)


def test_sparse_mask_draws_sparsity_in_range():
    rng = np.random.default_rng(1)
    counts = [
        observed_frame_mask("sparse_frames", 81, rng, sparsity_range=(0.1, 0.3)).sum() for _ in range(200)
    ]
    assert min(counts) >= round(0.1 * 81) and max(counts) <= round(0.3 * 81)
    assert len(set(counts)) > 5
    with pytest.raises(ValueError, match="unknown task"):
        observed_frame_mask("inpaint", 9)


def test_conditioning_video_zeroes_unobserved_frames():
    video = torch.rand(3, 9, 4, 6) * 2 - 1
    mask = observed_frame_mask("sparse_frames", 9, sparsity=0.4)
    cond = conditioning_video(video, mask)
    assert cond.shape == video.shape
    assert torch.equal(cond[:, mask], video[:, mask])
    assert (cond[:, ~mask] == 0).all()
    batch = torch.stack([video, video])
    masks = np.stack([mask, observed_frame_mask("single_image", 9)])
    cond_b = conditioning_video(batch, masks)
    assert torch.equal(cond_b[0], cond)
    assert (cond_b[1, :, 1:] == 0).all() and torch.equal(cond_b[1, :, 0], video[:, 0])
    np.testing.assert_array_equal(conditioning_video(video.numpy(), mask), cond.numpy())
    with pytest.raises(ValueError, match="frames"):
        conditioning_video(video, mask[:5])


def test_rgb_pixels_map_to_the_unit_range_and_back_exactly():
    pixels = torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16)
    unit = rgb_to_unit(pixels)
    assert unit.dtype == torch.float32 and unit.min() == -1.0 and unit.max() == 1.0
    assert torch.equal(unit_to_rgb(unit), pixels)
    # decoded frames overshoot the range: clamped, not wrapped around
    assert unit_to_rgb(torch.tensor([-1.7, 1.3])).tolist() == [0, 255]
