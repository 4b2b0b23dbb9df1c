"""Developer sessions. Every session runs in the workspace's locked environment through `uv run --locked`,
so the versions tested are exactly the versions in uv.lock.

    uv run nox -s tests       # CPU test suite of all packages (what CI runs)
    uv run nox -s tests_gpu   # tests marked gpu (skips without a CUDA device)
    uv run nox -s bench       # pytest-benchmark suites on the CPU
    uv run nox -s bench_gpu   # GPU benchmarks (skips without a CUDA device)
    uv run nox -s lint        # ruff check + format check
    uv run nox -s ablation    # the paper's coupling ablation on the tiny One4D (about half an hour on a CPU)
    uv run nox -s sanity      # fine-tune on one clip and score it: proves the whole chain in minutes
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "none"

ROOT = Path(__file__).parent
PACKAGES = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())


def _dirs(kind: str) -> list[str]:
    return [str(p / kind) for p in PACKAGES if (p / kind).is_dir()]


def _uv_run(session: nox.Session, *args: str) -> None:
    session.run("uv", "run", "--locked", *args, external=True)


def _require_cuda(session: nox.Session) -> None:
    probe = "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)"
    try:
        session.run("uv", "run", "--locked", "python", "-c", probe, external=True, silent=True)
    except nox.command.CommandFailed:
        session.skip("no CUDA device visible to torch: GPU tests and benchmarks skipped")


@nox.session
def tests(session: nox.Session) -> None:
    """The CPU suite: every package's tests/, excluding tests marked gpu."""
    _uv_run(session, "pytest", *_dirs("tests"), "-m", "not gpu", *session.posargs)


@nox.session
def tests_gpu(session: nox.Session) -> None:
    """Tests marked gpu, on the visible CUDA device."""
    _require_cuda(session)
    _uv_run(
        session,
        "pytest",
        *_dirs("tests"),
        *_dirs("benchmarks"),
        "-m",
        "gpu",
        "--benchmark-disable",
        *session.posargs,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """CPU benchmarks (pytest-benchmark)."""
    _uv_run(session, "pytest", *_dirs("benchmarks"), "-m", "not gpu", "--benchmark-only", *session.posargs)


@nox.session
def bench_gpu(session: nox.Session) -> None:
    """GPU benchmarks at the paper's shapes (pytest-benchmark)."""
    _require_cuda(session)
    _uv_run(session, "pytest", *_dirs("benchmarks"), "-m", "gpu", "--benchmark-only", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check over the whole workspace."""
    _uv_run(session, "ruff", "check", ".")
    _uv_run(session, "ruff", "format", "--check", ".")


@nox.session
def ablation(session: nox.Session) -> None:
    """dlc / channel / spatial fine-tuned on the same frozen tiny base, one table (one4d-ablate)."""
    _uv_run(session, "one4d-ablate", *session.posargs)


@nox.session
def sanity(session: nox.Session) -> None:
    """The tiny One4D fine-tuned on one clip and scored on it against fixed targets (one4d-sanity)."""
    _uv_run(session, "one4d-sanity", *session.posargs)
