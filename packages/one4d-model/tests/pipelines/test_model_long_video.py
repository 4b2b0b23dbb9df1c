"""Long videos: windows, their Sim(3) alignment and stitching, and the pipeline on a video longer than its
window."""

from __future__ import annotations

import numpy as np
import pytest
from one4d_geometry import axis_angle_to_matrix, recover_cameras
from one4d_geometry.align import ate_rmse
from one4d_geometry.metrics import median_scaled_depth_errors, relative_rotation_errors_deg
from one4d_geometry.synthetic import synthetic_scene
from one4d_model.pipelines.long_video import WindowOutput, default_overlap, plan_windows, stitch, window_mask
from one4d_model.testing import record_forward, tiny_pipeline


def test_windows_cover_the_video_with_the_overlap_asked():
    windows = plan_windows(21, 9, 3)
    assert [(w.start, w.stop) for w in windows] == [(0, 9), (6, 15), (12, 21)]
    last = plan_windows(25, 9, 2)  # the last window ends at the last frame and shares more
    assert [(w.start, w.stop) for w in last] == [(0, 9), (7, 16), (14, 23), (16, 25)]
    assert plan_windows(9, 9, 2) == [range(9)] and plan_windows(5, 9, 2) == [range(5)]
    for count in range(14, 60):
        ws = plan_windows(count, 13, 4)
        assert ws[0].start == 0 and ws[-1].stop == count and all(len(w) == 13 for w in ws)
        assert all(a.stop - b.start >= 4 for a, b in zip(ws, ws[1:], strict=False))
    assert default_overlap(81) == 20 and default_overlap(5) == 1
    with pytest.raises(ValueError, match="4k \\+ 1"):
        plan_windows(30, 8, 2)
    with pytest.raises(ValueError, match="less than the window"):
        plan_windows(30, 9, 9)


def test_later_windows_observe_the_frames_already_generated_unless_all_are_given():
    single = np.array([1] + [0] * 12, np.float32)
    assert window_mask(single, range(0, 5), 0).tolist() == [1, 0, 0, 0, 0]
    assert window_mask(single, range(3, 8), 5).tolist() == [1, 1, 0, 0, 0]
    sparse = np.zeros(13, np.float32)
    sparse[[0, 6, 12]] = 1
    assert window_mask(sparse, range(4, 9), 5).tolist() == [1, 0, 1, 0, 0]
    assert window_mask(np.ones(13, np.float32), range(4, 9), 5).tolist() == [1] * 5


def _similarity(rng):
    return float(rng.uniform(0.3, 3.0)), axis_angle_to_matrix(rng.normal(0, 0.5, 3)), rng.normal(0, 1.0, 3)


def test_exact_windows_with_random_similarities_stitch_into_the_exact_sequence():
    """Each window's pointmaps as a model gives them: in that window's first camera, at a random scale, and
    then under a random Sim(3); stitched and recovered over the whole sequence, cameras and depth are
    exact."""
    scene = synthetic_scene(21, 24, 32, focal=30.0, seed=5)
    rng = np.random.default_rng(0)
    valid = rng.random(scene.depth.shape) > 0.1  # holes, as a model's invalid code leaves
    points = np.where(valid[..., None], scene.pointmaps, np.nan)
    colors = rng.integers(0, 256, (*scene.depth.shape, 3), dtype=np.uint8)
    windows = plan_windows(21, 9, 3)
    seen = []

    def generate_window(index, video, mask):
        span = windows[index]
        seen.append((span, mask.copy()))
        R0, o0 = scene.R[span.start], scene.o[span.start]
        in_first_camera = (points[span.start : span.stop] - o0) @ R0.T
        scale, R, t = _similarity(rng)
        transformed = scale * in_first_camera @ R.T + t
        return WindowOutput(
            colors[span.start : span.stop],
            transformed.astype(np.float32),
            valid[span.start : span.stop],
            np.zeros_like(valid[span.start : span.stop]),
        )

    video = np.zeros((21, 24, 32, 3), np.uint8)
    out = stitch(windows, generate_window, np.ones(21, np.float32), video)
    assert [span for span, _ in seen] == windows
    np.testing.assert_array_equal(out.valid, valid)
    np.testing.assert_array_equal(out.frames, colors)
    recovered = recover_cameras(out.pointmaps, mask=out.valid)
    c2w = np.tile(np.eye(4), (21, 1, 1))
    c2w[:, :3, :3], c2w[:, :3, 3] = np.swapaxes(scene.R, 1, 2), scene.o
    assert relative_rotation_errors_deg(recovered.c2w, c2w).max() < 1e-5
    assert ate_rmse(recovered.c2w[:, :3, 3], c2w[:, :3, 3]) < 1e-6
    np.testing.assert_allclose(recovered.focal, 30.0, rtol=1e-6)
    abs_rel, _, _ = median_scaled_depth_errors(recovered.depth, np.where(valid, scene.depth, np.nan))
    assert abs_rel < 1e-6


def test_a_window_with_wrong_regions_still_aligns():
    """A third of the shared pixels wrong by a lot (a model's bad sky, say): the robust fit ignores them."""
    scene = synthetic_scene(13, 20, 24, focal=25.0, seed=2)
    rng = np.random.default_rng(1)
    windows = plan_windows(13, 9, 4)

    def generate_window(index, video, mask):
        span = windows[index]
        pts = scene.pointmaps[span.start : span.stop].copy()
        if index == 1:
            pts = 2.0 * pts @ axis_angle_to_matrix([0.1, 0.2, -0.3]).T + [0.5, 0.0, 1.0]
            bad = rng.random(pts.shape[:3]) < 0.33
            pts[bad] += rng.normal(0, 3.0, (int(bad.sum()), 3))
        ones = np.ones(pts.shape[:3], bool)
        return WindowOutput(np.zeros((*pts.shape[:3], 3), np.uint8), pts.astype(np.float32), ones, ~ones)

    out = stitch(windows, generate_window, np.ones(13, np.float32), np.zeros((13, 20, 24, 3), np.uint8))
    good = out.pointmaps[9:]  # frames only the second window has, its wrong points included
    error = np.linalg.norm(good - scene.pointmaps[9:], axis=-1)
    assert np.median(error) < 1e-3 * np.median(np.linalg.norm(scene.pointmaps[9:], axis=-1))


@pytest.fixture(scope="module")
def pipeline():
    pipe = tiny_pipeline()
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_the_pipeline_extends_a_single_image_window_by_window(pipeline):
    image = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    with record_forward(pipeline.transformer) as calls:
        out = pipeline(
            image,
            task="single_image",
            num_frames=13,
            num_inference_steps=1,
            guidance_scale=1,
            window_frames=5,
        )
    masks = [args[3][0, :, :, 0, 0].T.flatten().tolist() for args in calls]  # per latent frame, its 4 flags
    assert out.frames.shape == (13, 32, 48, 3) and out.pointmaps.shape == (13, 32, 48, 3)
    assert out.frame_mask.tolist() == [1] + [0] * 12
    # Three windows (0-4, 4-8, 8-12); the second and third observe their first frame, generated before.
    assert len(masks) == 3
    first_latent_frame = [m[:4] for m in masks]
    assert first_latent_frame == [[1, 1, 1, 1]] * 3 and all(sum(m[4:]) == 0 for m in masks)
    with pytest.raises(ValueError, match="output_type 'latent' is for one window"):
        pipeline(image, task="single_image", num_frames=13, output_type="latent", window_frames=5)
    with pytest.raises(ValueError, match="4k \\+ 1 frames, got 12"):
        pipeline(image, task="single_image", num_frames=12, num_inference_steps=1)  # no window: one pass
