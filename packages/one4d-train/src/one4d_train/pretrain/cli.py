"""`one4d-pretrain`: reproduce the tiny One4D's pretrained VAE and base (the files shipped in one4d_model).

    one4d-pretrain vae  --output-dir runs/pretrain/vae
    one4d-pretrain base --output-dir runs/pretrain/base --vae runs/pretrain/vae/vae.safetensors

Each stage writes its result, `metrics.jsonl`, TensorBoard logs and `stage.json` (its settings) into its
output folder and resumes there if interrupted. `--set key=value` changes a setting of the stage (see
`VAEStageConfig` and `BaseStageConfig`).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

from one4d_geometry.cli_errors import run_cli

from ..arguments import add_set_argument
from ..config import ConfigError, _coerce, _parse_override


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="one4d-pretrain", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("vae", "base"), help="which part of the tiny One4D to train")
    parser.add_argument("--output-dir", required=True, help="where the stage writes its result and logs")
    parser.add_argument("--vae", help="base stage: the stage-1 VAE file (default: the packaged one)")
    add_set_argument(parser, "change a stage setting, e.g. --set steps=500 (repeatable)")
    return parser


def stage_config(cls: type, overrides: list[str]):
    """The stage's dataclass with `key=value` overrides applied (checked like the training config)."""
    config = cls()
    types = typing.get_type_hints(cls)
    for text in overrides:
        path, value = _parse_override(text)
        key = ".".join(path)
        if key not in types:
            known = ", ".join(f.name for f in dataclasses.fields(cls))
            raise ConfigError(f"unknown setting '{key}' (known: {known})")
        setattr(config, key, _coerce(value, types[key], key))
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli("one4d-pretrain", lambda: _pretrain(args))


def _pretrain(args) -> int:
    from .base import BaseStageConfig, train_base_stage
    from .vae import VAEStageConfig, train_vae_stage

    if args.stage == "vae":
        config = stage_config(VAEStageConfig, args.overrides)
    else:
        overrides = args.overrides + ([f'vae="{args.vae}"'] if args.vae else [])
        config = stage_config(BaseStageConfig, overrides)
    result = (train_vae_stage if args.stage == "vae" else train_base_stage)(args.output_dir, config)
    print(f"one4d-pretrain {args.stage}: wrote {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
