"""Ship a run's fine-tuned weights as the named model `one4d-tiny` (what `one4d-generate one4d-tiny` loads).

    uv run python tools/ship_tiny.py runs/prior/shipped            # DLC fine-tuned on the shipped base
    uv run python tools/ship_tiny.py runs/prior/longer --base runs/base-long/base   # and replace the base

Writes `one4d_model/assets/one4d-tiny-dlc.safetensors`: the run's trained tensors in float16 (half the size;
the loader casts them back to the model's dtype) with the run's spec, whose base is the shipped one. With
`--base`, the run was trained on another frozen base, which then replaces `assets/one4d-tiny-base` (the
default training preset starts from it too). The run's training record is kept in the metadata.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil

import torch
from one4d_model.loading.run_format import SPEC_METADATA_KEY, find_checkpoint, read_spec, write_trainable
from one4d_model.models.tiny import TINY_BASE_DIR, TINY_DLC_FILE, TINY_NAME
from safetensors import safe_open


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a one4d-train run folder, step folder or trainable.safetensors")
    parser.add_argument("--base", help="the diffusers folder of the frozen base the run trained on")
    args = parser.parse_args()
    checkpoint = find_checkpoint(args.run)
    spec = read_spec(checkpoint)
    if spec.variant != TINY_NAME or spec.vae != TINY_NAME or spec.base_trained:
        raise SystemExit(f"{checkpoint}: not a fine-tuning of the frozen {TINY_NAME} base with its VAE")
    if (spec.base_path is None) != (args.base is None):
        raise SystemExit(
            f"{checkpoint}: trained on base {spec.base_path or 'shipped'}; give --base accordingly"
        )
    with safe_open(str(checkpoint), framework="pt") as handle:
        metadata = {
            k: v for k, v in (handle.metadata() or {}).items() if k not in ("format", SPEC_METADATA_KEY)
        }
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    half = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in tensors.items()}
    if args.base is not None:
        shutil.rmtree(TINY_BASE_DIR)
        shutil.copytree(args.base, TINY_BASE_DIR)
    metadata["one4d_shipped_from"] = str(checkpoint)
    write_trainable(TINY_DLC_FILE, half, dataclasses.replace(spec, base_path=None), extra=metadata)
    size = TINY_DLC_FILE.stat().st_size / 1e6
    print(f"wrote {TINY_DLC_FILE} ({size:.1f} MB) from {checkpoint}")
    total = sum(p.stat().st_size for p in TINY_DLC_FILE.parent.rglob("*") if p.is_file()) / 1e6
    print(f"assets in all: {total:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
