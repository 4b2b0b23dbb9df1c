"""`one4d-cache`: encode the training clips once (VAE latents, umT5 and CLIP states) into a latent cache.

Training at the paper's scale reads this cache (`data.source = "cache"`), so neither the VAE nor the 5.7B
umT5 encoder sits in GPU memory next to the 14B transformer. The clips come from `data.datasets` when it is
set, synthetic scenes otherwise. Under torchrun each rank encodes every world-size-th clip; a build that
was interrupted resumes, keeping the files already written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from one4d_geometry.cli_errors import run_cli

from .arguments import add_config_arguments
from .config import ConfigError, TrainConfig, load_config, missing_encoder_paths


def _clips(config: TrainConfig):
    from .batches import dataset_clips, synthetic_clips

    return dataset_clips(config) if config.data.datasets else synthetic_clips(config)


def build_cache(config: TrainConfig, out_dir: str | Path, limit: int | None = None) -> list[Path]:
    """Encode the configured clips into `out_dir`; returns the files this process wrote or kept."""
    from .components import build_context_encoders, build_video_vae
    from .distributed import barrier, init_distributed

    env = init_distributed()
    clips = _clips(config)
    if config.model.vae == "linear-patch" and env.distributed:
        if env.is_main:
            build_video_vae(config, env.device, clips)
        barrier(env)
    vae = build_video_vae(config, env.device, clips)
    text_encoder, image_encoder = build_context_encoders(config, env.device)
    return encode_into_cache(clips, vae, text_encoder, image_encoder, out_dir, env, limit)


def encode_into_cache(
    clips, vae, text_encoder, image_encoder, out_dir, env, limit: int | None = None, batch_size: int = 8
):
    """Each rank encodes every world-size-th clip of `clips` into `out_dir` (keeping files already there);
    all ranks return once the whole cache is written."""
    from one4d_data.latent_cache import build_latent_cache

    from .distributed import barrier

    count = len(clips) if limit is None else min(limit, len(clips))
    indices = list(range(env.rank, count, env.world_size))

    def encode_video(video: torch.Tensor) -> torch.Tensor:
        return vae.encode(video.to(env.device)).float().cpu()

    def encode_text(captions: list[str]) -> torch.Tensor:
        return text_encoder(captions).float().cpu()

    def encode_image(frames: torch.Tensor) -> torch.Tensor:
        return image_encoder(frames.to(env.device)).float().cpu()

    from tqdm.auto import tqdm

    with tqdm(total=len(indices), desc="one4d-cache", unit="clip", disable=not env.is_main) as bar:
        paths = build_latent_cache(
            clips,
            out_dir,
            encode_video,
            encode_text,
            encode_image=encode_image if image_encoder is not None else None,
            batch_size=batch_size,
            indices=indices,
            on_written=lambda _path: bar.update(1),
        )
    barrier(env)
    return paths


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="one4d-cache",
        description="Encode training clips (VAE latents, umT5 and CLIP states) into a latent cache.",
    )
    add_config_arguments(parser)
    parser.add_argument("--out", help="cache folder (default: data.cache_dir of the config)")
    parser.add_argument("--limit", type=int, help="encode only the first N clips")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("one4d-cache", lambda: _cache(args))


def _cache(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.preset, args.overrides)
    out = args.out or config.data.cache_dir
    if not out:
        raise ConfigError("config key 'data.cache_dir': expected a cache folder (or --out), got None")
    _check_encoders(config)
    from .distributed import shutdown_distributed

    start = time.perf_counter()
    try:
        paths = build_cache(config, out, args.limit)
    finally:
        shutdown_distributed()
    print(f"one4d-cache: {len(paths)} clips in {out} ({time.perf_counter() - start:.1f} s)")
    return 0


def _check_encoders(config: TrainConfig) -> None:
    """The encoders a cache is built with must be there (`config.missing_encoder_paths`, training's rule)."""
    missing = missing_encoder_paths(config.model)
    if missing:
        raise ConfigError(f"config key '{missing[0]}': expected a local path to build a cache, got ''")


if __name__ == "__main__":
    raise SystemExit(main())
