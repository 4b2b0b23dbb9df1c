"""Scoring one Sintel-sized sequence: 50 frames of 436 x 1024 ground truth, predictions at half resolution."""

import numpy as np
import pytest
from one4d_eval.depth import align_scale_shift_l1, evaluate_depth_sequence, valid_depth_mask

FRAMES, HEIGHT, WIDTH = 50, 436, 1024


@pytest.fixture(scope="module")
def sequence():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    gt = np.stack([5 + 3 * np.sin(xx / 97 + k) + yy / 80 for k in range(FRAMES)]).astype(np.float32)
    gt[:, :20] = 0.0  # invalid rows
    pred = (gt[:, ::2, ::2] - 0.7) / 2.5 * rng.uniform(0.9, 1.1, gt[:, ::2, ::2].shape).astype(np.float32)
    return pred, gt


def test_bench_align_scale_shift_l1_sintel_sequence(benchmark, sequence):
    _, gt = sequence
    rng = np.random.default_rng(1)
    pred = ((gt - 0.7) / 2.5 * rng.uniform(0.9, 1.1, gt.shape)).astype(np.float32)
    mask = valid_depth_mask(gt)
    scale, shift = benchmark.pedantic(
        align_scale_shift_l1, args=(pred, gt, mask), rounds=3, iterations=1, warmup_rounds=1
    )
    benchmark.extra_info.update({"valid_pixels": int(mask.sum()), "scale": scale, "shift": shift})
    assert scale == pytest.approx(2.5, rel=0.05)


def test_bench_evaluate_depth_sequence_with_resize(benchmark, sequence):
    pred, gt = sequence
    result = benchmark.pedantic(
        evaluate_depth_sequence, args=(pred, gt), kwargs={"clip_max": 70.0}, rounds=2, iterations=1
    )
    benchmark.extra_info.update({"abs_rel": result.scores.abs_rel, "delta_1_25": result.scores.delta_1_25})
    assert result.scores.abs_rel < 0.1
