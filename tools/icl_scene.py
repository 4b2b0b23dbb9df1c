"""Write the ground-truth geometry of the five ICL-NUIM frames in `../shared/data` as a `one4d-generate`
output folder (pointmaps in the first camera's frame, cameras, depth), to show what `one4d-view` and
`one4d-render` do on exact geometry. Not a model output; the README labels its pictures as ground truth.

    uv run python tools/icl_scene.py runs/icl-gt [--scale 0.5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from one4d_geometry import CameraRecovery, intrinsics_matrix, invert_pose, unproject_depth
from one4d_geometry.recovery_files import write_recovery
from PIL import Image

ICL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "icl-nuim-rgbd"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=0.5, help="image scale (default half: 240 x 320)")
    args = parser.parse_args()
    blocks = [line for line in (ICL / "odometry.log").read_text().splitlines() if line.strip()]
    count = len(blocks) // 5
    c2w = np.array(
        [[[float(x) for x in blocks[5 * i + 1 + r].split()] for r in range(4)] for i in range(count)]
    )
    c2w = invert_pose(c2w[0]) @ c2w  # world = the first camera
    size = (round(640 * args.scale), round(480 * args.scale))
    frames = np.stack(
        [np.asarray(Image.open(ICL / "color" / f"{i:05d}.jpg").resize(size)) for i in range(count)]
    )
    depth = np.stack(
        [
            np.asarray(
                Image.open(ICL / "depth" / f"{i:05d}.png").resize(size, Image.Resampling.NEAREST), float
            )
            / 1000.0
            for i in range(count)
        ]
    )
    valid = depth > 0
    depth[~valid] = np.nan
    focal = 525.0 * args.scale
    K = np.tile(intrinsics_matrix(focal, cx=(size[0] - 1) / 2, cy=(size[1] - 1) / 2), (count, 1, 1))
    R, o = np.swapaxes(c2w[:, :3, :3], 1, 2), c2w[:, :3, 3]
    pointmaps = unproject_depth(depth, K, R, o).astype(np.float32)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out / "pointmaps.npz",
        pointmaps=pointmaps,
        valid=valid,
        reliable=valid,
        frames=frames,
        frame_mask=np.ones(count, np.float32),
    )
    cameras = CameraRecovery(
        K=K, R=R, o=o, depth=depth.astype(np.float32), residuals=np.zeros(count), iterations=0
    )
    write_recovery(args.out, cameras, header="ICL-NUIM ground truth (tools/icl_scene.py)")
    (args.out / "SOURCE.json").write_text(json.dumps({"source": "ICL-NUIM living room, ground truth"}))
    print(f"wrote {count} frames of {size[1]} x {size[0]} to {args.out}")


if __name__ == "__main__":
    main()
