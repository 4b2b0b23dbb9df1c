"""recover_cameras on the paper's clip size: 81 frames at 352 x 624 (17.8 M points).

`test_bench_recover_cameras_paper_clip`: exact input and depth noise with a few outliers.
`test_bench_robustness`: 1 % isotropic noise with 0-40 % of the points replaced by gross errors, and a wrong
region (the top third of every frame stuck to the first frame's view, farther away), for the robust method,
the plain L1 fit that preceded it (``robust=False``) and Adam on the paper's objective (`adam_recover`
below, written here as a reference, not part of the library). The module prints the table at the end.
"""

import time

import numpy as np
import pytest
from one4d_geometry import (
    CameraRecovery,
    ate_rmse,
    axis_angle_to_matrix,
    default_principal_point,
    estimate_focal,
    orthonormalize,
    recover_cameras,
    rotation_angle_deg,
)
from one4d_geometry.recovery import depth_along_rays
from one4d_geometry.synthetic import add_noise, stuck_region, synthetic_scene

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
    assert result.quality.is_camera_view and not result.quality.problems()
    if kind == "exact":
        assert figures["focal_rel_error"] < 1e-3
        assert figures["rotation_error_deg"] < 0.01
        assert np.abs(result.o - scene.o).max() < 1e-4 * median_depth
        assert figures["depth_rel_error_max"] < 1e-4
    else:
        assert figures["focal_rel_error"] < 0.02
        assert figures["ate_over_median_depth"] < 0.01


# --- Robustness: the new method, the plain L1 fit and Adam on the paper's objective, side by side ---------

CASES = ["0 %", "10 %", "20 %", "30 %", "40 %", "stuck third"]
POINT_NOISE = 0.01  # isotropic, relative to depth: moves points off their rays, unlike depth noise


def corrupted(scene, case: str) -> np.ndarray:
    """1 % noise, then `case`: that share of pixels replaced by points anywhere in the scene, or the top
    third of every frame stuck to the first frame's view."""
    if case == "stuck third":
        return stuck_region(scene, add_noise(scene, 0.0, 0.0, seed=1, point_noise=POINT_NOISE))
    share = float(case.rstrip(" %")) / 100
    return add_noise(scene, 0.0, share, seed=1, point_noise=POINT_NOISE, outliers="replace")


def _vee(m: np.ndarray) -> np.ndarray:
    return np.stack(
        [m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1
    )


def paper_objective(points, pixels, R, o, log_focal, depth, smoothness):
    """Value and gradients (rotation in world axes, R <- R exp([d]x); centre; log focal; depth) of the
    paper's post-optimization objective on sampled pixels: the mean over frames and pixels of
    |X - o - D R^T K^-1 [u, v, 1]| plus smoothness x sum_i (|R_i^T R_i+1 - I|_F + |o_i+1 - o_i|)."""
    n, m, _ = points.shape
    focal = np.exp(log_focal)
    rays = np.concatenate([pixels / focal, np.ones((n, m, 1))], axis=-1)  # camera axes
    world_rays = rays @ R  # rows R^T ray
    error = points - o[:, None] - depth[..., None] * world_rays
    norm = np.linalg.norm(error, axis=-1)
    a = 1.0 / (n * m)
    value = a * norm.sum()
    unit = error / np.maximum(norm, 1e-12)[..., None]
    g_depth = -a * np.sum(unit * world_rays, axis=-1)
    g_centre = -a * unit.sum(axis=1)
    g_rotation = a * np.sum(depth[..., None] * np.cross(world_rays, unit), axis=1)
    unit_camera = unit @ np.swapaxes(R, 1, 2)
    g_log_focal = a * np.sum(depth * np.sum(unit_camera[..., :2] * pixels / focal, axis=-1))
    if smoothness > 0 and n > 1:
        relative = np.swapaxes(R[:-1], 1, 2) @ R[1:]
        difference = relative - np.eye(3)
        size = np.linalg.norm(difference, axis=(1, 2))
        direction = difference / np.maximum(size, 1e-12)[:, None, None]
        g_rotation[1:] += smoothness * _vee(np.swapaxes(relative, 1, 2) @ direction)
        g_rotation[:-1] -= smoothness * _vee(direction @ np.swapaxes(relative, 1, 2))
        step = o[1:] - o[:-1]
        length = np.linalg.norm(step, axis=1)
        step_unit = step / np.maximum(length, 1e-12)[:, None]
        g_centre[1:] += smoothness * step_unit
        g_centre[:-1] -= smoothness * step_unit
        value += smoothness * (size.sum() + length.sum())
    return value, g_rotation, g_centre, g_log_focal, g_depth


def adam_recover(pointmaps, iterations=300, lr=0.01, sample_size=2048, smoothness=0.01, seed=0):
    """Gradient-descent baseline: Adam (cosine-decayed learning rate, as DUSt3R's global alignment) on
    `paper_objective` over rotations, centres, a shared focal and the depth of `sample_size` random pixels
    per frame, in the scene normalised to unit size as `recover_cameras` does; then closed-form depth.

    Start: every camera at the first one (the clip's world frame), the focal from the first frame's points
    (Weiszfeld), each pixel's depth its point's z. On every pixel instead of a sample each step would cost
    about 100x more; the cameras are what is compared."""
    n, h, w, _ = pointmaps.shape
    cx, cy = default_principal_point(h, w)
    rng = np.random.default_rng(seed)
    index = np.stack([rng.choice(h * w, sample_size, replace=False) for _ in range(n)])
    points = np.take_along_axis(pointmaps.reshape(n, -1, 3), index[..., None], axis=1).astype(np.float64)
    pixels = np.stack([index % w - cx, index // w - cy], axis=-1).astype(np.float64)
    centre = np.median(points.reshape(-1, 3), axis=0)
    scale = float(np.median(np.linalg.norm(points.reshape(-1, 3) - centre, axis=1)))
    normalized = (points - centre) / scale
    R = np.tile(np.eye(3), (n, 1, 1))
    params = [
        np.zeros((n, 3)),  # rotation step (applied to R, not accumulated)
        np.tile(-centre / scale, (n, 1)),  # centres
        np.array(np.log(estimate_focal(pointmaps[0]))),
        np.maximum(points[..., 2] / scale, 1e-3),  # depth
    ]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    beta1, beta2 = 0.9, 0.999
    for t in range(1, iterations + 1):
        rate = lr * 0.5 * (1 + np.cos(np.pi * (t - 1) / iterations))
        grads = paper_objective(normalized, pixels, R, params[1], params[2], params[3], smoothness)[1:]
        for k, grad in enumerate(grads):
            first[k] = beta1 * first[k] + (1 - beta1) * grad
            second[k] = beta2 * second[k] + (1 - beta2) * grad**2
            update = rate * (first[k] / (1 - beta1**t)) / (np.sqrt(second[k] / (1 - beta2**t)) + 1e-8)
            if k == 0:
                R = R @ axis_angle_to_matrix(-update)
            else:
                params[k] = params[k] - update
    K = np.tile(np.eye(3), (n, 1, 1))
    K[:, 0, 0] = K[:, 1, 1] = float(np.exp(params[2]))
    K[:, 0, 2], K[:, 1, 2] = cx, cy
    recovery = CameraRecovery(
        K=K,
        R=orthonormalize(R),
        o=params[1] * scale + centre,
        depth=np.empty((n, h, w), np.float32),
        residuals=np.full(n, np.nan),
        iterations=iterations,
    )
    recovery.depth = depth_along_rays(pointmaps, recovery)
    return recovery


def test_bench_paper_objective(benchmark):
    """One Adam step's objective and gradients at the benchmark's size, and the gradients' check."""
    rng = np.random.default_rng(0)
    size = (FRAMES, 2048)
    args = (
        rng.normal(size=(*size, 3)),
        100 * rng.normal(size=(*size, 2)),
        np.tile(np.eye(3), (FRAMES, 1, 1)),
    )
    benchmark.pedantic(
        paper_objective, args=(*args, np.zeros((FRAMES, 3)), 6.0, np.ones(size), 0.01), rounds=3, iterations=1
    )
    n, m, smoothness = 3, 20, 0.3
    points, pixels = rng.normal(size=(n, m, 3)), 30 * rng.normal(size=(n, m, 2))
    R, o = axis_angle_to_matrix(0.3 * rng.normal(size=(n, 3))), rng.normal(size=(n, 3))
    log_focal, depth = np.log(40.0), rng.uniform(1, 3, (n, m))
    _, g_rotation, g_centre, g_log_focal, g_depth = paper_objective(
        points, pixels, R, o, log_focal, depth, smoothness
    )

    def value(R=R, o=o, log_focal=log_focal, depth=depth):
        return paper_objective(points, pixels, R, o, log_focal, depth, smoothness)[0]

    eps = 1e-6
    for i in range(n):
        for k in range(3):
            d = np.zeros((n, 3))
            d[i, k] = eps
            turn = (value(R=R @ axis_angle_to_matrix(d)) - value(R=R @ axis_angle_to_matrix(-d))) / (2 * eps)
            shift = (value(o=o + d) - value(o=o - d)) / (2 * eps)
            assert turn == pytest.approx(g_rotation[i, k], abs=1e-7)
            assert shift == pytest.approx(g_centre[i, k], abs=1e-7)
    zoom = (value(log_focal=log_focal + eps) - value(log_focal=log_focal - eps)) / (2 * eps)
    assert zoom == pytest.approx(g_log_focal, abs=1e-7)
    d = np.zeros((n, m))
    d[1, 3] = eps
    assert (value(depth=depth + d) - value(depth=depth - d)) / (2 * eps) == pytest.approx(
        g_depth[1, 3], abs=1e-7
    )


@pytest.fixture(scope="module")
def table():
    rows: dict[str, dict[str, tuple[float, float, float]]] = {}
    yield rows
    if not rows:
        return
    methods = ["robust (default)", "plain L1 (robust=False)", "Adam, 300 steps"]
    print("\n\n| gross errors | " + " | ".join(f"{m}: rotation / focal / time" for m in methods) + " |")
    print("|---|" + "---|" * len(methods))
    for case, results in rows.items():
        cells = [f"{r:.3g} deg / {f:.3g} % / {t:.2f} s" for r, f, t in (results[m] for m in methods)]
        print(f"| {case} | " + " | ".join(cells) + " |")


def _errors(result, scene) -> tuple[float, float]:
    rotation = float(rotation_angle_deg(result.R, scene.R).max())
    return rotation, float(100 * np.abs(result.focal / FOCAL - 1).max())


@pytest.mark.parametrize("case", CASES)
def test_bench_robustness(benchmark, scene, table, case):
    points = corrupted(scene, case)
    result = benchmark.pedantic(recover_cameras, args=(points,), rounds=1, iterations=1, warmup_rounds=0)
    row = {"robust (default)": (*_errors(result, scene), benchmark.stats.stats.min)}
    for name, method in (
        ("plain L1 (robust=False)", lambda: recover_cameras(points, robust=False)),
        ("Adam, 300 steps", lambda: adam_recover(points)),
    ):
        start = time.perf_counter()
        other = method()
        row[name] = (*_errors(other, scene), time.perf_counter() - start)
    table[case] = row
    benchmark.extra_info.update(
        {f"{k}: {v}": x for k, r in row.items() for v, x in zip(("rot", "focal", "s"), r, strict=True)}
    )
    print(f"\n{case}: " + "; ".join(f"{k} {r:.3g} deg, {f:.3g} %, {t:.2f} s" for k, (r, f, t) in row.items()))
    rotation, focal = row["robust (default)"][:2]
    assert rotation < 1.0 and focal < 5.0
    assert result.quality.is_camera_view
