import subprocess
import sys

import numpy as np
import pytest
from one4d_geometry import (
    axis_angle_to_matrix,
    c2w_to_extrinsics,
    camera_to_world,
    default_principal_point,
    extrinsics_to_c2w,
    intrinsics_matrix,
    invert_pose,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    orthonormalize,
    project,
    quaternion_to_matrix,
    rotation_angle_deg,
    unproject_depth,
    world_to_camera,
)


def random_rotations(n: int, seed: int = 0) -> np.ndarray:
    return axis_angle_to_matrix(np.random.default_rng(seed).normal(0, 1.0, (n, 3)))


def test_import_does_not_pull_in_torch():
    code = "import sys, one4d_geometry, one4d_geometry.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unproject_follows_the_papers_equation_pixel_by_pixel():
    rng = np.random.default_rng(1)
    depth = rng.uniform(1, 3, (4, 5))
    K = intrinsics_matrix(7.0, 8.0, 2.0, 1.5)
    R, o = random_rotations(1)[0], rng.normal(size=3)
    points = unproject_depth(depth, K, R, o)
    assert points.shape == (4, 5, 3)
    for v, u in [(0, 0), (3, 4), (2, 1)]:
        expected = R.T @ (depth[v, u] * np.linalg.solve(K, [u, v, 1.0])) + o
        np.testing.assert_allclose(points[v, u], expected, rtol=1e-12)
    camera = unproject_depth(depth, K)
    np.testing.assert_allclose(camera[..., 2], depth)  # depth is camera z, not ray length


def test_unproject_then_project_returns_pixels_and_depth():
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.5, 4.0, (3, 6, 7))
    K = np.stack([intrinsics_matrix(f, cx=3.0, cy=2.5) for f in (5.0, 6.0, 9.0)])
    R, o = random_rotations(3, seed=3), rng.normal(size=(3, 3))
    points = unproject_depth(depth, K, R, o).reshape(3, -1, 3)
    uv, z = project(points, K, R, o)
    v, u = np.mgrid[0:6, 0:7]
    np.testing.assert_allclose(uv[..., 0], np.broadcast_to(u.ravel(), (3, 42)), atol=1e-9)
    np.testing.assert_allclose(uv[..., 1], np.broadcast_to(v.ravel(), (3, 42)), atol=1e-9)
    np.testing.assert_allclose(z, depth.reshape(3, -1), rtol=1e-12)


def test_project_marks_points_behind_the_camera():
    uv, z = project(np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 2.0]]), intrinsics_matrix(10.0, cx=5, cy=5))
    assert np.all(np.isnan(uv[0])) and z[0] == -1.0
    np.testing.assert_allclose(uv[1], [10.0, 5.0])


def test_invalid_depth_stays_invalid():
    depth = np.array([[1.0, np.nan], [2.0, 3.0]])
    points = unproject_depth(depth, intrinsics_matrix(2.0))
    assert np.isnan(points[0, 1]).all() and np.isfinite(points[1]).all()


def test_world_camera_transforms_and_pose_inversion_round_trip():
    rng = np.random.default_rng(4)
    R, o = random_rotations(5, seed=5), rng.normal(size=(5, 3))
    points = rng.normal(size=(5, 10, 3))
    cam = world_to_camera(points, R, o)
    np.testing.assert_allclose(camera_to_world(cam, R, o), points, atol=1e-12)
    c2w = extrinsics_to_c2w(R, o)
    np.testing.assert_allclose(c2w[:, :3, :3], np.swapaxes(R, 1, 2))
    np.testing.assert_allclose(c2w[:, :3, 3], o)
    homogeneous = np.concatenate([cam, np.ones((5, 10, 1))], axis=-1)
    np.testing.assert_allclose(np.einsum("nij,npj->npi", c2w, homogeneous)[..., :3], points, atol=1e-12)
    w2c = invert_pose(c2w)
    np.testing.assert_allclose(w2c @ c2w, np.broadcast_to(np.eye(4), (5, 4, 4)), atol=1e-12)
    np.testing.assert_allclose(w2c[:, :3, :3], R, atol=1e-12)
    R2, o2 = c2w_to_extrinsics(c2w)
    np.testing.assert_allclose(R2, R)
    np.testing.assert_allclose(o2, o)


def test_rotation_conversions_round_trip():
    R = random_rotations(20, seed=6)
    q = matrix_to_quaternion(R)
    assert q.shape == (20, 4) and np.all(q[:, 3] >= 0)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0)
    np.testing.assert_allclose(quaternion_to_matrix(q), R, atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(-3.0 * q), R, atol=1e-12)  # sign and norm free
    np.testing.assert_allclose(axis_angle_to_matrix(matrix_to_axis_angle(R)), R, atol=1e-12)
    # x, y, z, w order: 90 degrees about z
    quarter = quaternion_to_matrix(np.array([0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)]))
    np.testing.assert_allclose(quarter @ [1.0, 0, 0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(
        rotation_angle_deg(R, R @ axis_angle_to_matrix([0, 0.01, 0])), 0.01 * 180 / np.pi
    )


def test_orthonormalize_gives_the_nearest_rotation():
    R = random_rotations(4, seed=7)
    noisy = R + 1e-3 * np.random.default_rng(8).normal(size=R.shape)
    fixed = orthonormalize(noisy)
    np.testing.assert_allclose(
        fixed @ np.swapaxes(fixed, 1, 2), np.broadcast_to(np.eye(3), (4, 3, 3)), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(fixed), 1.0)
    assert np.all(rotation_angle_deg(fixed, R) < 0.2)


def test_principal_point_is_the_centre_of_integer_pixel_centres():
    assert default_principal_point(352, 624) == (311.5, 175.5)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="K must have shape"):
        unproject_depth(np.ones((2, 2)), np.eye(2))
    with pytest.raises(ValueError, match="R and o must be given together"):
        unproject_depth(np.ones((2, 2)), np.eye(3), R=np.eye(3))
    with pytest.raises(ValueError, match="focal lengths must be finite and positive"):
        intrinsics_matrix(-1.0)
    with pytest.raises(ValueError, match="quaternion has zero norm"):
        quaternion_to_matrix(np.zeros(4))
    with pytest.raises(ValueError, match="quaternion must have shape"):
        quaternion_to_matrix(np.ones(3))
    with pytest.raises(ValueError, match="c2w must have shape"):
        c2w_to_extrinsics(np.eye(3))
