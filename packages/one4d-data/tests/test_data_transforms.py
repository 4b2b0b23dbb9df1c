import numpy as np
import pytest
from one4d_data.cameras import unproject_to_world
from one4d_data.errors import DataError
from one4d_data.synthetic import make_clip
from one4d_data.transforms import (
    check_frame_count,
    crop_window,
    resize_and_crop,
    sample_frame_indices,
)


def test_frame_counts_are_4k_plus_1_up_to_81():
    for n in (1, 5, 9, 81):
        assert check_frame_count(n) == n
    for n in (0, 8, 10, 85):
        with pytest.raises(ValueError, match="4k"):
            check_frame_count(n)


def test_sample_frame_indices_strides_and_bounds():
    rng = np.random.default_rng(0)
    seen_strides = set()
    for _ in range(50):
        idx = sample_frame_indices(40, 9, rng, strides=(1, 2, 3, 4, 5))
        assert idx.shape == (9,) and idx[0] >= 0 and idx[-1] < 40
        steps = set(np.diff(idx).tolist())
        assert len(steps) == 1
        seen_strides |= steps
    assert seen_strides == {1, 2, 3, 4}  # stride 5 needs 41 frames
    np.testing.assert_array_equal(sample_frame_indices(20, 5, None, 2), [0, 2, 4, 6, 8])
    with pytest.raises(DataError, match="fewer than the 9 needed"):
        sample_frame_indices(8, 9, rng)


def test_crop_window_keeps_target_aspect():
    for height, width in [(480, 640), (720, 1280), (352, 624), (1000, 300)]:
        top, left, h, w = crop_window(height, width, 352, 624)
        assert h == height or w == width  # the largest window
        assert abs(h * 624 / 352 - w) <= 1.0  # target aspect within a pixel
        assert top == (height - h) // 2 and left == (width - w) // 2
    assert crop_window(480, 640, 352, 624) == (59, 0, 361, 640)
    top, left, h, w = crop_window(100, 100, 32, 48, np.random.default_rng(0))
    assert (h, w) == (67, 100) and 0 <= top <= 33 and left == 0


def test_crop_only_equals_cropped_pointmaps():
    clip = make_clip(2, 3, 40, 48)
    out = resize_and_crop(clip, 32, 48)  # 40 x 48 -> crop rows 4..36, no scaling
    np.testing.assert_array_equal(out.rgb, clip.rgb[:, 4:36])
    np.testing.assert_array_equal(out.depth, clip.depth[:, 4:36])
    np.testing.assert_allclose(out.pointmaps, clip.pointmaps[:, 4:36], atol=1e-5)
    np.testing.assert_allclose(out.K[:, 1, 2], clip.K[:, 1, 2] - 4)


@pytest.mark.parametrize("crop_seed", [None, 3])
def test_resized_intrinsics_map_every_world_point_to_its_new_pixel(crop_seed):
    def rng():
        return None if crop_seed is None else np.random.default_rng(crop_seed)

    clip = make_clip(4, 3, 60, 100, scene="room")
    out = resize_and_crop(clip, 32, 48, rng())
    top, left, crop_h, crop_w = crop_window(60, 100, 32, 48, rng())
    sx, sy = 48 / crop_w, 32 / crop_h
    # Project original world points with the new intrinsics: pixel (u, v) must land on the pixel-centre
    # mapping u' = (u - left + 0.5) sx - 0.5.
    v, u = np.mgrid[0:60, 0:100]
    for t in range(3):
        w2c = np.linalg.inv(clip.c2w[t])
        cam = clip.pointmaps[t] @ w2c[:3, :3].T + w2c[:3, 3]
        uvw = cam @ out.K[t].T
        np.testing.assert_allclose(uvw[..., 0] / uvw[..., 2], (u - left + 0.5) * sx - 0.5, atol=1e-3)
        np.testing.assert_allclose(uvw[..., 1] / uvw[..., 2], (v - top + 0.5) * sy - 0.5, atol=1e-3)
    # Pointmaps stay consistent with the new depth and cameras.
    np.testing.assert_allclose(
        out.pointmaps, unproject_to_world(out.depth, out.K, out.c2w), atol=1e-5, equal_nan=True
    )


def test_downscaled_depth_lies_on_the_same_surfaces():
    """Halving a plane-only scene: lifted points of the resized clip match the full-size clip's points
    at the same pixels (nearest sampling picks one of the four source pixels)."""
    clip = make_clip(9, 2, 64, 96, num_objects=0, scene="room")
    out = resize_and_crop(clip, 32, 48)
    ref = clip.pointmaps[:, 1::2, 1::2]
    err = np.linalg.norm(out.pointmaps - ref, axis=-1)
    step = np.linalg.norm(clip.pointmaps[:, :, 1:] - clip.pointmaps[:, :, :-1], axis=-1)
    assert np.nanmedian(err) < 2 * np.nanmedian(step)
    assert out.rgb.shape == (2, 32, 48, 3) and out.rgb.dtype == np.uint8
    # Bilinear antialiased RGB keeps the mean colour.
    np.testing.assert_allclose(out.rgb.mean(), clip.rgb.mean(), rtol=0.03)
