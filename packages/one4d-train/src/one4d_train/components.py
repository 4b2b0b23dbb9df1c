"""The run's components for training: its transformer, VAE and context encoders, built from its `ModelSpec`
(`config.model_spec`) through `one4d_model.loading.components`, as the inference pipeline builds them. Only
training fits a `linear-patch` VAE on its clips (and keeps it in the run folder for the pipeline)."""

from __future__ import annotations

from pathlib import Path

import torch
from one4d_data.dataset import ClipDataset
from one4d_model.loading.components import build_encoders, build_spec_vae
from one4d_model.loading.run_format import LINEAR_PATCH_VAE_FILE
from one4d_model.models.patch_vae import LinearPatchVAE

from .config import ConfigError, TrainConfig, model_spec
from .positions import dataset_item


def context_dims(config: TrainConfig) -> tuple[int, int | None]:
    """(text_dim, image_dim or None) of the configured variant, without building the transformer."""
    dims = model_spec(config).dims
    return dims["text_dim"], dims.get("image_dim")


def build_video_vae(config: TrainConfig, device: torch.device, train_clips: ClipDataset | None):
    """The tiny preset's linear patch VAE is fitted on training clips (and reused from the output dir)."""
    spec = config.model.vae
    if spec == "linear-patch":
        path = Path(config.output_dir) / LINEAR_PATCH_VAE_FILE  # where the run format looks for it
        if path.exists():
            return LinearPatchVAE.load(path).to(device)
        if train_clips is None:
            raise ConfigError("model.vae = 'linear-patch' needs training clips to fit it")
        count = min(len(train_clips), 64)
        items = [dataset_item(train_clips, i, 0) for i in range(count)]
        videos = torch.cat(
            [torch.stack([it["rgb"] for it in items]), torch.stack([it["xyz"] for it in items])]
        )
        vae = LinearPatchVAE.fit(videos)
        path.parent.mkdir(parents=True, exist_ok=True)
        vae.save(path)
        return vae.to(device)
    return build_spec_vae(spec, device)


def _dtype_for(config: TrainConfig, device: torch.device) -> torch.dtype:
    return torch.bfloat16 if config.precision == "bf16" and device.type == "cuda" else torch.float32


def build_context_encoders(config: TrainConfig, device: torch.device):
    """(text encoder, image encoder or None) of the run's spec
    (`one4d_model.loading.components.build_encoders`): umT5 and CLIP from `model.text_encoder` /
    `model.image_encoder`, or the tiny stand-ins when a path is empty (CPU-sized variants only; the config
    validation enforces that)."""
    return build_encoders(model_spec(config), device, _dtype_for(config, device))
