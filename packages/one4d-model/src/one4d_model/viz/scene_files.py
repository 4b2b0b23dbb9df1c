"""The generated scene in common formats: `scene.ply` (the valid points of every few frames, coloured) and
`scene.glb` (the same points with the recovered camera frustums and trajectory, through trimesh).

glTF is y-up with the camera looking down -z, while the pointmaps are in the first camera's OpenCV frame
(y down, z forward); the GLB is turned 180 degrees about x so the scene opens upright in common viewers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from one4d_geometry.files import atomic_write_bytes
from one4d_geometry.ply import write_ply

from .scene import Scene4D

OPENCV_TO_GLTF = np.diag([1.0, -1.0, -1.0, 1.0])
FRUSTUM_COLOR = (255, 64, 32, 255)
TRAJECTORY_COLOR = (32, 128, 255, 255)


def write_scene_ply(path: str | Path, scene: Scene4D, frame_stride: int = 1, pixel_stride: int = 1) -> int:
    """The merged point cloud as a binary PLY; returns the number of points."""
    points, colors = scene.merged_points(frame_stride, pixel_stride)
    write_ply(path, points, colors)
    return len(points)


def frustum_lines(c2w: np.ndarray, K: np.ndarray, image_size: tuple[int, int], depth: float) -> np.ndarray:
    """(8, 2, 3) line segments of a camera frustum: centre to the four image corners at z = `depth`, and the
    image rectangle."""
    height, width = image_size
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    rays = np.linalg.solve(K, np.concatenate([corners, np.ones((4, 1))], axis=1).T).T  # z = 1
    world = (c2w[:3, :3] @ (rays * depth).T).T + c2w[:3, 3]
    centre = c2w[:3, 3]
    spokes = [(centre, corner) for corner in world]
    rim = [(world[i], world[(i + 1) % 4]) for i in range(4)]
    return np.array(spokes + rim)


def write_scene_glb(
    path: str | Path,
    scene: Scene4D,
    frame_stride: int = 1,
    pixel_stride: int = 1,
    frustum_depth: float | None = None,
) -> int:
    """Points, and when the scene has cameras, a frustum per frame (`frustum_depth` deep, default a tenth of
    the points' median distance from the first camera) and the trajectory; returns the number of points."""
    import trimesh

    points, colors = scene.merged_points(frame_stride, pixel_stride)
    glb = trimesh.Scene()
    alpha = np.full((len(colors), 1), 255, np.uint8)
    glb.add_geometry(
        trimesh.PointCloud(points, colors=np.concatenate([colors, alpha], axis=1)), geom_name="points"
    )
    if scene.has_cameras:
        if frustum_depth is None:
            distances = np.linalg.norm(points, axis=1)
            frustum_depth = 0.1 * float(np.median(distances)) if len(distances) else 0.1
        frustums = np.concatenate(
            [
                frustum_lines(c2w, K, scene.image_size, frustum_depth)
                for c2w, K in zip(scene.c2w, scene.K, strict=True)
            ]
        )
        glb.add_geometry(_lines(trimesh, frustums, FRUSTUM_COLOR), geom_name="cameras")
        centres = scene.c2w[:, :3, 3]
        if len(centres) > 1:
            path_segments = np.stack([centres[:-1], centres[1:]], axis=1)
            glb.add_geometry(_lines(trimesh, path_segments, TRAJECTORY_COLOR), geom_name="trajectory")
    glb.apply_transform(OPENCV_TO_GLTF)
    atomic_write_bytes(path, glb.export(file_type="glb"))
    return len(points)


def _lines(trimesh, segments: np.ndarray, color: tuple[int, int, int, int]):
    path = trimesh.load_path(segments)
    path.colors = np.tile(np.array(color, np.uint8), (len(path.entities), 1))
    return path
