"""Stage 2 of the tiny One4D: a Wan-architecture base pretrained for the masked-frame (InP) task on RGB.

The base is what One4D fine-tunes and keeps frozen: a diffusers `WanTransformer3DModel` in the InP layout
(noisy 16 + mask 4 + conditioning 16 channels; the variant `one4d-tiny` of `one4d_model.models.configs`),
trained as Wan-Fun-InP is: flow matching on the video latents given the observed frames (first frame, sparse
frames or all of them, the UMC masks) and the text and first-frame context, with the caption dropped to the
empty one now and then for classifier-free guidance. It never sees a pointmap. Clips are synthetic scenes
encoded once by the stage-1 VAE into a latent cache.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import WanTransformer3DModel
from one4d_data.dataset import ClipDataset, SyntheticSource, collate_samples
from one4d_data.latent_cache import LatentCacheDataset, build_latent_cache
from one4d_data.umc import TaskRatios, pack_frame_mask
from one4d_model.models.configs import wan_config
from one4d_model.models.tiny import TINY_DENSE_NAME, TINY_NAME
from one4d_model.models.tiny_encoders import TinyImageEncoder, TinyTextEncoder
from one4d_model.models.vae import build_vae
from one4d_model.pipelines.flow_matching import add_noise, sample_training_sigmas, timesteps_from_sigmas

from ..config import ConfigError
from ..positions import PositionItems
from ..schedule import build_scheduler
from .common import StageLog, apply_update, atomic_save_pretrained, load_stage_state, save_stage_state

TRAIN_SEED = 23
HELD_OUT_SEED = 2_000_003
FIXED_SIGMAS = (0.25, 0.5, 0.75)
BASE_VARIANTS = (TINY_NAME, TINY_DENSE_NAME)
"""The bases this stage pretrains: the tiny One4D's, and the same at 4x the token density (an experiment)."""


@dataclass
class BaseStageConfig:
    vae: str = ""  # the stage-1 VAE file (default: the packaged one)
    variant: str = TINY_NAME  # or "one4d-tiny-p1" (the same base at 4x the token density, an experiment)
    init: str = ""  # a diffusers folder to start from (e.g. the shipped base, to pretrain it longer)
    steps: int = 4000
    batch_size: int = 8
    lr: float = 5e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    timestep_shift: float = 3.0
    caption_dropout: float = 0.1
    task_ratios: list[float] | None = None  # single image / sparse frames / full video
    num_clips: int = 2048
    eval_clips: int = 16
    num_frames: int = 9
    height: int = 64
    width: int = 96
    seed: int = 0
    save_every: int = 250
    log_every: int = 25
    eval_every: int = 500


def _clips(config: BaseStageConfig, held_out: bool) -> ClipDataset:
    seed = HELD_OUT_SEED if held_out else TRAIN_SEED
    count = config.eval_clips if held_out else config.num_clips
    ratios = TaskRatios(*(config.task_ratios or (0.45, 0.45, 0.10)))
    source = SyntheticSource(count, config.num_frames, config.height, config.width, seed=seed)
    return ClipDataset(source, config.num_frames, config.height, config.width, task_ratios=ratios, seed=seed)


def build_stage_cache(config: BaseStageConfig, vae, folder: Path, held_out: bool) -> LatentCacheDataset:
    """Encode the stage's synthetic clips once (resumable); returns the cached dataset."""
    from tqdm.auto import tqdm

    clips = _clips(config, held_out)
    text_dim, image_dim = _context_dims()
    text, image = TinyTextEncoder(text_dim), TinyImageEncoder(image_dim)
    desc = "one4d-pretrain base: encoding " + ("held-out clips" if held_out else "training clips")
    with tqdm(total=len(clips), desc=desc, unit="clip") as bar:
        build_latent_cache(
            clips,
            folder,
            lambda video: vae.encode(video).float(),
            text,
            batch_size=8,
            encode_image=image,
            on_written=lambda _path: bar.update(1),
        )
    return LatentCacheDataset(folder, task_ratios=clips.task_ratios, seed=clips.seed)


def _context_dims() -> tuple[int, int]:
    cfg = wan_config(TINY_NAME)
    return cfg["text_dim"], cfg["image_dim"]


def inp_loss(
    model: WanTransformer3DModel,
    samples: dict,
    sigmas: torch.Tensor,
    noise: torch.Tensor,
    drop_caption: torch.Tensor,
) -> torch.Tensor:
    """Flow-matching MSE of the InP task: velocity of the RGB latents given [noisy, mask, condition]."""
    clean = samples["rgb_latents"]
    mask = pack_frame_mask(samples["frame_mask"], tuple(clean.shape[-2:]))
    noisy = add_noise(clean, noise, sigmas)
    text = samples["text_embeds"] * (~drop_caption).to(clean.dtype).view(-1, 1, 1)  # "" encodes to zeros
    out = model(
        hidden_states=torch.cat([noisy, mask, samples["cond_latents"]], dim=1),
        timestep=timesteps_from_sigmas(sigmas),
        encoder_hidden_states=text,
        encoder_hidden_states_image=samples["image_embeds"],
        return_dict=False,
    )[0]
    return (out.float() - (noise - clean)).pow(2).mean()


@torch.no_grad()
def held_out_loss(model: WanTransformer3DModel, dataset: LatentCacheDataset, seed: int) -> float:
    """Mean InP loss over the held-out clips at fixed sigmas and noise (comparable across steps)."""
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    samples = collate_samples([dataset[i] for i in range(len(dataset))])
    clean = samples["rgb_latents"]
    losses = []
    for sigma in FIXED_SIGMAS:
        noise = torch.randn(clean.shape, generator=gen)
        sigmas = torch.full((len(clean),), sigma)
        keep = torch.zeros(len(clean), dtype=torch.bool)
        losses.append(float(inp_loss(model, samples, sigmas, noise, keep)))
    model.train(was_training)
    return float(np.mean(losses))


def train_base_stage(output_dir: str | Path, config: BaseStageConfig | None = None) -> Path:
    """Pretrain the tiny base into `output_dir` (resuming from its last state); returns the diffusers folder
    of the result (`output_dir/base`), loadable with `WanTransformer3DModel.from_pretrained`."""
    config = config or BaseStageConfig()
    if config.variant not in BASE_VARIANTS:
        raise ConfigError(f"setting 'variant': expected one of {BASE_VARIANTS}, got {config.variant!r}")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    vae = build_vae(config.vae or TINY_NAME)
    train_set = build_stage_cache(config, vae, out / "cache", held_out=False)
    eval_set = build_stage_cache(config, vae, out / "cache-held-out", held_out=True)
    del vae

    torch.manual_seed(config.seed)
    if config.init:
        model = WanTransformer3DModel.from_pretrained(config.init)
    else:
        model = WanTransformer3DModel(**wan_config(config.variant))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.99)
    )
    scheduler = build_scheduler(optimizer, "cosine", config.warmup_steps, config.steps)
    step = load_stage_state(out, model, optimizer, scheduler)
    items = PositionItems(train_set, config.seed)
    log = StageLog(out, "one4d-pretrain base", config.steps, step, asdict(config))
    if step == 0:
        log.log(0, {"eval/loss": held_out_loss(model, eval_set, config.seed)})
    tick = time.perf_counter()
    model.train()
    while step < config.steps:
        positions = range(step * config.batch_size, (step + 1) * config.batch_size)
        samples = collate_samples([items[p] for p in positions])
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        clean = samples["rgb_latents"]
        sigmas = sample_training_sigmas(len(clean), config.timestep_shift, generator=gen)
        noise = torch.randn(clean.shape, generator=gen)
        drop = torch.rand(len(clean), generator=gen) < config.caption_dropout
        loss = inp_loss(model, samples, sigmas, noise, drop)
        values = apply_update(loss, model.parameters(), optimizer, scheduler, "one4d-pretrain base", step)
        step += 1
        if step % config.log_every == 0 or step == config.steps:
            elapsed, tick = time.perf_counter() - tick, time.perf_counter()
            values["s_per_step"] = elapsed / config.log_every
            if step % config.eval_every == 0 or step == config.steps:
                values["eval/loss"] = held_out_loss(model, eval_set, config.seed)
            log.log(step, values)
        log.progress(step, {"loss": values["loss"]})
        if step % config.save_every == 0 and step < config.steps:
            save_stage_state(out, model, optimizer, scheduler, step)
    final = out / "base"
    atomic_save_pretrained(model, final)
    save_stage_state(out, model, optimizer, scheduler, step)
    log.close()
    return final
