"""Novel-view rendering (`one4d_model.viz.render`, `one4d-render`) on tiny exact scenes."""

import json

import numpy as np
import pytest
from one4d_geometry import extrinsics_to_c2w, intrinsics_matrix, unproject_depth, write_tum
from one4d_geometry.synthetic import synthetic_scene
from one4d_model.cli.render import main
from one4d_model.errors import ModelError
from one4d_model.viz.render import (
    camera_path,
    default_intrinsics,
    dolly_trajectory,
    focus_depth,
    orbit_trajectory,
    render_intrinsics,
    render_trajectory,
    spiral_trajectory,
    splat,
)
from one4d_model.viz.scene import Scene4D

F, H, W = 4, 24, 32


def smooth_frames(count: int, height: int, width: int) -> np.ndarray:
    """Colour gradients that survive H.264's 4:2:0 chroma subsampling."""
    v, u = np.mgrid[0:height, 0:width]
    frames = np.empty((count, height, width, 3), np.uint8)
    for i in range(count):
        frames[i, ..., 0] = 40 + 160 * u / (width - 1)
        frames[i, ..., 1] = 40 + 160 * v / (height - 1)
        frames[i, ..., 2] = 60 + 40 * i
    return frames


def exact_scene(frames: np.ndarray | None = None, seed: int = 0):
    """A Scene4D of exact pointmaps (about 10 % invalid) with the cameras that took each frame."""
    truth = synthetic_scene(F, H, W, focal=30.0, seed=seed)
    rng = np.random.default_rng(seed)
    if frames is None:
        frames = rng.integers(0, 256, (F, H, W, 3), dtype=np.uint8)
    valid = rng.random((F, H, W)) > 0.1
    pointmaps = np.where(valid[..., None], truth.pointmaps, np.nan).astype(np.float32)
    c2w = extrinsics_to_c2w(truth.R, truth.o)
    return Scene4D(frames, pointmaps, valid, c2w=c2w, K=truth.K, depth=truth.depth), truth


def test_exact_pointmaps_rendered_from_their_cameras_reproduce_the_frames():
    scene, truth = exact_scene()
    assert not np.allclose(scene.c2w[1:], np.eye(4))  # the cameras really move
    rendered = render_trajectory(scene, scene.c2w, scene.K, point_size=1, progress=False, background=7)
    for i in range(F):
        valid = scene.valid[i]
        np.testing.assert_array_equal(rendered[i][valid], scene.frames[i][valid])
        # Each point lands on its own pixel: holes stay background; depth is the true depth.
        assert np.all(rendered[i][~valid] == 7)
        image, depth = splat(*scene.points(i), scene.c2w[i], scene.K[i], H, W)
        np.testing.assert_allclose(depth[valid], truth.depth[i][valid], rtol=1e-5)
        assert np.all(np.isinf(depth[~valid]))


def test_z_buffer_keeps_the_nearest_point_in_any_order():
    K = intrinsics_matrix(10.0, cx=2.0, cy=2.0)
    near, far = np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, 3.0])  # both onto pixel (2, 2)
    red, blue = np.array([255, 0, 0], np.uint8), np.array([0, 0, 255], np.uint8)
    for points, colors in (([near, far], [red, blue]), ([far, near], [blue, red])):
        image, depth = splat(np.stack(points), np.stack(colors), np.eye(4), K, 5, 5)
        assert image[2, 2].tolist() == [255, 0, 0]
        assert depth[2, 2] == pytest.approx(1.0)
        assert np.isinf(depth).sum() == 24 and (image.reshape(-1, 3) != 0).any(axis=1).sum() == 1
    # 3 x 3 splats: a near one centred on (3, 3) covers the far one's (2, 2) where they overlap.
    near = np.array([0.1, 0.1, 1.0])
    for order in ([0, 1], [1, 0]):
        points, colors = np.stack([near, far])[order], np.stack([red, blue])[order]
        image, depth = splat(points, colors, np.eye(4), K, 5, 5, point_size=3)
        assert (image[2:5, 2:5] == red).all()
        assert (image[1:4, 1:4] == blue).all(axis=-1).sum() == 5
        assert np.isfinite(depth).sum() == 14 and (depth[2:5, 2:5] == np.float32(1.0)).all()
    # Points behind the camera are dropped.
    image, depth = splat(-np.stack([near]), np.stack([red]), np.eye(4), K, 5, 5)
    assert np.isinf(depth).all() and not image.any()


def test_sideways_camera_shifts_a_plane_by_focal_times_baseline_over_depth():
    focal, z, tx = 20.0, 4.0, 0.6  # shift = 20 * 0.6 / 4 = 3 pixels
    K = intrinsics_matrix(focal, cx=(W - 1) / 2, cy=(H - 1) / 2)
    points = unproject_depth(np.full((H, W), z), K).reshape(-1, 3)
    colors = np.zeros((H, W, 3), np.uint8)
    colors[..., 0] = np.arange(W) * 7  # a distinct colour per column
    colors[..., 1] = np.arange(H)[:, None] * 9
    c2w = np.eye(4)
    c2w[0, 3] = tx  # camera moves right: the plane moves left
    image, depth = splat(points, colors.reshape(-1, 3), c2w, K, H, W)
    np.testing.assert_array_equal(image[:, : W - 3], colors[:, 3:])
    assert np.isinf(depth[:, W - 3 :]).all() and np.isfinite(depth[:, : W - 3]).all()


def _centres_and_axes(c2w):
    return c2w[:, :3, 3], c2w[:, :3, 2]


@pytest.mark.parametrize("make", [orbit_trajectory, spiral_trajectory, dolly_trajectory])
def test_preset_paths_start_at_the_first_camera_with_rigid_poses(make):
    path = make(9, 2.0, 0.3 if make is not orbit_trajectory else 20.0)
    assert path.shape == (9, 4, 4)
    np.testing.assert_allclose(path[0], np.eye(4), atol=1e-12)
    rotations = path[:, :3, :3]
    np.testing.assert_allclose(
        rotations @ rotations.transpose(0, 2, 1), np.tile(np.eye(3), (9, 1, 1)), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-12)
    np.testing.assert_array_equal(path[:, 3], np.tile([0.0, 0.0, 0.0, 1.0], (9, 1)))
    assert np.ptp(path[:, :3, 3], axis=0).max() > 0.1  # it moves


def test_orbit_and_spiral_look_at_the_focus_point_and_dolly_goes_straight():
    focus = 2.0
    target = np.array([0.0, 0.0, focus])
    orbit = orbit_trajectory(9, focus, amplitude_deg=20.0)
    centres, axes = _centres_and_axes(orbit)
    np.testing.assert_allclose(np.linalg.norm(centres - target, axis=1), focus, rtol=1e-12)  # on a circle
    np.testing.assert_allclose(centres + focus * axes, np.tile(target, (9, 1)), atol=1e-12)
    yaw = np.degrees(np.arctan2(axes[:, 0], axes[:, 2]))
    assert yaw.max() == pytest.approx(20.0, abs=0.5) and yaw.min() == pytest.approx(-20.0, abs=0.5)
    np.testing.assert_allclose(orbit[:, 1, :3], np.tile([0.0, 1.0, 0.0], (9, 1)), atol=1e-12)  # no roll

    spiral = spiral_trajectory(9, focus, radius=0.1)
    centres, axes = _centres_and_axes(spiral)
    to_target = (target - centres) / np.linalg.norm(target - centres, axis=1, keepdims=True)
    np.testing.assert_allclose(axes, to_target, atol=1e-12)
    assert np.abs(centres[:, :2]).max() <= 2 * 0.1 * focus + 1e-12 and centres[:, 2].max() > 0.15

    dolly = dolly_trajectory(9, focus, fraction=0.25)
    np.testing.assert_allclose(dolly[:, :3, :3], np.tile(np.eye(3), (9, 1, 1)))
    assert np.all(dolly[:, :2, 3] == 0) and dolly[:, 2, 3].max() == pytest.approx(0.5)
    assert dolly[-1, 2, 3] == pytest.approx(0.0, abs=1e-12)


def test_intrinsics_focus_and_original_path():
    scene, truth = exact_scene()
    np.testing.assert_array_equal(render_intrinsics(scene), truth.K[0])
    valid = scene.valid[0]
    assert focus_depth(scene) == pytest.approx(np.median(truth.depth[0][valid]), rel=1e-6)
    np.testing.assert_array_equal(camera_path(scene, "original"), scene.c2w)
    bare = Scene4D(scene.frames, scene.pointmaps, scene.valid)
    K = default_intrinsics(H, W)
    assert K[0, 0] == pytest.approx((W / 2) / np.tan(np.radians(30))) and K[0, 0] == K[1, 1]
    assert (K[0, 2], K[1, 2]) == ((W - 1) / 2, (H - 1) / 2)
    np.testing.assert_array_equal(render_intrinsics(bare), K)
    with pytest.raises(ModelError, match="no recovered cameras"):
        camera_path(bare, "original")


def write_output_folder(folder, scene: Scene4D) -> None:
    folder.mkdir()
    np.savez_compressed(
        folder / "pointmaps.npz", pointmaps=scene.pointmaps, valid=scene.valid, frames=scene.frames
    )
    write_tum(folder / "trajectory.txt", np.arange(F, dtype=float), scene.c2w)
    (folder / "intrinsics.json").write_text(json.dumps({"K": scene.K.tolist()}))


def read_mp4(path) -> np.ndarray:
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return np.stack(frames)


def test_cli_renders_the_recovered_path_to_an_mp4(tmp_path, capsys):
    pytest.importorskip("av")
    scene, _ = exact_scene(frames=smooth_frames(F, H, W))
    folder = tmp_path / "gen"
    write_output_folder(folder, scene)
    code = main([str(folder), "--trajectory", str(folder / "trajectory.txt"), "--no-progress"])
    assert code == 0
    out = folder / "novel_trajectory.mp4"
    assert capsys.readouterr().out.strip() == f"one4d-render: wrote {out}"
    decoded = read_mp4(out)
    assert decoded.shape == (F, H, W, 3)
    valid = scene.valid
    error = np.abs(decoded.astype(int) - scene.frames.astype(int))[valid].mean()
    assert error < 6  # H.264 is lossy; a wrong camera or a broken splat is off by tens of levels
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_cli_preset_with_explicit_out(tmp_path):
    pytest.importorskip("av")
    scene, _ = exact_scene()
    folder = tmp_path / "gen"
    write_output_folder(folder, scene)
    out = tmp_path / "orbit.mp4"
    assert (
        main([str(folder), "--trajectory", "orbit", "--out", str(out), "--point-size", "2", "--no-progress"])
        == 0
    )
    decoded = read_mp4(out)
    assert decoded.shape == (F, H, W, 3) and decoded.reshape(F, -1).std(axis=1).min() > 10


def test_cli_errors_are_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main([str(missing), "--trajectory", "orbit"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("one4d-render: error:") and str(missing) in err
    assert "Traceback" not in err

    scene, _ = exact_scene()
    folder = tmp_path / "gen"
    write_output_folder(folder, scene)
    short = tmp_path / "short.txt"
    write_tum(short, np.arange(F - 1, dtype=float), scene.c2w[:-1])
    assert main([str(folder), "--trajectory", str(short)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(short) in err and f"{F - 1} poses" in err and f"{F} frames" in err
    assert not list(folder.glob("*.mp4"))

    assert main([str(folder), "--trajectory", "circle"]) == 2
    assert "'circle'" in capsys.readouterr().err


@pytest.mark.gpu
def test_cuda_splat_matches_cpu():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    scene, _ = exact_scene()
    path = orbit_trajectory(F, focus_depth(scene), 10.0)
    for i in range(F):
        cpu = splat(*scene.points(i), path[i], scene.K[i], H, W, point_size=2)
        gpu = splat(*scene.points(i), path[i], scene.K[i], H, W, point_size=2, device="cuda")
        np.testing.assert_array_equal(gpu[0], cpu[0])
        np.testing.assert_allclose(gpu[1], cpu[1], rtol=1e-5)
