"""The README's study figures and tables: several `one4d-prior` studies (same held-out scenes) merged under
readable labels. Run from the folder that holds `runs/`; a study run again keeps its scores and adds what is
missing (e.g. `xyz_explained` in studies written before it existed).

The paper's claim in miniature (docs/images/prior_study):

    uv run one4d-prior --output-dir runs/prior --base shipped --base random \
        --set save_every=500 --set data.eval_clips=16
    uv run one4d-prior --output-dir runs/links6 --base shipped --set model.num_links=6 \
        --set save_every=500 --set data.eval_clips=16 --set 'data.cache_dir="runs/prior/latent-cache"'
    uv run one4d-prior --output-dir runs/fvs1 --base shipped --set 'data.task_ratios=[0.0,0.0,1.0]' \
        --set timestep_shift=1.0 --set sampling.shift=1.0 \
        --set save_every=500 --set data.eval_clips=16 --set 'data.cache_dir="runs/prior/latent-cache"'
    uv run python tools/prior_study_figure.py docs/images/prior_study \
        "random base, 2 links=runs/prior:random" \
        "shipped base, 2 links (default)=runs/prior:shipped" \
        "shipped base, 6 links=runs/links6:shipped" \
        "shipped base, full video only, shift 1=runs/fvs1:shipped"

The controlled experiments (docs/images/experiments): each changes one thing of the default (`tiny-cpu`, 1500
steps of batch 4, seed 0, shipped base) with the common settings above (`--set save_every=500 --set
data.eval_clips=16 --set 'data.cache_dir="runs/prior/latent-cache"'`) and `--base shipped`:

    runs/rank64     --set model.lora_rank=64 --set model.lora_alpha=32.0
    runs/channel    --set 'model.coupling="channel"'
    runs/xyzcond    --set model.xyz_condition=true
    runs/data4x     --set data.num_clips=4096
    runs/shift8     --set timestep_shift=8.0
    runs/fvonly     --set 'data.task_ratios=[0.0,0.0,1.0]'
    runs/sigma1     --set 'data.task_ratios=[0.0,0.0,1.0]' --set timestep_shift=1000.0
    runs/sigma1cond --set 'data.task_ratios=[0.0,0.0,1.0]' --set timestep_shift=1000.0 \
                    --set model.xyz_condition=true

Token density (1 x 1 latent patches) needs its own base, pretrained like the shipped one (4000 steps of
batch 8 on 2048 clips), and replaces `--base shipped`:

    uv run one4d-pretrain base --output-dir runs/base-p1 --set variant=one4d-tiny-p1
    runs/dense      --base dense=runs/base-p1/base --set 'model.variant="one4d-tiny-p1"'
    runs/long       --base dense-long=runs/base-p1/base --set 'model.variant="one4d-tiny-p1"' \
                    --set max_steps=4500 --set save_every=1500 --set data.num_clips=4096 \
                    --set timestep_shift=8.0     # everything the 1500-step rows favour, 3x as long

    uv run python tools/prior_study_figure.py docs/images/experiments \
        "default (DLC, 2 links, paper's task mix, shift 3)=runs/prior:shipped" \
        "control links at every block (6)=runs/links6:shipped" \
        "LoRA rank 64=runs/rank64:shipped" \
        "channel coupling (paper's Figure 2a)=runs/channel:shipped" \
        "XYZ branch reads the conditioning (departure)=runs/xyzcond:shipped" \
        "4x the clips (4096)=runs/data4x:shipped" \
        "training noise shift 8=runs/shift8:shipped" \
        "full-video task only=runs/fvonly:shipped" \
        "full-video task only, shift 1 in training and sampling=runs/fvs1:shipped" \
        "1 x 1 latent patches (own base)=runs/dense:dense" \
        "1 x 1, shift 8, 4096 clips, 4500 steps (own base)=runs/long:dense-long" \
        "random base=runs/prior:random"

Writes OUT.json and OUT.png and prints the Markdown table. The studies must share their references (the
same held-out scenes and VAE); a mismatch is refused.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from one4d_geometry.files import atomic_write_text
from one4d_train.prior_study import format_study, plot_study


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    out, arms = Path(argv[0]), argv[1:]
    merged: dict = {"runs": {}}
    for arm in arms:
        label, _, source = arm.partition("=")
        folder, _, run = source.rpartition(":")
        study = json.loads((Path(folder) / "study.json").read_text())
        for key in ("constant", "vae", "held_out_clips"):
            if merged.setdefault(key, study[key]) != study[key]:
                raise SystemExit(f"{folder}: its {key} differs from the other studies' (other scenes?)")
        merged["runs"][label] = study["runs"][run]
    atomic_write_text(out.with_suffix(".json"), json.dumps(merged, indent=2) + "\n")
    plot_study(merged, out.with_suffix(".png"))
    print(format_study(merged))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
