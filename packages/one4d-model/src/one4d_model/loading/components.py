"""Transformer, VAE and context encoders built from a `ModelSpec`: the one place that does it, for training
(`one4d_train`) and inference (`One4DPipeline.from_checkpoint`) alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelError
from ..models.encoders import CLIPImageEncoder, UMT5TextEncoder
from ..models.patch_vae import LinearPatchVAE
from ..models.tiny_encoders import TinyImageEncoder, TinyTextEncoder
from ..models.transformer import One4DTransformer
from ..models.vae import build_vae
from .build import build_one4d_transformer
from .run_format import LINEAR_PATCH_VAE_FILE
from .spec import ModelSpec


@dataclass
class Components:
    transformer: One4DTransformer
    vae: Any
    text_encoder: Any
    image_encoder: Any | None


def build_transformer(
    spec: ModelSpec,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    base_path: str | Path | None = None,
    gradient_checkpointing: bool = False,
) -> One4DTransformer:
    """The One4D transformer of `spec` on its base (`base_path` overrides the recorded one); trained tensors
    are not loaded here (`run_format.load_trainable`)."""
    return build_one4d_transformer(
        spec.variant,
        device=device,
        dtype=dtype,
        base_path=base_path or spec.base_path,
        coupling=spec.coupling,
        lora_rank=spec.lora_rank,
        lora_alpha=spec.lora_alpha,
        lora_dropout=spec.lora_dropout,
        num_links=spec.num_links,
        link_blocks=spec.link_blocks,
        xyz_condition=spec.xyz_condition,
        gradient_checkpointing=gradient_checkpointing,
        attention_backend=spec.attention_backend,
        config_overrides=spec.config_overrides or None,
    )


def build_spec_vae(spec_vae: str, device: str | torch.device = "cpu", run_dir: str | Path | None = None):
    """The VAE a spec names. `linear-patch` is the file a run fitted (`<run_dir>/vae.safetensors`)."""
    if spec_vae == "linear-patch":
        if run_dir is None:
            raise ModelError("vae 'linear-patch' is a run's fitted VAE: give the run folder that holds it")
        path = Path(run_dir) / LINEAR_PATCH_VAE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the run's fitted linear patch VAE is missing")
        return LinearPatchVAE.load(path).to(device)
    if not spec_vae:
        raise ModelError("the model spec names no VAE: give a local Wan2.1 VAE path (vae=...)")
    return build_vae(spec_vae, device=device)


def build_encoders(
    spec: ModelSpec,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    text_encoder: str | None = None,
    image_encoder: str | None = None,
):
    """(text encoder, image encoder or None): umT5 / CLIP from local folders (the arguments override the
    spec's), else the tiny stand-ins. An encoder whose width does not fit the variant raises, naming it."""
    dims = spec.dims
    text = _encoder("text_encoder", text_encoder or spec.text_encoder, dims["text_dim"], device, dtype)
    if dims.get("image_dim") is None:
        return text, None
    image = _encoder("image_encoder", image_encoder or spec.image_encoder, dims["image_dim"], device, dtype)
    return text, image


_ENCODERS = {
    "text_encoder": (UMT5TextEncoder, TinyTextEncoder, "text_dim"),
    "image_encoder": (CLIPImageEncoder, TinyImageEncoder, "image_dim"),
}


def _encoder(key: str, path: str, width: int, device, dtype):
    """The encoder at `path` (checked to give `width`-dim states), or the tiny stand-in when it is empty."""
    pretrained, stand_in, field_name = _ENCODERS[key]
    if not path:
        return stand_in(width)
    encoder = pretrained.from_pretrained(path, device=device, dtype=dtype)
    if encoder.dim != width:
        raise ModelError(
            f"model.{key} = {path}: the encoder gives {encoder.dim}-dim states, "
            f"the model's {field_name} is {width}"
        )
    return encoder


def build_components(
    spec: ModelSpec,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    run_dir: str | Path | None = None,
    base_path: str | Path | None = None,
    vae: str | None = None,
    text_encoder: str | None = None,
    image_encoder: str | None = None,
) -> Components:
    """Everything `spec` names, built; the keyword paths override the recorded ones (another machine)."""
    transformer = build_transformer(spec, device, dtype, base_path=base_path)
    text, image = build_encoders(spec, device, dtype, text_encoder, image_encoder)
    return Components(transformer, build_spec_vae(vae or spec.vae, device, run_dir), text, image)
