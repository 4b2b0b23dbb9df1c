"""Command-line arguments shared by the training commands (one4d-train, one4d-cache, one4d-ablate,
one4d-pretrain), in a module of their own so the commands need not import one another."""

from __future__ import annotations

import argparse

from .config import PRESETS


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config, --preset and --set, shared by the training and cache-building commands."""
    parser.add_argument("--config", help="a TOML config file (sections: model, data, optim)")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="start from this preset (default tiny-cpu)")
    add_set_argument(parser, "override a config value, e.g. --set optim.lr=3e-4 (repeatable)")


def add_set_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """Repeatable `--set KEY=VALUE` into `args.overrides` (parsed by `config._parse_override`)."""
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help_text
    )
