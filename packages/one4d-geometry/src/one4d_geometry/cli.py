"""``one4d-recover``: cameras and depth from pointmaps saved as .npy or .npz."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .cli_errors import run_cli
from .errors import GeometryError, RecoveryError
from .files import begin_outputs, finish_outputs, load_arrays
from .recovery import recover_cameras
from .recovery_files import write_recovery

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="one4d-recover",
        description="Recover per-frame intrinsics, camera poses and depth from N pointmaps (N, H, W, 3) in "
        "one world frame. Writes trajectory.txt (TUM, camera-to-world), intrinsics.json and depth.npz.",
    )
    parser.add_argument("pointmaps", type=Path, help=".npy array (N, H, W, 3) or .npz archive holding one")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument(
        "--key", default=None, help="array name in the .npz (default: 'pointmaps' or the only one)"
    )
    parser.add_argument("--mask", default=None, help="name of a boolean (N, H, W) validity mask in the .npz")
    parser.add_argument(
        "--confidence", default=None, help="name of an (N, H, W) confidence array in the .npz"
    )
    parser.add_argument(
        "--fit-mask",
        default=None,
        help="name of a boolean (N, H, W) array in the .npz: the points the cameras are fitted on (default: "
        "all valid points; depth is computed at every valid point either way)",
    )
    focal = parser.add_mutually_exclusive_group()
    focal.add_argument(
        "--shared-focal",
        dest="shared_focal",
        action="store_true",
        default=True,
        help="one focal length for all frames (default)",
    )
    focal.add_argument(
        "--per-frame-focal", dest="shared_focal", action="store_false", help="a focal length per frame"
    )
    parser.add_argument(
        "--principal-point",
        nargs=2,
        type=float,
        metavar=("CX", "CY"),
        default=None,
        help="default: image centre ((W - 1) / 2, (H - 1) / 2)",
    )
    parser.add_argument("--smoothness", type=float, default=0.01, help="trajectory smoothness weight")
    parser.add_argument("--iterations", type=int, default=30, help="maximum Gauss-Newton iterations")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="write the cameras even when the geometry is not a camera's view (points behind the cameras, "
        "points far from any camera's rays, an undetermined focal); the reasons become warnings",
    )
    stamps = parser.add_mutually_exclusive_group()
    stamps.add_argument("--fps", type=float, default=None, help="timestamps i / fps (default: frame index)")
    stamps.add_argument(
        "--timestamps", type=Path, default=None, help="text file with one timestamp per frame"
    )
    return parser


def _load_arrays(path: Path, key: str | None, extra: dict[str, str | None]) -> dict[str, np.ndarray]:
    if path.suffix == ".npy":
        if any(extra.values()):
            raise GeometryError("--mask / --fit-mask / --confidence need an .npz input")
        return {"pointmaps": load_arrays(path)["array"]}
    arrays = load_arrays(path)  # every array of the archive; checks the file
    names = list(arrays)
    if key is None:
        key = "pointmaps" if "pointmaps" in names else (names[0] if len(names) == 1 else None)
        if key is None:
            raise GeometryError(f"{path} holds {names}; choose the pointmaps with --key")
    roles = {role: name for role, name in {"pointmaps": key, **extra}.items() if name is not None}
    for name in roles.values():
        if name not in arrays:
            raise GeometryError(f"{path} has no array {name!r} (it holds {names})")
    return {role: arrays[name] for role, name in roles.items()}


def _timestamps(args: argparse.Namespace, n_frames: int) -> np.ndarray:
    if args.timestamps is not None:
        if not args.timestamps.is_file():
            raise GeometryError(f"{args.timestamps}: no such timestamps file")
        try:
            stamps = np.loadtxt(args.timestamps, dtype=np.float64, ndmin=1)
        except ValueError as error:
            raise GeometryError(f"{args.timestamps}: expected one number per line ({error})") from None
        if stamps.shape != (n_frames,):
            raise GeometryError(f"{args.timestamps} has {stamps.size} timestamps, need {n_frames}")
        return stamps
    if args.fps is not None:
        if not args.fps > 0:
            raise GeometryError(f"--fps must be positive, got {args.fps}")
        return np.arange(n_frames) / args.fps
    return np.arange(n_frames, dtype=np.float64)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_cli("one4d-recover", lambda: _recover(args))


def _recover(args: argparse.Namespace) -> int:
    if args.out.exists() and not args.out.is_dir():
        raise GeometryError(f"--out {args.out}: exists and is not a folder")
    extra = {"mask": args.mask, "fit_mask": args.fit_mask, "confidence": args.confidence}
    arrays = _load_arrays(args.pointmaps, args.key, extra)
    pointmaps = arrays["pointmaps"]
    if pointmaps.ndim == 3 and pointmaps.shape[-1] == 3:
        pointmaps = pointmaps[None]
    try:
        result = recover_cameras(
            pointmaps,
            mask=arrays.get("mask"),
            confidence=arrays.get("confidence"),
            fit_mask=arrays.get("fit_mask"),
            shared_focal=args.shared_focal,
            principal_point=None if args.principal_point is None else tuple(args.principal_point),
            smoothness_weight=args.smoothness,
            iterations=args.iterations,
        )
    except GeometryError as error:
        raise type(error)(f"{args.pointmaps}: {error}") from None
    stamps = _timestamps(args, len(result.K))
    problems = result.quality.problems()
    fatal = [problem.message for problem in problems if problem.fatal]
    if fatal and not args.keep_going:
        raise RecoveryError(f"{args.pointmaps}: {'; '.join(fatal)} (--keep-going writes the cameras anyway)")

    begin_outputs(args.out, "one4d-recover")
    written = write_recovery(
        args.out,
        result,
        stamps,
        shared_focal=args.shared_focal,
        header=f"one4d-recover {args.pointmaps.name}",
    )
    finish_outputs(args.out, "one4d-recover", written)
    for line in result.quality.summary():
        print(line, file=sys.stderr)
    for problem in problems:
        print(f"one4d-recover: warning: {problem.message}", file=sys.stderr)
    print(
        f"{len(result.K)} frames, focal {np.median(result.K[:, 0, 0]):.2f} px, mean point error "
        f"{result.residuals.mean():.4g}; wrote {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
