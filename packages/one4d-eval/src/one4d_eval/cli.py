"""`one4d-eval`: score predictions on the protocol's depth and camera benchmarks."""

from __future__ import annotations

import argparse
import errno
from collections.abc import Iterable
from pathlib import Path

from one4d_geometry.cli_errors import run_cli

from .protocols import BENCHMARKS
from .runner import evaluate_benchmark, format_table, write_json


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="one4d-eval",
        description=(
            "Score predictions on a benchmark of the MonST3R / Geo4D protocol. PRED holds one folder per "
            "sequence with depth.npz and/or trajectory.txt, as `one4d-recover --out PRED/<sequence>` writes."
        ),
    )
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS), help="which benchmark")
    parser.add_argument("--root", type=Path, required=True, help="the dataset as downloaded")
    parser.add_argument("--pred", type=Path, required=True, help="the predictions folder")
    parser.add_argument("--sequences", nargs="+", help="only these sequences (default: the benchmark's)")
    parser.add_argument(
        "--alignment",
        choices=("scale_shift", "scale"),
        default="scale_shift",
        help="depth: per-sequence L1 scale-and-shift (default) or median scale",
    )
    parser.add_argument(
        "--json", type=Path, help="also write the scores as JSON here (atomically; its folder is created)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("one4d-eval", lambda: _evaluate(args))


def _check_json_target(path: Path) -> None:
    """Before scoring, so that a bad --json does not cost the run: its folder is created if missing."""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "--json names a folder; give the JSON file to write", str(path))
    for parent in path.parents:  # the nearest existing ancestor must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, f"not a folder, so --json {path} cannot be written", str(parent)
                )
            break
    path.parent.mkdir(parents=True, exist_ok=True)  # unwritable: PermissionError, one line from run_cli


def _evaluate(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    if args.json is not None:
        _check_json_target(args.json)
    bars: list[tqdm] = []

    def progress(items: Iterable[str]) -> Iterable[str]:
        bars.append(tqdm(items, desc=args.benchmark, unit="sequence", disable=args.quiet))
        return bars[-1]

    try:
        result = evaluate_benchmark(
            args.benchmark,
            args.root,
            args.pred,
            sequences=args.sequences,
            alignment=args.alignment,
            progress=progress,
        )
    finally:  # ends the bar's line, so that an error is printed on a line of its own
        for bar in bars:
            bar.close()
    print(format_table(result))
    if args.sequences:
        print(f"\n(only {len(result.sequences)} of the benchmark's sequences: not the benchmark score)")
    if args.json is not None:
        write_json(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
