"""`ModelSpec`: everything needed to rebuild a trained One4D, and nothing about how it was trained.

A run records its spec in its `trainable.safetensors` (`one4d_model.loading.run_format`);
`one4d_model.loading.components` builds transformer, VAE and context encoders from it, for training and
inference alike. Training code maps its own configuration onto a spec (`one4d_train.config.model_spec`); this
package never reads a training config. `SamplerConfig` is the spec's record of the sampling defaults (what
`pipelines.sampling` and the pipeline start from), kept here so that loading a run needs nothing of inference.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelError
from ..models.configs import WAN_CONFIGS, wan_config
from ..models.lora import LORA_TARGETS
from ..models.tiny import TINY_DENSE_NAME, TINY_NAME

NAMED_VAES = (TINY_NAME, "tiny", "linear-patch")
"""VAE names a spec may hold besides a local path: the shipped tiny One4D VAE, a random tiny Wan VAE (tests),
and the linear patch VAE a run fits and keeps beside its checkpoints (`<run>/vae.safetensors`)."""


@dataclass
class SamplerConfig:
    """Sampling settings; the defaults are the paper's (50 steps, guidance 6) and Wan's shift at 480p. A
    training run records its own (`one4d_train` config section `sampling`), which the pipeline uses."""

    num_steps: int = 50
    guidance_scale: float = 6.0  # the paper's default (robust from 4 to 6)
    shift: float = 3.0  # Wan's sampling shift at 480p

    def __post_init__(self) -> None:
        if self.num_steps < 1:
            raise ModelError(f"num_steps must be at least 1, got {self.num_steps}")
        if not self.shift > 0:
            raise ModelError(f"shift must be positive, got {self.shift}")
        if not self.guidance_scale >= 0:
            raise ModelError(f"guidance_scale must be non-negative, got {self.guidance_scale}")


@dataclass
class ModelSpec:
    variant: str  # a key of `configs.WAN_CONFIGS`
    config_overrides: dict[str, Any] = field(default_factory=dict)  # base config keys that differ from it
    base_path: str | None = None  # local base weights; None: random, or the shipped base of `one4d-tiny`
    coupling: str = "dlc"
    lora_rank: int = 64
    lora_alpha: float | None = None  # None: equal to the rank (scale 1)
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    num_links: int = 5
    link_blocks: list[int] | None = None
    xyz_condition: bool = False  # a departure: the XYZ branch reads the UMC conditioning too
    base_trained: bool = False  # the run's weights file holds base tensors too (CPU-sized bases only)
    attention_backend: str = "native"
    vae: str = TINY_NAME  # one of NAMED_VAES or a local path
    text_encoder: str = ""  # local umT5 folder; empty: the tiny stand-in (CPU-sized variants)
    image_encoder: str = ""  # local CLIP folder; empty: the tiny stand-in
    num_frames: int | None = None  # what the model was trained at (the CLI's default output size)
    height: int | None = None
    width: int | None = None
    sampling: SamplerConfig = field(default_factory=SamplerConfig)

    def __post_init__(self) -> None:
        if self.variant not in WAN_CONFIGS:
            raise ModelError(f"model spec: variant must be one of {list(WAN_CONFIGS)}, got {self.variant!r}")
        if sorted(self.lora_targets) != sorted(LORA_TARGETS):
            raise ModelError(
                f"model spec: lora_targets {self.lora_targets} differ from the layers this version adapts "
                f"({list(LORA_TARGETS)})"
            )
        if isinstance(self.sampling, dict):
            self.sampling = SamplerConfig(**self.sampling)

    @property
    def dims(self) -> dict[str, Any]:
        """The base's transformer config: the variant's (`configs.wan_config`) with the overrides."""
        return {**wan_config(self.variant), **self.config_overrides}

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str = "model spec") -> ModelSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise ModelError(f"{where}: not valid JSON ({error})") from error
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"{where}: unknown keys {unknown} (known: {sorted(known)})")
        if "variant" not in data:
            raise ModelError(f"{where}: no 'variant'")
        try:
            return cls(**data)
        except TypeError as error:  # e.g. a bad sampling section
            raise ModelError(f"{where}: {error}") from error


def default_vae(variant: str) -> str:
    """The VAE a spec of `variant` names when nobody said otherwise: the shipped one for the tiny One4D, the
    random tiny Wan VAE for the test variant, else none (a local path must be given)."""
    return {TINY_NAME: TINY_NAME, TINY_DENSE_NAME: TINY_NAME, "tiny": "tiny"}.get(variant, "")
