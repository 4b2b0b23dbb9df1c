"""The 4D viewer behind `one4d-view`: a generated scene in viser (the viewer the One4D paper uses).

Every frame's points are one point cloud, and a time slider (with play/pause) shows one frame at a time, or
all of them together. When recovery wrote cameras, each frame also gets a camera frustum holding its RGB
frame, and the camera centres are joined into a trajectory line.

The world is the pointmaps' frame: the first camera's, OpenCV (x right, y down, z forward). viser draws
frustums in the same OpenCV convention (pose = camera-to-world as a wxyz quaternion and a position), so the
recovered `c2w` is used as it is; the scene's up direction is the first camera's -y, and the initial view
looks along the first camera's viewing direction at the scene.

viser is the optional `viewer` extra of one4d-model and is imported only when a viewer is built.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError
from .scene import Scene4D, load_scene

if TYPE_CHECKING:
    import viser

INSTALL_HINT = "pip install 'one4d-model[viewer]'"
CURRENT_CAMERA_COLOR = (255, 120, 0)
OTHER_CAMERA_COLOR = (60, 60, 60)
TRAJECTORY_COLOR = (30, 110, 230)
VIEW_FOV = np.deg2rad(60.0)  # initial view's vertical field of view (the recovered focal can be far off)


def import_viser() -> Any:
    """viser, or a ModelError that says how to install it."""
    try:
        import viser
    except ImportError as error:
        raise ModelError(f"the viewer needs viser ({error}): {INSTALL_HINT}") from None
    return viser


@dataclass
class Viewer:
    """A scene shown by a viser server: its scene nodes and GUI controls, and a playback thread.

    `point_clouds[i]` is frame i's point cloud; `frustums[i]` its camera (empty without cameras).
    Setting `frame_slider.value` (or calling `set_frame`) shows that frame, as the browser's slider does.
    """

    server: viser.ViserServer
    scene: Scene4D
    point_clouds: list[Any]
    frustums: list[Any]
    trajectory: Any | None
    frame_slider: Any
    playing: Any
    fps: Any
    stride_slider: Any
    point_size_slider: Any
    all_frames: Any
    show_cameras: Any | None
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        host = self.server.get_host()
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self.server.get_port()}"

    @property
    def frame(self) -> int:
        return int(self.frame_slider.value)

    @property
    def stride(self) -> int:
        return int(self.stride_slider.value)

    def set_frame(self, frame: int) -> None:
        if not 0 <= frame < self.scene.num_frames:
            raise ModelError(f"frame {frame} out of range: the scene has {self.scene.num_frames} frames")
        self.frame_slider.value = int(frame)  # its callback updates the scene

    def set_stride(self, stride: int) -> None:
        if stride < 1:
            raise ModelError(f"stride must be at least 1, got {stride}")
        self.stride_slider.value = int(stride)

    def set_point_size(self, size: float) -> None:
        if not size > 0:
            raise ModelError(f"point size must be positive, got {size}")
        self.point_size_slider.value = float(size)

    def stop(self) -> None:
        """Stop playback and the server (idempotent)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if not self._stopped:
            self._stopped = True
            self.server.stop()

    def _show(self) -> None:
        """Visibility and colours for the slider's frame and the display options."""
        with self._lock:
            current, every = self.frame, bool(self.all_frames.value)
            for index, cloud in enumerate(self.point_clouds):
                cloud.visible = every or index == current
            cameras = self.show_cameras is not None and bool(self.show_cameras.value)
            for index, frustum in enumerate(self.frustums):
                frustum.visible = cameras
                frustum.color = CURRENT_CAMERA_COLOR if index == current else OTHER_CAMERA_COLOR
            if self.trajectory is not None:
                self.trajectory.visible = cameras

    def _restride(self) -> None:
        with self._lock:
            for index, cloud in enumerate(self.point_clouds):
                points, colors = self.scene.points(index, self.stride)
                cloud.points, cloud.colors = points, colors

    def _resize_points(self) -> None:
        with self._lock:
            for cloud in self.point_clouds:
                cloud.point_size = float(self.point_size_slider.value)

    def _play(self) -> None:
        while not self._stop.wait(1.0 / max(float(self.fps.value), 0.1)):
            if self.playing.value and self.scene.num_frames > 1:
                self.frame_slider.value = (self.frame + 1) % self.scene.num_frames


def build_viewer(
    scene: Scene4D,
    server: viser.ViserServer,
    *,
    stride: int = 2,
    point_size: float = 0.01,
    fps: float = 8.0,
    play: bool = False,
) -> Viewer:
    """Add `scene` to a running viser server: point clouds, cameras, trajectory, controls, initial view,
    and start the playback thread (playing when `play`)."""
    if stride < 1:
        raise ModelError(f"stride must be at least 1, got {stride}")
    if not point_size > 0:
        raise ModelError(f"point size must be positive, got {point_size}")
    if not fps > 0:
        raise ModelError(f"fps must be positive, got {fps}")
    count = scene.num_frames
    c2w = scene.c2w if scene.has_cameras else None
    first = c2w[0] if c2w is not None else np.eye(4)
    center, radius = _extent(scene, c2w)

    server.scene.set_up_direction(-first[:3, 1])
    forward = first[:3, 2] / np.linalg.norm(first[:3, 2])
    server.initial_camera.fov = float(VIEW_FOV)
    server.initial_camera.look_at = center
    server.initial_camera.position = center - forward * (1.6 * radius / np.tan(VIEW_FOV / 2))
    server.initial_camera.near = float(radius * 1e-3)
    server.initial_camera.far = float(radius * 100.0)

    point_clouds = []
    for index in range(count):
        points, colors = scene.points(index, stride)
        point_clouds.append(
            server.scene.add_point_cloud(
                f"/points/frame_{index:04d}",
                points,
                colors,
                point_size=point_size,
                precision="float32",
                visible=index == 0,
            )
        )

    frustums, trajectory = [], None
    if c2w is not None:
        from viser.transforms import SO3

        height, width = scene.image_size
        for index in range(count):
            fy = float(scene.K[index, 1, 1])
            frustums.append(
                server.scene.add_camera_frustum(
                    f"/cameras/frame_{index:04d}",
                    fov=float(2.0 * np.arctan2(height / 2.0, fy)),
                    aspect=width / height,
                    scale=0.12 * radius,
                    thickness=2.0,
                    thickness_units="screen",
                    color=CURRENT_CAMERA_COLOR if index == 0 else OTHER_CAMERA_COLOR,
                    image=scene.frames[index],
                    format="jpeg",
                    wxyz=SO3.from_matrix(c2w[index, :3, :3]).wxyz,
                    position=c2w[index, :3, 3],
                )
            )
        if count > 1:
            trajectory = server.scene.add_spline_catmull_rom(
                "/trajectory",
                points=c2w[:, :3, 3],
                thickness=3.0,
                thickness_units="screen",
                color=TRAJECTORY_COLOR,
            )

    gui = server.gui
    with gui.add_folder("Playback"):
        frame_slider = gui.add_slider("Frame", min=0, max=count - 1, step=1, initial_value=0)
        playing = gui.add_checkbox("Playing", initial_value=play, disabled=count < 2)
        fps_number = gui.add_number("FPS", initial_value=float(fps), min=0.1, max=120.0, step=0.1)
        all_frames = gui.add_checkbox(
            "All frames", initial_value=False, hint="show every frame's points together"
        )
    with gui.add_folder("Display"):
        stride_slider = gui.add_slider(
            "Pixel stride", min=1, max=max(8, stride), step=1, initial_value=stride
        )
        point_size_slider = gui.add_slider(
            "Point size",
            min=point_size / 10.0,
            max=point_size * 10.0,
            step=point_size / 10.0,
            initial_value=point_size,
        )
        show_cameras = gui.add_checkbox("Cameras", initial_value=True) if c2w is not None else None

    viewer = Viewer(
        server=server,
        scene=scene,
        point_clouds=point_clouds,
        frustums=frustums,
        trajectory=trajectory,
        frame_slider=frame_slider,
        playing=playing,
        fps=fps_number,
        stride_slider=stride_slider,
        point_size_slider=point_size_slider,
        all_frames=all_frames,
        show_cameras=show_cameras,
    )
    for control in (frame_slider, all_frames, show_cameras):
        if control is not None:
            control.on_update(lambda _event: viewer._show())
    stride_slider.on_update(lambda _event: viewer._restride())
    point_size_slider.on_update(lambda _event: viewer._resize_points())
    viewer._thread = threading.Thread(target=viewer._play, name="one4d-view-playback", daemon=True)
    viewer._thread.start()
    return viewer


def serve(
    source: str | Path | Scene4D,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    stride: int = 2,
    point_size: float = 0.01,
    fps: float = 8.0,
    play: bool = False,
    verbose: bool = False,
) -> Viewer:
    """Start a viser server on host:port (port 0: any free one; viser moves on to the next port when the
    asked one is taken, `Viewer.url` says which) showing an output folder or a scene. Returns at once; the
    server runs in background threads until `Viewer.stop()`."""
    scene = source if isinstance(source, Scene4D) else load_scene(source)
    viser = import_viser()
    server = viser.ViserServer(host=host, port=port, label="One4D", verbose=verbose)
    try:
        return build_viewer(scene, server, stride=stride, point_size=point_size, fps=fps, play=play)
    except BaseException:
        server.stop()
        raise


def _extent(scene: Scene4D, c2w: np.ndarray | None) -> tuple[np.ndarray, float]:
    """A robust centre (median of the valid points) and radius (90th percentile distance from it, camera
    centres included) of the whole clip, from at most about 200k points."""
    step = max(1, int(np.sqrt(scene.valid.size / 200_000)))
    points = scene.pointmaps[:, ::step, ::step][scene.valid[:, ::step, ::step]].astype(np.float64)
    if c2w is not None:
        points = np.concatenate([points, c2w[:, :3, 3]])
    if len(points) == 0:
        return np.zeros(3), 1.0
    center = np.median(points, axis=0)
    radius = float(np.percentile(np.linalg.norm(points - center, axis=1), 90))
    return center, radius if radius > 1e-6 else 1.0
