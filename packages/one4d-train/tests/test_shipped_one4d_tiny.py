"""The shipped fine-tuned `one4d-tiny`: loads by name with no training, generates from a photo through the
CLI, and has learnt its XYZ branch (held-out flow-matching loss far below the model at initialisation)."""

import numpy as np
import pytest
import torch
from one4d_model import One4DPipeline
from one4d_model.cli.generate import main as generate
from one4d_model.loading.run_format import find_checkpoint, load_trainable, read_spec
from one4d_model.models.tiny import ASSETS, TINY_DLC_FILE, TINY_NAME
from one4d_train.config import load_config
from one4d_train.evaluation import held_out_losses
from one4d_train.trainer import Trainer
from PIL import Image


def test_the_name_finds_the_shipped_weights_and_assets_stay_under_20_mb():
    assert find_checkpoint(TINY_NAME) == TINY_DLC_FILE
    spec = read_spec(TINY_DLC_FILE)
    assert (spec.variant, spec.vae, spec.base_path, spec.coupling) == (TINY_NAME, TINY_NAME, None, "dlc")
    total = sum(p.stat().st_size for p in ASSETS.rglob("*") if p.is_file())
    assert total < 20 * 2**20, f"assets are {total / 2**20:.1f} MiB"


def test_one4d_generate_runs_the_shipped_model_on_a_photo(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "out"
    assert generate([TINY_NAME, "--input", str(photo), "--out", str(out), "--quiet", "--no-recover"]) == 0
    with np.load(out / "pointmaps.npz") as archive:
        assert archive["pointmaps"].shape == (9, 64, 96, 3)
        assert archive["frames"].shape == (9, 64, 96, 3)
    assert "9 frames (single_image)" in capsys.readouterr().out


def test_shipped_weights_learnt_the_xyz_branch(tmp_path):
    """On held-out scenes at fixed noise: the shipped DLC's XYZ loss against the same model at initialisation
    (zero LoRA and links: the base's own forward on XYZ latents). Fails if the file stops loading or holds
    untrained weights."""
    overrides = [f'output_dir="{tmp_path}"', "data.num_clips=1", "data.eval_clips=4"]
    trainer = Trainer(load_config(None, "tiny-cpu", overrides))
    before = held_out_losses(trainer.core, trainer.eval_data, seed=0)
    load_trainable(trainer.core, TINY_DLC_FILE)
    after = held_out_losses(trainer.core, trainer.eval_data, seed=0)
    assert after["val_loss_xyz"] < 0.5 * before["val_loss_xyz"], (before, after)
    assert after["val_xyz_explained"] > before["val_xyz_explained"], (before, after)
    pipeline = One4DPipeline.from_checkpoint(TINY_NAME)
    weights = dict(pipeline.transformer.named_parameters())
    name = next(k for k in weights if "lora_B" in k and "xyz" in k)
    torch.testing.assert_close(weights[name], dict(trainer.core.named_parameters())[name])
    assert weights[name].abs().sum() > 0


def test_explained_variance_is_zero_for_the_channel_means_and_one_for_the_truth():
    from one4d_train.evaluation import explained_variance

    target = torch.randn(3, 4, 2, 5, 5) * torch.arange(1.0, 5.0).view(1, 4, 1, 1, 1) + 7.0
    means = target.mean(dim=(0, 2, 3, 4), keepdim=True).expand_as(target)
    assert explained_variance(target, target) == 1.0
    assert abs(explained_variance(means, target)) < 1e-6
    assert explained_variance(torch.zeros_like(target), target) < -1.0  # worse than the means: negative


def test_a_local_folder_of_that_name_wins_over_the_shipped_model(tmp_path, monkeypatch):
    (tmp_path / TINY_NAME).mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError):  # the folder is read as a run folder, which it is not
        find_checkpoint(TINY_NAME)
