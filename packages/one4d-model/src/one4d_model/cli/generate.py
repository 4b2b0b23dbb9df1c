"""`one4d-generate`: run a trained One4D on an image, sparse frames, a video or a caption alone (text to 4D),
and write files people open (see `one4d_model.viz.outputs` for the full list): PNG frames, `video.mp4`,
`xyz.mp4`, `depth.mp4`, `rgb_depth_xyz.mp4`, per-frame PLY files, `scene.ply`, `scene.glb` with the cameras,
`pointmaps.npz`, and the recovered cameras and depth (`trajectory.txt`, `intrinsics.json`, `depth.npz`: the
layout `one4d-eval` scores). `one4d-view OUT` opens the result in the 4D viewer; `one4d-render OUT` renders
novel views.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from one4d_data.umc import TASKS, TEXT_TASK
from one4d_geometry.cli_errors import run_cli
from one4d_geometry.files import load_arrays
from PIL import Image, UnidentifiedImageError

from ..errors import ModelError
from ..pipelines.long_video import BLENDS
from ..pipelines.memory import MEMORY_MODES
from ..pipelines.sampling import SCHEDULERS

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # Pillow's modes of 16-bit PNG / TIFF greys
DTYPES = ("float32", "bfloat16", "float16")  # names of torch dtypes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="one4d-generate", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a one4d-train run folder, step folder or .safetensors")
    parser.add_argument(
        "--input",
        type=Path,
        help="an image (single-image task), a folder of frames, or an .npy (F, H, W, 3) uint8 video; "
        "none for --task text",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument(
        "--task",
        choices=TASKS,
        help="which frames condition (default: single_image for an image, full_video otherwise; text: "
        "none, the caption alone)",
    )
    parser.add_argument(
        "--frames", type=positive_int, help="frames to generate from an image (default: as trained)"
    )
    parser.add_argument(
        "--height", type=positive_int, help="resize frames to this height (default: as trained)"
    )
    parser.add_argument(
        "--width", type=positive_int, help="resize frames to this width (default: as trained)"
    )
    parser.add_argument("--prompt", default="", help="caption of the scene")
    parser.add_argument("--negative-prompt", default="", help="what guidance steers away from")
    parser.add_argument("--steps", type=positive_int, help="sampling steps (default: as the run recorded)")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance (default: as recorded)")
    parser.add_argument("--shift", type=float, help="flow-matching sampling shift (default: as recorded)")
    parser.add_argument(
        "--ensemble",
        type=positive_int,
        default=1,
        help="full_video only: the mean of this many samples (a steadier reconstruction; that many times "
        "the sampling time)",
    )
    parser.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default="euler",
        help="flow-matching Euler (default) or UniPC (Wan's)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=positive_int, default=16, help="frame rate of the videos (Wan: 16)")
    parser.add_argument(
        "--scene-stride", type=int, default=2, help="scene.ply / scene.glb take every n-th frame (default 2)"
    )
    parser.add_argument(
        "--window",
        type=int,
        help="frames per window for longer videos (4k + 1; default: as trained); longer inputs or --frames "
        "are generated in overlapping windows stitched into one scene",
    )
    parser.add_argument(
        "--overlap", type=int, help="frames shared by consecutive windows (default: a quarter)"
    )
    parser.add_argument("--blend", choices=BLENDS, default="linear", help="how shared frames are merged")
    parser.add_argument(
        "--cfg-parallel",
        action="store_true",
        help="under torchrun: the conditional and unconditional guidance rows on two ranks",
    )
    parser.add_argument(
        "--ulysses-degree",
        type=int,
        default=1,
        help="under torchrun: Ulysses sequence parallelism over N ranks",
    )
    parser.add_argument(
        "--ring-degree",
        type=int,
        default=1,
        help="under torchrun: ring attention over N ranks (CUDA attention backends only)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--memory",
        choices=MEMORY_MODES,
        default="full",
        help="full: all weights on the device; offload: each component comes to the device for its stage; "
        "sequential: the transformer layer by layer too (least memory)",
    )
    parser.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="weights' dtype (bfloat16 on GPUs)"
    )
    parser.add_argument("--base-path", help="override the Wan base weights path recorded in the run")
    parser.add_argument("--vae", help="override the VAE path recorded in the run")
    parser.add_argument("--text-encoder", help="override the umT5 path recorded in the run")
    parser.add_argument("--image-encoder", help="override the CLIP path recorded in the run")
    parser.add_argument("--no-recover", action="store_true", help="skip camera and depth recovery")
    return parser


def positive_int(text: str) -> int:
    """argparse type of counts and sizes: 0 and negatives are refused, not read as "use the default"."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def read_input(path: Path, height: int, width: int) -> tuple[np.ndarray, bool]:
    """(frames (F, H, W, 3) uint8 resized to height x width, whether the input was a single image)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ModelError(f"{path}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
        return np.stack([_load_image(f, height, width) for f in files]), False
    if path.suffix.lower() == ".npy":
        video = load_arrays(path)["array"]
        if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            raise ModelError(f"{path}: expected uint8 (F, H, W, 3), got {video.dtype} {video.shape}")
        return np.stack([_resize(Image.fromarray(f), height, width) for f in video]), False
    if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
        return _load_image(path, height, width)[None], True
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    raise ModelError(f"{path}: expected an image, a folder of frames or an .npy video")


def _load_image(path: Path, height: int, width: int) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return _resize(to_rgb8(image), height, width)
    except (UnidentifiedImageError, OSError) as error:
        raise ModelError(f"{path}: not a readable image ({error})") from None


def to_rgb8(image: Image.Image) -> Image.Image:
    """An 8-bit RGB copy. Pillow's own conversion clips 16- and 32-bit integer images (a 16-bit PNG turns
    white), so those are scaled from their 0-65535 range first."""
    if image.mode in SIXTEEN_BIT_MODES:
        grey = np.asarray(image).astype(np.float64) * (255.0 / 65535.0)
        image = Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def _resize(image: Image.Image, height: int, width: int) -> np.ndarray:
    """Scale to cover height x width, then centre-crop (keeps the aspect ratio)."""
    scale = max(height / image.height, width / image.width)
    size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.BICUBIC)
    left, top = (image.width - width) // 2, (image.height - height) // 2
    return np.asarray(image.crop((left, top, left + width, top + height)), dtype=np.uint8)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_cli("one4d-generate", lambda: _generate(args))
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def _generate(args: argparse.Namespace) -> int:
    from ..loading.run_format import find_checkpoint, read_spec
    from ..pipelines.pipeline import One4DPipeline
    from ..pipelines.sampling import make_scheduler
    from ..viz.outputs import WriteOptions, write_generation
    from ..viz.video import has_video_support

    if args.input is None and args.task != TEXT_TASK:
        raise ModelError(
            "--input is required (an image, a folder of frames or an .npy video) unless --task text"
        )
    if args.scene_stride < 1:
        raise ModelError(f"--scene-stride must be at least 1, got {args.scene_stride}")
    if args.out.exists() and not args.out.is_dir():
        raise ModelError(f"--out {args.out}: exists and is not a folder")
    checkpoint = find_checkpoint(args.checkpoint)
    spec = read_spec(checkpoint)
    height = args.height if args.height is not None else spec.height or 352
    width = args.width if args.width is not None else spec.width or 624
    frames, single = (None, True) if args.input is None else read_input(args.input, height, width)
    task = args.task or ("single_image" if single else "full_video")
    num_frames = args.frames if args.frames is not None else ((spec.num_frames or 81) if single else None)
    import torch

    from ..pipelines.parallel import init_inference_parallel

    parallel = init_inference_parallel(args.cfg_parallel, args.ring_degree, args.ulysses_degree)
    pipeline = One4DPipeline.from_checkpoint(
        checkpoint,
        device=str(parallel.device) if parallel.world_size > 1 else args.device,
        parallel=parallel if parallel.world_size > 1 else None,
        dtype=getattr(torch, args.dtype),
        memory=args.memory,
        base_path=args.base_path,
        vae=args.vae,
        text_encoder=args.text_encoder,
        image_encoder=args.image_encoder,
        scheduler=make_scheduler(args.scheduler, spec.sampling.shift),
    )
    pipeline.set_progress_bar_config(disable=args.quiet or not parallel.is_main)
    video = None if frames is None else (frames[0] if single else frames)
    result = pipeline(
        video,
        task=task,
        num_frames=num_frames,
        height=height,
        width=width,
        prompt=args.prompt,
        negative_prompt=args.negative_prompt,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        shift=args.shift,
        seed=args.seed,
        window_frames=args.window,
        window_overlap=args.overlap,
        window_blend=args.blend,
        ensemble_size=args.ensemble,
    )
    if not parallel.is_main:  # every rank holds the same result; rank 0 writes it
        return 0
    status = 0
    if not args.no_recover:
        from one4d_geometry import GeometryError

        try:
            # Cameras from the reliable points; depth at every valid one.
            result.cameras = result.recover()
        except GeometryError as error:
            print(
                f"one4d-generate: camera recovery failed ({error}); writing without cameras", file=sys.stderr
            )
            status = 1
    options = WriteOptions(fps=args.fps, scene_frame_stride=args.scene_stride)
    written = write_generation(args.out, result, options)
    if result.cameras is not None:
        cameras = result.cameras
        print(
            f"one4d-generate: cameras: focal {np.median(cameras.focal):.2f} px, mean point error "
            f"{cameras.residuals.mean():.4g}"
        )
        # Generated geometry is written whatever it is; whether it is a camera's view is said, not hidden.
        for problem in cameras.quality.problems():
            print(f"one4d-generate: warning: {problem.message}", file=sys.stderr)
    if not has_video_support():
        print("one4d-generate: no videos (PyAV missing: pip install 'one4d-model[video]')")
    names = ", ".join(p.name + ("/" if p.is_dir() else "") for p in written)
    print(f"one4d-generate: {len(result.frames)} frames ({task}) written to {args.out}: {names}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
