"""The laptop path beside other work: `one4d-generate` on a default-preset checkpoint (the run's sampling
defaults) and 50 steps of the default training, each alone and beside a CPU hog (a second process keeping
one core busy with torch matmuls), measured in one run; prints the slowdown ratios.

    uv run nox -s bench -- -k beside -s

Goal (issue 18): at most 2.5x slower beside one busy process on a 2-core machine. Without the yielding
thread policy (one4d_geometry.threads) it was 16x (generate) to 125x (sampling alone). Each command runs as
a user runs it, in a fresh process whose environment names no OpenMP policy, so what is measured is the
policy the CLIs set themselves.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

GOAL = 2.5
ROUNDS = 2
# The default preset's model, optimisation and sampling; fewer clips so that encoding them is quick.
SMALL_DATA = ["data.num_clips=16", "data.eval_clips=1"]
HOG = """
import torch
torch.set_num_threads(1)
a = torch.randn(384, 384)
while True:
    a = torch.tanh(a @ a)
"""


def _clean_env() -> dict[str, str]:
    """The caller's environment without OpenMP settings (pytest itself imported One4D, which set one)."""
    return {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}


def _cli(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _set(overrides: list[str]) -> list[str]:
    return [arg for override in overrides for arg in ("--set", override)]


def _run(args: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(args, env=_clean_env(), capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    return elapsed


@pytest.fixture(scope="module")
def default_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of the default preset's model (trained 2 steps: speed does not depend on the weights)."""
    out = tmp_path_factory.mktemp("default-run")
    _run([_cli("one4d-train"), "--output-dir", str(out), "--max-steps", "2", "--no-eval", *_set(SMALL_DATA)])
    return out


@pytest.fixture
def photo(tmp_path) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(path)
    return path


class CpuHog:
    """A second process keeping one core busy with one-thread torch work while the block runs."""

    def __enter__(self):
        env = {**_clean_env(), "OMP_NUM_THREADS": "1"}
        self.process = subprocess.Popen([sys.executable, "-c", HOG], env=env)
        time.sleep(3.0)  # torch imported and the loop running
        assert self.process.poll() is None, "the CPU hog died"
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def _alone_and_beside(benchmark, make_args, label: str) -> None:
    alone = [_run(make_args(f"alone-{i}")) for i in range(ROUNDS)]
    beside: list[float] = []
    with CpuHog():
        benchmark.pedantic(lambda: beside.append(_run(make_args(f"beside-{len(beside)}"))), rounds=ROUNDS)
    ratio = statistics.median(beside) / statistics.median(alone)
    benchmark.extra_info.update(
        {"alone_s": statistics.median(alone), "beside_hog_s": statistics.median(beside), "slowdown": ratio}
    )
    print(
        f"\n{label}: alone {statistics.median(alone):.1f} s, beside a busy process "
        f"{statistics.median(beside):.1f} s: {ratio:.2f}x (goal <= {GOAL}x; {os.cpu_count()} cores)"
    )
    assert ratio <= GOAL


def test_generate_beside_a_busy_process(benchmark, default_checkpoint, photo, tmp_path):
    def args(name):
        return [
            _cli("one4d-generate"),
            str(default_checkpoint),
            "--input",
            str(photo),
            "--out",
            str(tmp_path / name),
        ]

    _alone_and_beside(benchmark, args, "one4d-generate (single image, run defaults, every output)")


def test_default_training_beside_a_busy_process(benchmark, tmp_path):
    def args(name):
        out = str(tmp_path / name)
        return [_cli("one4d-train"), "--output-dir", out, "--max-steps", "50", "--no-eval", *_set(SMALL_DATA)]

    _alone_and_beside(benchmark, args, "one4d-train, 50 steps of the default preset")
