import numpy as np
import pytest
from one4d_data.cameras import unproject_to_world
from one4d_data.synthetic import SCENES, TRAJECTORIES, make_clip


def test_same_seed_same_clip_and_different_seeds_differ():
    a = make_clip(3, 5, 24, 40)
    b = make_clip(3, 5, 24, 40)
    c = make_clip(4, 5, 24, 40)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.depth, b.depth)
    np.testing.assert_array_equal(a.c2w, b.c2w)
    assert a.caption == b.caption
    assert not np.array_equal(a.rgb, c.rgb)


@pytest.mark.parametrize("seed", range(6))
def test_depth_cameras_and_pointmaps_agree(seed):
    clip = make_clip(seed, 9, 32, 48)
    clip.validate()
    assert clip.rgb.shape == (9, 32, 48, 3) and clip.rgb.dtype == np.uint8
    np.testing.assert_allclose(clip.c2w[0], np.eye(4), atol=1e-12)
    # Rotations are proper.
    rot = clip.c2w[:, :3, :3]
    np.testing.assert_allclose(rot @ np.swapaxes(rot, 1, 2), np.broadcast_to(np.eye(3), rot.shape), atol=1e-9)
    expected = unproject_to_world(clip.depth, clip.K, clip.c2w)
    assert np.array_equal(np.isnan(expected), np.isnan(clip.pointmaps))
    scale = np.nanmax(np.abs(expected))
    np.testing.assert_allclose(clip.pointmaps[clip.valid], expected[clip.valid], atol=2e-6 * scale)
    assert np.array_equal(clip.valid, np.isfinite(clip.depth))
    assert np.all(clip.depth[clip.valid] > 0)
    # Dynamic pixels are a subset of valid ones.
    assert not np.any(clip.dynamic & ~clip.valid)


def test_static_points_project_consistently_across_frames():
    """A static surface point seen in frame 0 projects, in frame t, to where frame t sees the same depth."""
    clip = make_clip(11, 5, 48, 64, scene="room", num_objects=0, trajectory="dolly")
    pts = clip.pointmaps[0].reshape(-1, 3)
    t = 4
    w2c = np.linalg.inv(clip.c2w[t])
    cam = pts @ w2c[:3, :3].T + w2c[:3, 3]
    uvw = cam @ clip.K[t].T
    u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
    ui, vi = np.round(u).astype(int), np.round(v).astype(int)
    inside = (ui >= 1) & (ui < 63) & (vi >= 1) & (vi < 47) & (np.abs(u - ui) < 0.1) & (np.abs(v - vi) < 0.1)
    assert inside.sum() > 20
    seen = clip.depth[t][vi[inside], ui[inside]]
    np.testing.assert_allclose(seen, cam[inside, 2], rtol=0.05)


@pytest.mark.parametrize("trajectory", TRAJECTORIES)
@pytest.mark.parametrize("scene", SCENES)
def test_every_scene_and_trajectory_renders(scene, trajectory):
    clip = make_clip(1, 5, 16, 32, scene=scene, trajectory=trajectory, num_objects=3, num_dynamic=2)
    assert clip.source["scene"] == scene and clip.source["trajectory"] == trajectory
    assert clip.valid.mean() > 0.2
    if scene == "room":
        assert clip.valid.all()
    if trajectory == "static":
        np.testing.assert_allclose(clip.c2w, np.broadcast_to(np.eye(4), clip.c2w.shape), atol=1e-9)
    else:
        assert np.abs(clip.c2w[-1] - np.eye(4)).max() > 1e-3


def test_dynamic_mask_marks_moving_objects_only():
    moving = make_clip(5, 5, 32, 48, num_objects=3, num_dynamic=3, trajectory="static", scene="room")
    still = make_clip(5, 5, 32, 48, num_objects=3, num_dynamic=0, trajectory="static", scene="room")
    assert moving.dynamic.any()
    assert not still.dynamic.any()
    # A static camera looking at static objects sees identical frames.
    np.testing.assert_array_equal(still.rgb[0], still.rgb[-1])
    assert not np.array_equal(moving.rgb[0], moving.rgb[-1])


def test_same_scene_at_other_resolution_and_focal_option():
    small = make_clip(7, 5, 16, 24, focal=1.0)
    large = make_clip(7, 5, 32, 48, focal=1.0)
    np.testing.assert_allclose(small.c2w, large.c2w)
    np.testing.assert_allclose(small.K[:, 0, 0], 24.0)
    np.testing.assert_allclose(large.K[:, 0, 0], 48.0)


def test_varied_scenes_across_seeds():
    clips = [make_clip(s, 3, 16, 24) for s in range(12)]
    assert len({c.source["trajectory"] for c in clips}) >= 3
    assert len({round(float(c.K[0, 0, 0]), 3) for c in clips}) == 12
    depth_means = [np.nanmean(c.depth) for c in clips]
    assert np.std(depth_means) > 0.2


def test_bad_sizes_raise():
    with pytest.raises(ValueError, match="frames"):
        make_clip(0, 0, 16, 16)
    with pytest.raises(ValueError, match="trajectory"):
        make_clip(0, 3, 16, 16, trajectory="spiral")
