"""Typed training configuration: dataclasses, presets, TOML files and `key=value` overrides.

Everything is validated before any data or model is loaded, and every error names the offending key.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

import tomli_w
from one4d_geometry.errors import One4DError
from one4d_geometry.files import atomic_write_text

VARIANTS = ("tiny", "one4d-tiny", "one4d-tiny-p1", "wan2.1-fun-1.3b-inp", "wan2.1-fun-14b-inp")
CPU_VARIANTS = ("tiny", "one4d-tiny", "one4d-tiny-p1")
NAMED_VAES = ("one4d-tiny", "linear-patch", "tiny")
COUPLINGS = ("dlc", "channel", "spatial")
DATA_SOURCES = ("synthetic", "datasets", "cache")
DISTRIBUTED = ("auto", "none", "ddp", "fsdp")
PRECISIONS = ("fp32", "bf16")
SCHEDULES = ("constant", "cosine", "linear")


class ConfigError(One4DError, ValueError):
    """A configuration problem, reported before anything is loaded."""


@dataclass
class ModelConfig:
    variant: str = "tiny"
    base_path: str | None = None  # local diffusers directory or original Wan-layout safetensors
    base_config: str | None = None  # local config directory for original-layout weights
    # "one4d-tiny" (the tiny One4D's trained VAE, shipped), "linear-patch" (PCA fitted on the data), "tiny"
    # (random Wan VAE, for tests), or a local Wan VAE path.
    vae: str = "linear-patch"
    # Local umT5 / CLIP folders (transformers layout, or the diffusers Wan2.1 folder holding text_encoder/ +
    # tokenizer/ and image_encoder/ + image_processor/). Empty: the tiny stand-ins (CPU_VARIANTS only).
    text_encoder: str = ""
    image_encoder: str = ""
    coupling: str = "dlc"
    lora_rank: int = 64
    lora_alpha: float | None = None  # None: equal to the rank (scale 1); the Wan presets use rank / 2
    lora_dropout: float = 0.0
    num_links: int = 5
    link_blocks: list[int] | None = None
    # A departure from the paper (measured in the README's experiment table): the XYZ branch reads the UMC
    # conditioning latents and mask as the RGB branch does, instead of only through the control links.
    xyz_condition: bool = False
    train_base: bool = False  # only for the CPU-sized variants (e.g. to train a random test base)
    gradient_checkpointing: bool = False
    attention_backend: str = "native"


@dataclass
class DataConfig:
    source: str = "synthetic"  # "synthetic", "datasets" (data.datasets, encoded on the fly) or "cache"
    cache_dir: str | None = None
    datasets: list[str] = field(default_factory=list)  # "FORMAT:ROOT", e.g. "pointodyssey:/data/po/train"
    dataset_weights: list[float] = field(default_factory=list)  # empty: equal weights
    strides: list[int] = field(default_factory=lambda: [1])  # frame strides drawn per clip
    captions: str = ""  # JSON: sequence folder (relative to its dataset root, or absolute) -> caption
    num_clips: int = 256
    eval_clips: int = 4
    num_frames: int = 81
    height: int = 352
    width: int = 624
    task_ratios: list[float] = field(default_factory=lambda: [0.35, 0.30, 0.35])
    num_workers: int = 0
    # Encode every clip once before training (into cache_dir, else <output_dir>/latent-cache) instead of at
    # every step; synthetic and dataset sources (a "cache" source is encoded already: ignored there).
    pre_encode: bool = False


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0
    schedule: str = "constant"
    max_grad_norm: float = 1.0
    grad_accum: int = 1


@dataclass
class SamplingConfig:
    """How the trained model is sampled: by the held-out evaluation, and by `One4DPipeline` /
    `one4d-generate` when the user gives no setting (the run records it)."""

    steps: int = 50
    guidance_scale: float = 6.0
    shift: float = 3.0


@dataclass
class TrainConfig:
    preset: str = "tiny-cpu"
    output_dir: str = "runs/tiny-cpu"
    max_steps: int = 5500
    batch_size: int = 1  # per process, before gradient accumulation
    seed: int = 0
    timestep_shift: float = 5.0
    cfg_dropout: float = 0.1  # probability of training a sample without text/image context
    precision: str = "fp32"
    distributed: str = "auto"
    log_every: int = 10
    save_every: int = 500
    keep_last: int = 3
    eval_every: int = 0  # 0: only before and after training
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)


PRESETS: dict[str, dict[str, Any]] = {
    # The embedded default: One4D fine-tuning proper on a 2-core laptop CPU in under 10 minutes. The shipped
    # tiny One4D base (`one4d_model.models.tiny`, made by `one4d-pretrain`) stays frozen; the two LoRA
    # branches, the control links and the XYZ heads train on synthetic scenes, UMC tasks at the paper's
    # ratios. Clips are encoded once (pre_encode), so a step costs only the transformer.
    "tiny-cpu": {
        "output_dir": "runs/tiny-cpu",
        "max_steps": 1500,
        "batch_size": 4,
        "log_every": 25,
        "save_every": 250,
        "timestep_shift": 3.0,
        "model": {
            "variant": "one4d-tiny",
            "vae": "one4d-tiny",
            "lora_rank": 32,
            "lora_alpha": 16.0,  # rank / 2 (scale 0.5), as the Wan presets and VideoX-Fun / 4DNeX
            "num_links": 2,
        },
        "data": {
            "num_clips": 1024,
            "eval_clips": 8,
            "num_frames": 9,
            "height": 64,
            "width": 96,
            "pre_encode": True,
        },
        "optim": {"lr": 1e-3, "warmup_steps": 50, "schedule": "cosine", "grad_accum": 1},
        "sampling": {"steps": 20, "guidance_scale": 1.0, "shift": 3.0},
    },
    "wan-1.3b": {
        "output_dir": "runs/wan-1.3b",
        "max_steps": 5500,
        "precision": "bf16",
        "model": {
            "variant": "wan2.1-fun-1.3b-inp",
            "vae": "",
            "lora_alpha": 32.0,
            "gradient_checkpointing": True,
        },
        "data": {"source": "cache"},
        "optim": {"lr": 1e-4, "grad_accum": 4},
    },
    # The paper: LoRA rank 64, 5 links, lr 1e-4, batch 1 per GPU x 8 GPUs, accumulation 4, 5500 steps.
    "one4d-14b": {
        "output_dir": "runs/one4d-14b",
        "max_steps": 5500,
        "batch_size": 1,
        "precision": "bf16",
        "distributed": "fsdp",
        "model": {
            "variant": "wan2.1-fun-14b-inp",
            "vae": "",
            "lora_rank": 64,
            "lora_alpha": 32.0,  # rank / 2 (scale 0.5), as VideoX-Fun and 4DNeX train LoRA on this base
            "num_links": 5,
            "gradient_checkpointing": True,
        },
        "data": {"source": "cache", "num_frames": 81, "height": 352, "width": 624},
        "optim": {"lr": 1e-4, "grad_accum": 4},
    },
}


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check (and gently convert) a value against a field annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"config key '{key}': expected {annotation}, got {value!r}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}': expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}': expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
        return value
    raise ConfigError(f"config key '{key}': unsupported type {annotation}")  # pragma: no cover


def _apply(target: Any, updates: dict[str, Any], prefix: str = "") -> None:
    types = _field_types(type(target))
    for key, value in updates.items():
        name = f"{prefix}{key}"
        if key not in types:
            known = ", ".join(sorted(types))
            raise ConfigError(f"unknown config key '{name}' (known keys here: {known})")
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"config key '{name}' is a section: expected a table, got {value!r}")
            _apply(current, value, prefix=f"{name}.")
        else:
            setattr(target, key, _coerce(value, types[key], name))


def toml_string(text: str) -> str:
    """`text` as a TOML basic string, for building `key=value` overrides from paths and names."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like key=value (e.g. optim.lr=3e-4)")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare string
    return key.strip().split("."), value


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {path[-1]: value}
    for part in reversed(path[:-1]):
        out = {part: out}
    return out


def load_config(
    config_file: str | Path | None = None,
    preset: str | None = None,
    overrides: list[str] | None = None,
) -> TrainConfig:
    """Preset (default `tiny-cpu`), then the TOML file, then `key=value` overrides; validated."""
    file_data: dict[str, Any] = {}
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            file_data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"config file {path} is not valid TOML: {err}") from err
    preset_name = preset or file_data.pop("preset", None) or "tiny-cpu"
    file_data.pop("preset", None)
    if preset_name not in PRESETS:
        raise ConfigError(f"unknown preset '{preset_name}' (choose from {', '.join(PRESETS)})")
    config = TrainConfig()
    _apply(config, PRESETS[preset_name])
    config.preset = preset_name
    _apply(config, file_data)
    for text in overrides or []:
        path_parts, value = _parse_override(text)
        _apply(config, _nest(path_parts, value))
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    """Value checks that types alone cannot express."""

    def need(ok: bool, key: str, expected: str, value: Any) -> None:
        if not ok:
            raise ConfigError(f"config key '{key}': expected {expected}, got {value!r}")

    m, d, o = config.model, config.data, config.optim
    need(m.variant in VARIANTS, "model.variant", f"one of {VARIANTS}", m.variant)
    need(m.coupling in COUPLINGS, "model.coupling", f"one of {COUPLINGS}", m.coupling)
    need(m.lora_rank >= 1, "model.lora_rank", "a positive integer", m.lora_rank)
    need(0 <= m.lora_dropout < 1, "model.lora_dropout", "a value in [0, 1)", m.lora_dropout)
    need(m.num_links >= 0, "model.num_links", "a non-negative integer", m.num_links)
    need(
        not (m.xyz_condition and m.coupling != "dlc"),
        "model.xyz_condition",
        "false unless model.coupling = 'dlc' (the option feeds the conditioning to the XYZ branch)",
        m.xyz_condition,
    )
    need(
        not (m.train_base and m.variant not in CPU_VARIANTS),
        "model.train_base",
        f"false for the Wan variants (the base stays frozen; only {CPU_VARIANTS} may train it)",
        m.train_base,
    )
    need(d.source in DATA_SOURCES, "data.source", f"one of {DATA_SOURCES}", d.source)
    need(
        d.source != "cache" or bool(d.cache_dir),
        "data.cache_dir",
        "a latent-cache directory when data.source = 'cache'",
        d.cache_dir,
    )
    need(
        d.num_frames >= 1 and (d.num_frames - 1) % 4 == 0 and d.num_frames <= 81,
        "data.num_frames",
        "4k + 1 frames, at most 81",
        d.num_frames,
    )
    need(d.height > 0 and d.height % 16 == 0, "data.height", "a positive multiple of 16", d.height)
    need(d.width > 0 and d.width % 16 == 0, "data.width", "a positive multiple of 16", d.width)
    need(
        len(d.task_ratios) in (3, 4) and all(r >= 0 for r in d.task_ratios) and sum(d.task_ratios) > 0,
        "data.task_ratios",
        "three or four non-negative weights (single image, sparse frames, full video[, text])",
        d.task_ratios,
    )
    need(d.num_clips >= 1, "data.num_clips", "a positive integer", d.num_clips)
    need(d.num_workers >= 0, "data.num_workers", "a non-negative integer", d.num_workers)
    need(o.lr > 0, "optim.lr", "a positive number", o.lr)
    need(
        len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas), "optim.betas", "two values in [0, 1)", o.betas
    )
    need(o.schedule in SCHEDULES, "optim.schedule", f"one of {SCHEDULES}", o.schedule)
    need(o.warmup_steps >= 0, "optim.warmup_steps", "a non-negative integer", o.warmup_steps)
    need(o.grad_accum >= 1, "optim.grad_accum", "a positive integer", o.grad_accum)
    need(
        o.max_grad_norm >= 0,
        "optim.max_grad_norm",
        "a non-negative number (0 disables clipping)",
        o.max_grad_norm,
    )
    need(config.max_steps >= 1, "max_steps", "a positive integer", config.max_steps)
    need(config.batch_size >= 1, "batch_size", "a positive integer", config.batch_size)
    need(config.timestep_shift > 0, "timestep_shift", "a positive number", config.timestep_shift)
    need(0 <= config.cfg_dropout < 1, "cfg_dropout", "a value in [0, 1)", config.cfg_dropout)
    need(config.precision in PRECISIONS, "precision", f"one of {PRECISIONS}", config.precision)
    need(config.distributed in DISTRIBUTED, "distributed", f"one of {DISTRIBUTED}", config.distributed)
    sp = config.sampling
    need(sp.steps >= 1, "sampling.steps", "a positive integer", sp.steps)
    need(sp.guidance_scale >= 0, "sampling.guidance_scale", "a non-negative number", sp.guidance_scale)
    need(sp.shift > 0, "sampling.shift", "a positive number", sp.shift)
    need(config.keep_last >= 1, "keep_last", "a positive integer", config.keep_last)
    need(config.save_every >= 1, "save_every", "a positive integer", config.save_every)
    need(config.log_every >= 1, "log_every", "a positive integer", config.log_every)
    if d.source == "datasets" or d.datasets:  # one4d-cache reads data.datasets whatever the source
        _validate_datasets(d, need)
    need(all(s >= 1 for s in d.strides) and bool(d.strides), "data.strides", "positive integers", d.strides)
    for key, value in (
        ("model.base_path", m.base_path),
        ("model.text_encoder", m.text_encoder),
        ("model.image_encoder", m.image_encoder),
        ("data.captions", d.captions),
    ):
        need(not value or Path(value).exists(), key, "an existing local path", value)
    vae_is_path = m.vae not in ("", *NAMED_VAES)
    need(not vae_is_path or Path(m.vae).exists(), "model.vae", "an existing local path", m.vae)
    need(
        m.variant != "one4d-tiny-p1" or bool(m.base_path) or m.train_base,
        "model.base_path",
        "a pretrained one4d-tiny-p1 base (`one4d-pretrain base --set variant=one4d-tiny-p1`): nothing ships "
        "for this variant, and a frozen random base could not be rebuilt from the run's checkpoints",
        m.base_path,
    )
    if m.variant not in CPU_VARIANTS:
        need(bool(m.base_path), "model.base_path", f"a local path to the {m.variant} weights", m.base_path)
        need(vae_is_path, "model.vae", "a local path to the Wan2.1 VAE", m.vae)
        if d.source != "cache":  # a cache already holds the text and image embeddings
            missing = missing_encoder_paths(m)
            for key, name in ENCODER_NAMES.items():
                need(key not in missing, key, f"a local path to the {name}", "")


ENCODER_NAMES = {"model.text_encoder": "umT5 encoder", "model.image_encoder": "CLIP image encoder"}


def missing_encoder_paths(m: ModelConfig) -> list[str]:
    """The encoder keys a model needs a local path in and has none: the Wan variants read umT5 and CLIP from
    local folders, the CPU-sized ones (`CPU_VARIANTS`) use the tiny stand-ins and need none. Whatever encodes
    text or frames (training, `one4d-cache`) asks this one rule."""
    if m.variant in CPU_VARIANTS:
        return []
    paths = {"model.text_encoder": m.text_encoder, "model.image_encoder": m.image_encoder}
    return [key for key, value in paths.items() if not value]


def _validate_datasets(d: DataConfig, need) -> None:
    from one4d_data.readers import FORMATS

    need(bool(d.datasets), "data.datasets", 'at least one "FORMAT:ROOT" when data.source = "datasets"', [])
    for i, spec in enumerate(d.datasets):
        fmt, _, root = spec.partition(":")
        need(
            fmt in FORMATS and bool(root),
            f"data.datasets[{i}]",
            f'"FORMAT:ROOT" with FORMAT in {sorted(FORMATS)}',
            spec,
        )
        need(Path(root).exists(), f"data.datasets[{i}]", "a root folder that exists", spec)
    w = d.dataset_weights
    need(
        not w or (len(w) == len(d.datasets) and all(x >= 0 for x in w) and sum(w) > 0),
        "data.dataset_weights",
        f"empty or {len(d.datasets)} non-negative weights, not all zero",
        w,
    )


def to_dict(config: TrainConfig) -> dict[str, Any]:
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if v is not None}
        return value

    return clean(dataclasses.asdict(config))


def save_config(config: TrainConfig, path: str | Path) -> None:
    """The resolved configuration as TOML (loadable again with `--config`)."""
    atomic_write_text(path, tomli_w.dumps(to_dict(config)))


def model_spec(config: TrainConfig):
    """The `one4d_model.ModelSpec` of a run: what it writes into its checkpoints and what rebuilds the model
    (the only place where the training config is mapped onto the model's)."""
    from one4d_model.loading.spec import ModelSpec, SamplerConfig

    m, d, sp = config.model, config.data, config.sampling
    return ModelSpec(
        variant=m.variant,
        base_path=m.base_path,
        coupling=m.coupling,
        lora_rank=m.lora_rank,
        lora_alpha=m.lora_alpha,
        lora_dropout=m.lora_dropout,
        num_links=m.num_links,
        link_blocks=m.link_blocks,
        xyz_condition=m.xyz_condition,
        base_trained=m.train_base,
        attention_backend=m.attention_backend,
        vae=m.vae,
        text_encoder=m.text_encoder,
        image_encoder=m.image_encoder,
        num_frames=d.num_frames,
        height=d.height,
        width=d.width,
        sampling=SamplerConfig(num_steps=sp.steps, guidance_scale=sp.guidance_scale, shift=sp.shift),
    )
