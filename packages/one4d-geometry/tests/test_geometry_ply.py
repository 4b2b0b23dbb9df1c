import numpy as np
import pytest
from one4d_geometry.ply import read_ply, write_ply


def test_ply_round_trip_drops_non_finite_points(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 3)).astype(np.float32)
    colors = rng.integers(0, 256, (50, 3), dtype=np.uint8)
    points[7] = np.nan
    write_ply(tmp_path / "a.ply", points, colors)
    assert (
        (tmp_path / "a.ply")
        .read_bytes()
        .startswith(b"ply\nformat binary_little_endian 1.0\nelement vertex 49\n")
    )
    got_points, got_colors = read_ply(tmp_path / "a.ply")
    keep = np.arange(50) != 7
    assert np.array_equal(got_points, points[keep]) and np.array_equal(got_colors, colors[keep])
    write_ply(tmp_path / "grey.ply", points[:3])
    assert np.all(read_ply(tmp_path / "grey.ply")[1] == 200)


def test_ply_errors(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_ply(tmp_path / "b.ply", np.zeros((4, 3)), np.zeros((4, 3)))
    (tmp_path / "c.ply").write_bytes(b"not a ply")
    with pytest.raises(ValueError, match="not a PLY"):
        read_ply(tmp_path / "c.ply")
