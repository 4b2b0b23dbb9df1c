"""The 4D viewer (`one4d-view`): scene nodes and controls in-process, the CLI's errors, and the page in a real
headless Chromium (Debian's `chromium`, driven by Playwright through tools/viewer_screenshot.py)."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest
from one4d_model.cli import view as view_cli
from one4d_model.errors import ModelError
from one4d_model.viz.scene import Scene4D, load_scene
from one4d_model.viz.viewer import Viewer, serve

pytest.importorskip("viser", reason="viser (the `viewer` extra of one4d-model) is not installed")

TOOL = Path(__file__).resolve().parents[4] / "tools" / "viewer_screenshot.py"
# Strongly coloured strips, unlike anything in viser's own page (white panel, blue controls, RGB axes icon).
MAGENTA, CYAN, YELLOW = (230, 40, 230), (40, 220, 220), (240, 220, 30)
HEIGHT, WIDTH, FOCAL, DEPTH = 24, 36, 30.0, 3.0


def plane_scene(num_frames: int = 3, cameras: bool = True) -> Scene4D:
    """A fronto-parallel plane at z = 3 in three vertical strips (magenta, cyan, yellow) in frame 0 and
    all yellow in the others; camera i sits at x = 0.2 i looking down +z. Exact pointmaps, all valid."""
    v, u = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    cx, cy = (WIDTH - 1) / 2, (HEIGHT - 1) / 2
    plane = np.stack([(u - cx) / FOCAL * DEPTH, (v - cy) / FOCAL * DEPTH, np.full_like(u, DEPTH)], axis=-1)
    pointmaps = np.repeat(plane[None], num_frames, axis=0).astype(np.float32)
    frames = np.empty((num_frames, HEIGHT, WIDTH, 3), np.uint8)
    frames[:] = YELLOW
    third = WIDTH // 3
    frames[0, :, :third], frames[0, :, third : 2 * third] = MAGENTA, CYAN
    valid = np.ones((num_frames, HEIGHT, WIDTH), bool)
    if not cameras:
        return Scene4D(frames, pointmaps, valid)
    c2w = np.tile(np.eye(4), (num_frames, 1, 1))
    c2w[:, 0, 3] = 0.2 * np.arange(num_frames)
    K = np.tile(np.array([[FOCAL, 0, cx], [0, FOCAL, cy], [0, 0, 1]]), (num_frames, 1, 1))
    return Scene4D(frames, pointmaps, valid, c2w=c2w, K=K)


def write_folder(folder: Path, scene: Scene4D) -> Path:
    """The files `one4d-generate` writes that `load_scene` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        folder / "pointmaps.npz", pointmaps=scene.pointmaps, valid=scene.valid, frames=scene.frames
    )
    if scene.has_cameras:
        from one4d_geometry import write_tum

        write_tum(folder / "trajectory.txt", np.arange(scene.num_frames, dtype=np.float64), scene.c2w)
        (folder / "intrinsics.json").write_text(json.dumps({"K": scene.K.tolist()}))
    return folder


@pytest.fixture
def viewer():
    started: list[Viewer] = []

    def start(source, **options) -> Viewer:
        started.append(serve(source, "127.0.0.1", 0, **options))
        return started[-1]

    yield start
    for each in started:
        each.stop()


def test_slider_shows_one_frame_and_highlights_its_camera(viewer) -> None:
    view = viewer(plane_scene(), stride=1)
    assert [cloud.visible for cloud in view.point_clouds] == [True, False, False]
    view.set_frame(2)
    assert view.frame == 2
    assert [cloud.visible for cloud in view.point_clouds] == [False, False, True]
    assert [tuple(f.color) for f in view.frustums].count(tuple(view.frustums[2].color)) == 1
    view.frame_slider.value = 1  # what the browser's slider does
    assert [cloud.visible for cloud in view.point_clouds] == [False, True, False]
    view.all_frames.value = True
    assert all(cloud.visible for cloud in view.point_clouds)
    view.show_cameras.value = False
    assert not any(f.visible for f in view.frustums) and not view.trajectory.visible
    with pytest.raises(ModelError, match="out of range"):
        view.set_frame(3)


def test_stride_and_point_size(viewer) -> None:
    scene = plane_scene()
    view = viewer(scene, stride=1, point_size=0.05)
    assert len(view.point_clouds[0].points) == HEIGHT * WIDTH
    view.set_stride(3)
    assert len(view.point_clouds[0].points) == (HEIGHT // 3) * (WIDTH // 3)
    np.testing.assert_array_equal(view.point_clouds[1].points, scene.points(1, 3)[0])
    np.testing.assert_array_equal(view.point_clouds[0].colors, scene.points(0, 3)[1])
    view.set_point_size(0.1)
    assert all(cloud.point_size == pytest.approx(0.1) for cloud in view.point_clouds)
    assert len(viewer(scene, stride=2).point_clouds[0].points) == (HEIGHT // 2) * (WIDTH // 2)
    with pytest.raises(ModelError, match="stride"):
        viewer(scene, stride=0)


def test_cameras_as_frustums_with_their_frames_and_initial_view(viewer, tmp_path) -> None:
    scene = load_scene(write_folder(tmp_path / "out", plane_scene()))
    view = viewer(tmp_path / "out")
    assert len(view.frustums) == scene.num_frames and view.trajectory is not None
    for index, frustum in enumerate(view.frustums):
        np.testing.assert_allclose(frustum.position, scene.c2w[index, :3, 3], atol=1e-6)
        np.testing.assert_allclose(np.abs(frustum.wxyz), [1, 0, 0, 0], atol=1e-6)  # identity rotation
        assert frustum.fov == pytest.approx(2 * np.arctan(HEIGHT / 2 / FOCAL))
        assert frustum.aspect == pytest.approx(WIDTH / HEIGHT)
        np.testing.assert_array_equal(frustum.image, scene.frames[index])
    np.testing.assert_allclose(view.trajectory.points, scene.c2w[:, :3, 3], atol=1e-6)
    camera = view.server.initial_camera
    direction = (camera.look_at - camera.position) / np.linalg.norm(camera.look_at - camera.position)
    np.testing.assert_allclose(direction, [0, 0, 1], atol=1e-6)  # along the first camera's +z, at the plane
    assert camera.look_at[2] == pytest.approx(DEPTH)


def test_folder_without_cameras_gives_points_only(viewer, tmp_path) -> None:
    folder = write_folder(tmp_path / "out", plane_scene(cameras=False))
    view = viewer(folder, stride=1)
    assert view.frustums == [] and view.trajectory is None and view.show_cameras is None
    assert len(view.point_clouds) == 3 and len(view.point_clouds[0].points) == HEIGHT * WIDTH


def test_playback_advances_frames(viewer) -> None:
    view = viewer(plane_scene(), fps=50.0, play=True)
    deadline = time.monotonic() + 5.0
    while view.frame == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    view.playing.value = False
    assert view.frame != 0
    assert sum(cloud.visible for cloud in view.point_clouds) == 1


def test_cli_errors_name_the_folder(tmp_path, capsys) -> None:
    missing = tmp_path / "no-such-run"
    assert view_cli.main([str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err and "no such folder" in err
    (tmp_path / "empty").mkdir()
    assert view_cli.main([str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pointmaps.npz" in err
    folder = write_folder(tmp_path / "out", plane_scene())
    assert view_cli.main([str(folder), "--stride", "0"]) == 2
    assert "stride" in capsys.readouterr().err


def test_cli_serves_until_ctrl_c(tmp_path, capsys, monkeypatch) -> None:
    folder = write_folder(tmp_path / "out", plane_scene())

    def interrupt() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(view_cli, "wait_forever", interrupt)
    assert view_cli.main([str(folder), "--port", "0"]) == 0
    out = capsys.readouterr().out
    assert "3 frames 36x24, with cameras" in out and "http://127.0.0.1:" in out


def _load_tool():
    spec = importlib.util.spec_from_file_location("viewer_screenshot", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _count(image: np.ndarray, color: tuple[int, int, int], tolerance: int = 40) -> int:
    return int((np.abs(image.astype(np.int16) - color).max(axis=-1) <= tolerance).sum())


def test_page_renders_the_points_in_headless_chromium(viewer, tmp_path) -> None:
    tool = _load_tool()
    reason = tool.browser_missing()
    if reason:
        pytest.skip(f"no headless browser: {reason}")
    view = viewer(plane_scene(), stride=1, point_size=0.12)
    log: list[str] = []
    # Each strip of the plane covers about 4 % of the page. The frustums' images carry the same colours but
    # cover much less (with the points hidden: magenta 0.3 %, cyan 0 %, yellow 1.3 %), so 1 % each needs
    # the points, and the frame switch below changes only which points are drawn.
    enough = 0.01 * 960 * 400

    with tool.open_page(view.url, width=960, height=400, log=log) as page:
        first, ok = tool.wait_for(
            page, lambda im: all(_count(im, c) > enough for c in (MAGENTA, CYAN, YELLOW))
        )
        counts = [_count(first, c) for c in (MAGENTA, CYAN, YELLOW)]
        if not ok:
            path = tmp_path / "frame0.png"
            _save(first, path)
            webgl = [line for line in log if line.startswith(("WebGL support", "WebGL unavailable"))]
            pytest.fail(
                f"frame 0's strips did not render: counts {counts} (need {enough:.0f}); {webgl}; {path}"
            )
        # Frame 1 is all yellow: magenta and cyan leave with frame 0's points, yellow grows.
        view.set_frame(1)
        second, ok = tool.wait_for(
            page,
            lambda im: _count(im, MAGENTA) < counts[0] / 4 and _count(im, YELLOW) > 2 * counts[2],
            timeout_s=20.0,
        )
        after = [_count(second, c) for c in (MAGENTA, CYAN, YELLOW)]
        assert ok, f"the slider did not switch the rendered points: before {counts}, after {after}"


def _save(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(image).save(path)
