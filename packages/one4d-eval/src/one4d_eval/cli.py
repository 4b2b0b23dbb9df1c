"""`one4d-eval`: score predictions on the protocol's depth and camera benchmarks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .protocols import BENCHMARKS


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
    parser.add_argument("--json", type=Path, help="also write the scores as JSON here")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from one4d_data.errors import DataError
    from tqdm.auto import tqdm

    from .runner import PredictionError, evaluate_benchmark, format_table, write_json

    try:
        result = evaluate_benchmark(
            args.benchmark,
            args.root,
            args.pred,
            sequences=args.sequences,
            alignment=args.alignment,
            progress=lambda items: tqdm(items, desc=args.benchmark, unit="sequence", disable=args.quiet),
        )
    except (PredictionError, DataError, ValueError) as error:
        print(f"one4d-eval: error: {error}", file=sys.stderr)
        return 2
    print(format_table(result))
    if args.sequences:
        print(f"\n(only {len(result.sequences)} of the benchmark's sequences: not the benchmark score)")
    if args.json:
        write_json(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
