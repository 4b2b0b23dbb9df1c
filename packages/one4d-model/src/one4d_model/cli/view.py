"""`one4d-view`: open a `one4d-generate` output folder in the 4D viewer (viser) and serve it until Ctrl-C.

The viewer shows each frame's points with a time slider and play/pause, and, when recovery wrote cameras,
each frame's camera frustum (holding its RGB frame) and the camera trajectory. Needs the `viewer` extra:
pip install 'one4d-model[viewer]'.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from one4d_geometry.cli_errors import USER_ERRORS, report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="one4d-view", description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a one4d-generate output folder (with pointmaps.npz)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8080, help="port (the next free one if it is taken)")
    parser.add_argument("--stride", type=int, default=2, help="show every N-th pixel row and column")
    parser.add_argument("--point-size", type=float, default=0.01, help="point size in scene units")
    parser.add_argument("--fps", type=float, default=8.0, help="playback frame rate")
    parser.add_argument("--play", action="store_true", help="start playing")
    return parser


def wait_forever() -> None:
    """Block until Ctrl-C (short sleeps: the interrupt is handled at once)."""
    while True:
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    """Serve until Ctrl-C; exit status 2 on a bad folder or setting, or without viser."""
    args = build_parser().parse_args(argv)
    if not args.folder.is_dir():
        return report("one4d-view", FileNotFoundError(f"{args.folder}: no such folder"))
    from ..viz.viewer import serve

    try:
        viewer = serve(
            args.folder,
            args.host,
            args.port,
            stride=args.stride,
            point_size=args.point_size,
            fps=args.fps,
            play=args.play,
        )
    except (*USER_ERRORS, OSError) as error:  # OSError: the port cannot be bound
        return report("one4d-view", error)
    scene = viewer.scene
    cameras = "with cameras" if scene.has_cameras else "no cameras (points only)"
    height, width = scene.image_size
    print(f"one4d-view: {args.folder}: {scene.num_frames} frames {width}x{height}, {cameras}")
    print(f"one4d-view: open {viewer.url} (Ctrl-C stops)", flush=True)
    try:
        wait_forever()
    except KeyboardInterrupt:
        print("one4d-view: stopped", file=sys.stderr)
    finally:
        viewer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
