"""`one4d-generate`: run a trained One4D on an image, sparse frames or a video, and write files people open.

Writes to `--out`: `frames/frame_NNNN.png` and `video.mp4` (generated RGB; the mp4 needs the `video` extra),
`points/frame_NNNN.ply` (coloured points the model marks valid),
`pointmaps.npz` (`pointmaps` (F, H, W, 3) with NaN where invalid, `valid`, `reliable`, `frames`,
`frame_mask`), and, from `one4d-recover` on the pointmaps (cameras fitted on the reliable points),
`trajectory.txt` (TUM, camera-to-world), `intrinsics.json` and `depth.npz`: the layout that `one4d-eval`
scores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from one4d_data.umc import TASKS
from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="one4d-generate", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a one4d-train run folder, step folder or .safetensors")
    parser.add_argument(
        "--input",
        type=Path,
        required=True,
        help="an image (single-image task), a folder of frames, or an .npy (F, H, W, 3) uint8 video",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument(
        "--task",
        choices=TASKS,
        help="which frames condition (default: single_image for an image, full_video otherwise)",
    )
    parser.add_argument("--frames", type=int, help="frames to generate from an image (default: as trained)")
    parser.add_argument("--height", type=int, help="resize frames to this height (default: as trained)")
    parser.add_argument("--width", type=int, help="resize frames to this width (default: as trained)")
    parser.add_argument("--prompt", default="", help="caption of the scene")
    parser.add_argument("--negative-prompt", default="", help="what guidance steers away from")
    parser.add_argument("--steps", type=int, help="sampling steps (default: as the run recorded)")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance (default: as recorded)")
    parser.add_argument("--shift", type=float, help="flow-matching sampling shift (default: as recorded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=int, default=16, help="frame rate of video.mp4 (Wan: 16)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--base-path", help="override the Wan base weights path recorded in the run")
    parser.add_argument("--vae", help="override the VAE path recorded in the run")
    parser.add_argument("--text-encoder", help="override the umT5 path recorded in the run")
    parser.add_argument("--image-encoder", help="override the CLIP path recorded in the run")
    parser.add_argument("--no-recover", action="store_true", help="skip camera and depth recovery")
    return parser


def read_input(path: Path, height: int, width: int) -> tuple[np.ndarray, bool]:
    """(frames (F, H, W, 3) uint8 resized to height x width, whether the input was a single image)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{path}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return np.stack([_load_image(f, height, width) for f in files]), False
    if path.suffix.lower() == ".npy":
        video = np.load(path, allow_pickle=False)
        if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            raise ValueError(f"{path}: expected uint8 (F, H, W, 3), got {video.dtype} {video.shape}")
        return np.stack([_resize(Image.fromarray(f), height, width) for f in video]), False
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return _load_image(path, height, width)[None], True
    raise ValueError(f"{path}: expected an image, a folder of frames or an .npy video")


def _load_image(path: Path, height: int, width: int) -> np.ndarray:
    with Image.open(path) as image:
        return _resize(image.convert("RGB"), height, width)


def _resize(image: Image.Image, height: int, width: int) -> np.ndarray:
    """Scale to cover height x width, then centre-crop (keeps the aspect ratio)."""
    scale = max(height / image.height, width / image.width)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BICUBIC)
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return np.asarray(image.crop((left, top, left + width, top + height)), dtype=np.uint8)


def write_outputs(out: Path, result) -> Path:
    """PNG frames, one PLY of the valid points per frame, and `pointmaps.npz` (`pointmaps` with NaN where
    invalid, `valid`, `reliable` (valid and not clamped), `frames`, `frame_mask`)."""
    from one4d_geometry.ply import write_ply

    (out / "frames").mkdir(parents=True, exist_ok=True)
    (out / "points").mkdir(exist_ok=True)
    for i, (rgb, xyz, valid) in enumerate(zip(result.frames, result.pointmaps, result.valid, strict=True)):
        Image.fromarray(rgb).save(out / "frames" / f"frame_{i:04d}.png")
        write_ply(out / "points" / f"frame_{i:04d}.ply", xyz[valid], rgb[valid])
    archive = out / "pointmaps.npz"
    np.savez_compressed(
        archive,
        pointmaps=result.pointmaps,
        valid=result.valid,
        reliable=result.reliable,
        frames=result.frames,
        frame_mask=result.frame_mask,
    )
    return archive


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .pipeline import One4DPipeline
    from .run_format import find_checkpoint, read_spec

    try:
        checkpoint = find_checkpoint(args.checkpoint)
        spec = read_spec(checkpoint)
        height, width = args.height or spec.height or 352, args.width or spec.width or 624
        frames, single = read_input(args.input, height, width)
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"one4d-generate: error: {error}", file=sys.stderr)
        return 2
    task = args.task or ("single_image" if single else "full_video")
    num_frames = args.frames or ((spec.num_frames or 81) if single else None)
    pipeline = One4DPipeline.from_checkpoint(
        checkpoint,
        device=args.device,
        base_path=args.base_path,
        vae=args.vae,
        text_encoder=args.text_encoder,
        image_encoder=args.image_encoder,
    )
    try:
        result = pipeline(
            frames[0] if single else frames,
            task=task,
            num_frames=num_frames,
            prompt=args.prompt,
            negative_prompt=args.negative_prompt,
            num_inference_steps=args.steps,
            guidance_scale=args.guidance,
            shift=args.shift,
            seed=args.seed,
        )
    except ValueError as error:
        print(f"one4d-generate: error: {error}", file=sys.stderr)
        return 2
    archive = write_outputs(args.out, result)
    from .video import has_video_support, write_mp4

    if has_video_support():
        write_mp4(args.out / "video.mp4", result.frames, fps=args.fps)
    else:
        print("one4d-generate: no video.mp4 (PyAV missing: pip install 'one4d-model[video]')")
    print(f"one4d-generate: {len(result.frames)} frames ({task}) written to {args.out}")
    if not args.no_recover:
        from one4d_geometry.cli import main as recover

        # Cameras from the reliable points; depth at every valid one.
        return recover(
            [
                str(archive),
                "--key",
                "pointmaps",
                "--mask",
                "valid",
                "--fit-mask",
                "reliable",
                "--out",
                str(args.out),
            ]
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
