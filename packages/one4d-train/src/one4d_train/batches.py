"""Model-ready micro-batches, identical however many processes share the work.

Sample positions are global (`positions.sample_positions`): micro-batch `m` of step `s` on rank `r` takes the
positions ((s * accum + m) * world + r) * batch + j, walked through a per-epoch permutation of the dataset.
One process with batch 2B and two processes with batch B therefore see the same samples in every step, and
a resumed run continues exactly where it stopped. Per-sample randomness (noise, sigma, context dropout) is
seeded by the global position too. Items are read in the main process or, with `data.num_workers`, ahead
of time by DataLoader workers (`start_prefetch`); encoding runs in the main process on the device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from one4d_data.dataset import ClipDataset, SyntheticSource, collate_samples
from one4d_data.latent_cache import LatentCacheDataset
from one4d_data.umc import TaskRatios, pack_frame_mask
from one4d_model.models.configs import TEXT_CONTEXT_TOKENS

from .components import context_dims
from .config import TrainConfig
from .positions import PositionItems, PositionSchedule, Prefetcher

EVAL_SEED_OFFSET = 1_000_003  # held-out synthetic scenes never coincide with training scenes


@dataclass
class Batch:
    rgb: torch.Tensor  # (B, 16, f, h, w) clean latents
    xyz: torch.Tensor
    cond: torch.Tensor  # (B, 16, f, h, w) conditioning-video latents
    mask: torch.Tensor  # (B, 4, f, h, w)
    text: torch.Tensor  # (B, 512, text_dim)
    image: torch.Tensor | None  # (B, 257, image_dim)
    task: torch.Tensor  # (B,) index into TASKS
    positions: list[int]
    empty_text: torch.Tensor  # (1, 512, text_dim) the empty caption's states (caption dropout)


def sample_generator(seed: int, position: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 2_654_435_761 + position * 97 + 1) % (2**63 - 1))


def synthetic_clips(config: TrainConfig, held_out: bool = False) -> ClipDataset:
    """Procedural 4D scenes; the held-out set uses other seeds, so no scene is shared with training."""
    d = config.data
    seed = config.seed + (EVAL_SEED_OFFSET if held_out else 0)
    size = d.eval_clips if held_out else d.num_clips
    source = SyntheticSource(size, d.num_frames, d.height, d.width, seed=seed)
    ratios = TaskRatios(*d.task_ratios)
    return ClipDataset(
        source, num_frames=d.num_frames, height=d.height, width=d.width, task_ratios=ratios, seed=seed
    )


def held_out_scenes(config: TrainConfig) -> list:
    """The held-out synthetic scenes as whole clips (`Clip`), in order: what the evaluations score."""
    held_out = synthetic_clips(config, held_out=True)
    return [held_out.source[i] for i in range(len(held_out))]


def dataset_clips(config: TrainConfig) -> ClipDataset:
    """Windows of the datasets named in `data.datasets` ("FORMAT:ROOT"), mixed by `data.dataset_weights`,
    captioned from `data.captions` where it names their sequence (empty captions otherwise)."""
    from one4d_data.corpus import build_training_dataset, load_captions

    d = config.data
    return build_training_dataset(
        d.datasets,
        d.dataset_weights or None,
        num_frames=d.num_frames,
        height=d.height,
        width=d.width,
        task_ratios=TaskRatios(*d.task_ratios),
        seed=config.seed,
        strides=tuple(d.strides),
        captions=load_captions(d.captions) if d.captions else None,
    )


class PositionedBatches:
    """Micro-batches by global sample position; subclasses turn collated items into a `Batch`."""

    def __init__(self, dataset, seed: int, device: torch.device) -> None:
        self.dataset, self.seed, self.device = dataset, int(seed), device
        self.positions = PositionItems(dataset, seed)
        self.prefetcher: Prefetcher | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def items(self, positions: list[int]) -> list[dict]:
        return [self.positions[p] for p in positions]

    def start_prefetch(self, schedule: PositionSchedule, num_workers: int) -> None:
        """Read the schedule's micro-batches ahead in `num_workers` worker processes."""
        self.stop_prefetch()
        if num_workers > 0:
            pin = self.device.type == "cuda"
            self.prefetcher = Prefetcher(self.positions, schedule, num_workers, pin_memory=pin)

    def stop_prefetch(self) -> None:
        if self.prefetcher is not None:
            self.prefetcher.close()
            self.prefetcher = None

    def collated(self, positions: list[int]) -> dict:
        samples = self.prefetcher.next(positions) if self.prefetcher is not None else None
        return samples if samples is not None else collate_samples(self.items(positions))

    def to_batch(self, samples: dict) -> Batch:
        raise NotImplementedError

    def batch(self, positions: list[int]) -> Batch:
        out = self.to_batch(self.collated(positions))
        out.positions = list(positions)
        return out


class EncodedBatches(PositionedBatches):
    """Clips encoded on the fly: the VAE on RGB, pointmaps and the conditioning video, the text encoder on
    captions and the image encoder on the first conditioning frame."""

    def __init__(self, dataset, seed: int, vae, text_encoder, image_encoder, device: torch.device) -> None:
        super().__init__(dataset, seed, device)
        self.vae, self.text_encoder, self.image_encoder = vae, text_encoder, image_encoder
        self.empty_text = text_encoder([""]).to(device, torch.float32)

    @torch.no_grad()
    def to_batch(self, samples: dict) -> Batch:
        vae, device = self.vae, self.device
        rgb = vae.encode(samples["rgb"].to(device)).float()
        xyz = vae.encode(samples["xyz"].to(device)).float()
        # A sample with every frame observed (full-video task) conditions on its own video: reuse its latents.
        hidden = ~samples["frame_mask"].bool().all(dim=1)
        cond = rgb.clone()
        if hidden.any():
            cond[hidden.to(device)] = vae.encode(samples["cond_rgb"][hidden].to(device)).float()
        mask = pack_frame_mask(samples["frame_mask"].to(device), tuple(rgb.shape[-2:]))
        text = self.text_encoder(list(samples["caption"])).to(device, torch.float32)
        image = None
        if self.image_encoder is not None:
            first = samples["cond_rgb"][:, :, 0].to(device)
            image = self.image_encoder(first).to(device, torch.float32)
        return Batch(rgb, xyz, cond, mask, text, image, samples["task"].to(device), [], self.empty_text)


def pre_encode_dir(config: TrainConfig) -> Path:
    """Where `data.pre_encode` writes the encoded clips: `data.cache_dir`, else
    `<output_dir>/latent-cache`."""
    return Path(config.data.cache_dir or Path(config.output_dir) / "latent-cache")


class CachedBatches(PositionedBatches):
    """Latents and text embeddings read from a latent cache (no VAE or text encoder in the loop)."""

    def __init__(self, config: TrainConfig, device: torch.device, cache_dir: str | Path | None = None):
        ratios = TaskRatios(*config.data.task_ratios)
        self.cache_dir = cache_dir or config.data.cache_dir
        dataset = LatentCacheDataset(self.cache_dir, task_ratios=ratios, seed=config.seed)
        super().__init__(dataset, config.seed, device)
        self.text_dim, self.image_dim = context_dims(config)
        self.empty_text = dataset.empty_text_embeds()[None].to(device)

    def to_batch(self, samples: dict) -> Batch:
        device = self.device
        rgb = samples["rgb_latents"].to(device)
        mask = pack_frame_mask(samples["frame_mask"].to(device), tuple(rgb.shape[-2:]))
        text = samples["text_embeds"].to(device)
        if text.shape[1] != TEXT_CONTEXT_TOKENS:
            raise ValueError(
                f"cached text_embeds have {text.shape[1]} tokens; the image-conditioned Wan variants need "
                f"{TEXT_CONTEXT_TOKENS} (pad the umT5 states when building the cache)"
            )
        image = samples.get("image_embeds")
        if image is None and self.image_dim is not None:
            raise ValueError(
                f"latent cache {self.cache_dir} has no image_embeds, but the model takes CLIP image context "
                f"(image_dim {self.image_dim}): rebuild the cache with an image encoder (one4d-cache)"
            )
        return Batch(
            rgb,
            samples["xyz_latents"].to(device),
            samples["cond_latents"].to(device),
            mask,
            text,
            None if image is None else image.to(device),
            samples["task"].to(device),
            [],
            self.empty_text,
        )
