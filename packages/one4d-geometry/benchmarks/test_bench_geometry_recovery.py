"""recover_cameras on the paper's clip size: 81 frames at 352 x 624 (17.8 M points)."""

import numpy as np
import pytest
from one4d_geometry import ate_rmse, recover_cameras, rotation_angle_deg
from one4d_geometry.synthetic import add_noise, synthetic_scene

FRAMES, HEIGHT, WIDTH, FOCAL = 81, 352, 624, 560.0


@pytest.fixture(scope="module")
def scene():
    return synthetic_scene(FRAMES, HEIGHT, WIDTH, focal=FOCAL, seed=0)


@pytest.mark.parametrize("kind", ["exact", "noisy"])
def test_bench_recover_cameras_paper_clip(benchmark, scene, kind):
    points = scene.pointmaps if kind == "exact" else add_noise(scene, 0.01, 0.05, seed=1)
    result = benchmark.pedantic(recover_cameras, args=(points,), rounds=2, iterations=1, warmup_rounds=0)
    median_depth = float(np.median(scene.depth))
    figures = {
        "focal_rel_error": float(np.abs(result.K[:, 0, 0] / FOCAL - 1).max()),
        "rotation_error_deg": float(rotation_angle_deg(result.R, scene.R).max()),
        "ate_over_median_depth": ate_rmse(result.o, scene.o) / median_depth,
        "depth_rel_error_median": float(np.median(np.abs(result.depth / scene.depth - 1))),
        "depth_rel_error_max": float(np.max(np.abs(result.depth / scene.depth - 1))),
        "gauss_newton_iterations": result.iterations,
        "wall_time_s_min": benchmark.stats.stats.min,
    }
    benchmark.extra_info.update(figures)
    print(f"\n{kind}: " + ", ".join(f"{k}={v:.3g}" for k, v in figures.items()))
    if kind == "exact":
        assert figures["focal_rel_error"] < 1e-3
        assert figures["rotation_error_deg"] < 0.01
        assert np.abs(result.o - scene.o).max() < 1e-4 * median_depth
        assert figures["depth_rel_error_max"] < 1e-4
    else:
        assert figures["focal_rel_error"] < 0.02
        assert figures["ate_over_median_depth"] < 0.01
