"""How much of the geometry can be learnt from the frames at all: a direct regressor as a reference for One4D.

A `WanTransformer3DModel` of the tiny base's shape (its patch size from `variant`: `one4d-tiny` 2 x 2,
`one4d-tiny-p1` 1 x 1) is trained, all of it, to map a clip's RGB latents straight to its pointmap latents
(fed as the InP layout's conditioning channels, the noisy ones zero, at timestep 999; MSE on the latents, no
diffusion). It starts from random weights or from a base folder (e.g. the shipped base). Held-out scores: the
share of the pointmap latents' variance it explains (what One4D's `val_xyz_explained` measures at sigma 1)
and the full-video geometry of its decoded prediction, beside the constant answer. This is the conditional
mean a diffusion model's first step has to find; what it cannot reach at a given data size, token density
and budget, a One4D fine-tuning of the same budget will not reach either (issue 19).

    python -m one4d_train.learnability --cache runs/prior/latent-cache --variant one4d-tiny --steps 1500
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import torch
from one4d_data.normalize import rgb_to_unit
from one4d_geometry.cli_errors import run_cli
from one4d_geometry.files import atomic_write_text

from .config import ConfigError, load_config

PROBE_TIMESTEP = 999.0
PROG = "python -m one4d_train.learnability"


def load_cached_latents(cache: Path, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB and pointmap latents (count, 16, f, h, w) of the first `count` clips of a latent cache."""
    from one4d_data.latent_cache import read_cached_sample

    files = sorted(cache.glob("clip_*.safetensors"))[:count]
    if len(files) < count:
        raise ConfigError(f"--cache {cache}: {len(files)} cached clips, {count} asked for (--clips)")
    pairs = [read_cached_sample(path)[0] for path in files]
    return torch.stack([p["rgb_latents"] for p in pairs]), torch.stack([p["xyz_latents"] for p in pairs])


class LatentRegressor(torch.nn.Module):
    """A Wan InP transformer read as a regressor: [zeros, ones mask, RGB latents] in, pointmap latents out."""

    def __init__(self, variant: str, init: str | None) -> None:
        super().__init__()
        from diffusers import WanTransformer3DModel
        from one4d_model.models.configs import IMAGE_CONTEXT_TOKENS, TEXT_CONTEXT_TOKENS, wan_config

        if init:
            self.model = WanTransformer3DModel.from_pretrained(init)
        else:
            self.model = WanTransformer3DModel(**wan_config(variant))
        self.text_tokens, self.text_dim = TEXT_CONTEXT_TOKENS, self.model.config.text_dim
        self.image_tokens, self.image_dim = IMAGE_CONTEXT_TOKENS, self.model.config.image_dim

    def forward(self, rgb_latents: torch.Tensor) -> torch.Tensor:
        b, _, f, h, w = rgb_latents.shape
        mask = rgb_latents.new_ones(b, 4, f, h, w)
        inputs = torch.cat([torch.zeros_like(rgb_latents), mask, rgb_latents], dim=1)
        timestep = rgb_latents.new_full((b,), PROBE_TIMESTEP)
        text = rgb_latents.new_zeros(b, self.text_tokens, self.text_dim)
        image = rgb_latents.new_zeros(b, self.image_tokens, self.image_dim)
        return self.model(inputs, timestep, text, image, return_dict=False)[0]


def run_probe(
    cache: str | Path,
    variant: str = "one4d-tiny",
    init: str | None = None,
    clips: int = 1024,
    held_out: int = 16,
    steps: int = 1500,
    batch_size: int = 8,
    lr: float = 5e-4,
    score_every: int = 500,
    seed: int = 0,
) -> dict:
    """Train the regressor on the cached clips; held-out R^2 and geometry every `score_every` steps."""
    from one4d_model.models.vae import build_vae

    from .batches import held_out_scenes
    from .evaluation import constant_reference, explained_variance, pointmap_latents, score_pointmap_latents

    # The held-out scenes of the preset (and of `one4d-prior`'s studies); `seed` drives the regressor only.
    config = load_config(None, "tiny-cpu", [f"data.eval_clips={held_out}"])
    rgb, xyz = load_cached_latents(Path(cache), clips)
    scenes = held_out_scenes(config)
    vae = build_vae(config.model.vae)
    with torch.no_grad():
        held_rgb = torch.cat([vae.encode(_rgb_video(clip)) for clip in scenes])
        held_xyz = torch.cat([pointmap_latents(vae, clip) for clip in scenes])
    torch.manual_seed(seed)
    model = LatentRegressor(variant, init)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    generator = torch.Generator().manual_seed(seed)
    result: dict = {"variant": variant, "init": init or "random", "clips": clips, "held_out": len(scenes)}
    result["constant"] = asdict(constant_reference(scenes))
    result["steps"] = {}
    start = time.perf_counter()
    for step in range(1, steps + 1):
        index = torch.randint(0, len(rgb), (batch_size,), generator=generator)
        loss = (model(rgb[index]) - xyz[index]).pow(2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % score_every == 0 or step == steps:
            with torch.no_grad():
                predicted = model(held_rgb)
                latents = [predicted[i : i + 1] for i in range(len(scenes))]
                scores = asdict(score_pointmap_latents(vae, latents, scenes))
                scores["explained"] = explained_variance(predicted, held_xyz)
                scores["train_explained"] = explained_variance(model(rgb[: len(scenes)]), xyz[: len(scenes)])
            scores["seconds"] = time.perf_counter() - start
            result["steps"][str(step)] = scores
            print(_format_row(step, scores), flush=True)
    return result


def _rgb_video(clip) -> torch.Tensor:
    """(1, 3, F, H, W) in [-1, 1], as the data pipeline feeds the VAE."""
    return rgb_to_unit(torch.from_numpy(clip.rgb)).permute(3, 0, 1, 2)[None]


def _format_row(step: int, s: dict) -> str:
    return (
        f"step {step}: held-out explained {s['explained']:.3f} (training clips {s['train_explained']:.3f}), "
        f"depth AbsRel {s['abs_rel']:.3f}, focal error {100 * s['focal_error']:.0f} %, "
        f"rotation {s['rotation_error_deg']:.1f} deg"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m one4d_train.learnability", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--cache", required=True, help="a latent cache of the tiny-cpu preset (data.cache_dir)"
    )
    parser.add_argument("--variant", default="one4d-tiny", choices=("one4d-tiny", "one4d-tiny-p1"))
    parser.add_argument("--init", help="a diffusers base folder to start from (default: random weights)")
    parser.add_argument("--clips", type=int, default=1024, help="training clips read from the cache")
    parser.add_argument("--held-out", type=int, default=16, help="held-out synthetic scenes scored")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--score-every", type=int, default=500)
    parser.add_argument("--out", help="write the scores here as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def probe() -> int:
        result = run_probe(
            args.cache,
            args.variant,
            args.init,
            args.clips,
            args.held_out,
            args.steps,
            args.batch_size,
            args.lr,
            args.score_every,
        )
        constant = result["constant"]
        print(
            f"constant depth, identity cameras, mean focal: AbsRel {constant['abs_rel']:.3f}, focal error "
            f"{100 * constant['focal_error']:.0f} %, rotation {constant['rotation_error_deg']:.1f} deg"
        )
        if args.out:
            atomic_write_text(args.out, json.dumps(result, indent=2) + "\n")
        return 0

    return run_cli(PROG, probe)


if __name__ == "__main__":
    raise SystemExit(main())
