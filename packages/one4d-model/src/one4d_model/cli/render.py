"""`one4d-render`: render the 4D point cloud of a `one4d-generate` output folder from a new camera path.

Output frame i shows the points of generated frame i (time advances with the frames) from camera i of the
path: `orbit`, `spiral` or `dolly` around the scene's median depth, `original` (the recovered cameras), or a
TUM file (camera-to-world in the first camera's frame, one pose per frame). Writes
`OUT_DIR/novel_<trajectory>.mp4` unless `--out` says otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from one4d_geometry.cli_errors import run_cli

from ..errors import ModelError

PROG = "one4d-render"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, metavar="OUT_DIR", help="a one4d-generate output folder")
    parser.add_argument(
        "--trajectory",
        required=True,
        help="orbit, spiral, dolly, original (the recovered cameras) or a TUM file with one pose per frame",
    )
    parser.add_argument("--out", type=Path, help="mp4 to write (default: OUT_DIR/novel_<trajectory>.mp4)")
    parser.add_argument("--fps", type=int, default=16, help="frame rate (Wan: 16)")
    parser.add_argument("--point-size", type=int, default=1, help="splat side in pixels")
    parser.add_argument(
        "--amplitude",
        type=float,
        help="orbit: yaw in degrees (15); spiral: radius, dolly: travel, as fractions of the focus depth "
        "(0.1, 0.25)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run() -> int:
        print(f"{PROG}: wrote {_run(args)}")
        return 0

    return run_cli(PROG, run)


def _run(args: argparse.Namespace) -> Path:
    import torch

    from ..viz.render import PRESETS, camera_path, render_intrinsics, render_trajectory
    from ..viz.scene import load_scene
    from ..viz.video import has_video_support, write_mp4

    if not has_video_support():
        raise ModelError("PyAV is missing, so no mp4 can be written: pip install 'one4d-model[video]'")
    if args.point_size < 1 or args.fps < 1:
        raise ModelError(f"--point-size and --fps must be at least 1, got {args.point_size} and {args.fps}")
    if str(args.device).startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"--device {args.device}: CUDA is not available")
    if not args.folder.is_dir():
        raise FileNotFoundError(f"{args.folder}: no such folder")
    scene = load_scene(args.folder)
    height, width = scene.image_size
    if height % 2 or width % 2:
        raise ModelError(f"{args.folder}: H.264 needs an even frame size, the frames are {height} x {width}")
    c2w = camera_path(scene, args.trajectory, args.amplitude)
    named = args.trajectory in (*PRESETS, "original")
    out = args.out or args.folder / f"novel_{args.trajectory if named else Path(args.trajectory).stem}.mp4"
    if not out.parent.is_dir():
        raise FileNotFoundError(f"--out {out}: folder {out.parent} does not exist")
    frames = render_trajectory(
        scene, c2w, render_intrinsics(scene), args.point_size, args.device, progress=not args.no_progress
    )
    write_mp4(out, frames, fps=args.fps)  # atomic: a reader never sees half an mp4
    return out


if __name__ == "__main__":
    raise SystemExit(main())
