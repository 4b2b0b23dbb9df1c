"""The README's still pictures of `one4d-generate` outputs (`docs/images/rgb_depth_xyz_*.png`): the input
photo of a held-out synthetic scene, and chosen frames of an output folder's `rgb_depth_xyz.mp4` (RGB, depth
colour map, XYZ colours) stacked top to bottom. The frames are composed from the folder's arrays by the same
function `one4d-generate` writes the video with, not decoded from the lossy mp4.

The shipped tiny model's picture (docs/images/rgb_depth_xyz_tiny.png):

    uv run python tools/readme_frames.py photo runs/photo.png               # held-out scene 0's first frame
    uv run one4d-generate one4d-tiny --input runs/photo.png --out runs/gen-tiny
    uv run python tools/readme_frames.py strip runs/gen-tiny docs/images/rgb_depth_xyz_tiny.png

Whether the geometry depends on the photo (the README's correlations): the depth of outputs generated from
held-out scenes 0, 1 and 2, correlated with one another and with each scene's true depth:

    for i in 0 1 2; do
        uv run python tools/readme_frames.py photo runs/photo$i.png --scene $i
        uv run one4d-generate one4d-tiny --input runs/photo$i.png --out runs/gen-tiny$i
    done
    uv run python tools/readme_frames.py correlate runs/gen-tiny0:0 runs/gen-tiny1:1 runs/gen-tiny2:2

Ground truth of the ICL-NUIM frames (docs/images/rgb_depth_xyz_icl.png):

    uv run python tools/icl_scene.py runs/icl-gt
    uv run python tools/readme_frames.py strip runs/icl-gt docs/images/rgb_depth_xyz_icl.png \
        --frames 0 --scale 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from one4d_data.clip import Clip
from one4d_geometry.files import atomic_path
from one4d_model.viz.outputs import SIDE_BY_SIDE_FILE, coloured_videos
from one4d_model.viz.scene import load_scene
from one4d_train.batches import synthetic_clips
from one4d_train.config import load_config
from PIL import Image


def held_out_scene(scene: int) -> Clip:
    """Held-out synthetic scene `scene` at the default run's clip size: one of the scenes `one4d-train` and
    `one4d-prior` score on, never trained on."""
    config = load_config()
    config.data.eval_clips = max(config.data.eval_clips, scene + 1)
    return synthetic_clips(config, held_out=True).source[scene]


def depth_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two depth videos over the pixels valid in both."""
    a, b = a.ravel(), b.ravel()
    both = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[both], b[both])[0, 1])


def correlations(outputs: list[tuple[Path, int]]) -> None:
    """Print how alike the outputs' depths are, how alike their scenes' true depths are, and how well each
    output matches its own scene."""
    depths = [load_scene(folder).depth for folder, _ in outputs]
    if any(depth is None for depth in depths):
        raise SystemExit("every folder needs recovered cameras (depth.npz)")
    truths = [held_out_scene(scene).depth for _, scene in outputs]
    pairs = [(i, j) for i in range(len(outputs)) for j in range(i + 1, len(outputs))]
    for label, values in (
        ("outputs with one another", [depth_correlation(depths[i], depths[j]) for i, j in pairs]),
        ("true depths with one another", [depth_correlation(truths[i], truths[j]) for i, j in pairs]),
        (
            "each output with its scene's truth",
            [depth_correlation(d, t) for d, t in zip(depths, truths, strict=True)],
        ),
    ):
        print(f"depth correlation, {label}: " + ", ".join(f"{value:.2f}" for value in values))


def frame_strip(folder: Path, frames: list[int], scale: int) -> np.ndarray:
    """Frames `frames` of the folder's RGB | depth | XYZ video, stacked top to bottom, enlarged `scale` times
    (nearest neighbour: the pixels are the model's)."""
    videos = coloured_videos(load_scene(folder))
    if SIDE_BY_SIDE_FILE not in videos:
        raise SystemExit(f"{folder}: no recovered cameras, so no depth to show (written with --no-recover?)")
    video = videos[SIDE_BY_SIDE_FILE]
    missing = [index for index in frames if not 0 <= index < len(video)]
    if missing:
        raise SystemExit(f"{folder}: it has {len(video)} frames; no frame {missing}")
    strip = np.concatenate([video[index] for index in frames], axis=0)
    return strip.repeat(scale, axis=0).repeat(scale, axis=1)


def save_png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        Image.fromarray(image).save(temporary, format="PNG")
    print(f"readme_frames: wrote {path} ({image.shape[1]} x {image.shape[0]})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    photo = commands.add_parser("photo", help="a held-out synthetic scene's first frame as a PNG")
    photo.add_argument("out", type=Path)
    photo.add_argument("--scene", type=int, default=0, help="held-out scene index (default 0)")
    strip = commands.add_parser("strip", help="frames of an output folder's rgb_depth_xyz, stacked")
    strip.add_argument("folder", type=Path, help="a one4d-generate output folder")
    strip.add_argument("out", type=Path)
    strip.add_argument("--frames", type=int, nargs="+", default=[0, 4, 8])
    strip.add_argument("--scale", type=int, default=3, help="enlargement (default 3)")
    correlate = commands.add_parser("correlate", help="depth correlations of outputs of held-out scenes")
    correlate.add_argument("outputs", nargs="+", help="FOLDER:SCENE, an output folder and its scene index")
    args = parser.parse_args(argv)
    if args.command == "photo":
        save_png(held_out_scene(args.scene).rgb[0], args.out)
    elif args.command == "correlate":
        pairs = [item.rpartition(":") for item in args.outputs]
        if any(not folder or not scene.isdigit() for folder, _, scene in pairs):
            raise SystemExit(f"expected FOLDER:SCENE (e.g. runs/gen-tiny0:0), got {args.outputs}")
        correlations([(Path(folder), int(scene)) for folder, _, scene in pairs])
    else:
        save_png(frame_strip(args.folder, args.frames, args.scale), args.out)


if __name__ == "__main__":
    main()
