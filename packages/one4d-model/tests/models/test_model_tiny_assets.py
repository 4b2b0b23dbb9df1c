"""The tiny One4D in `one4d_model/models/assets` (made by `one4d-pretrain`): present, small, and trained."""

from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel
from one4d_data.dataset import ClipDataset, SyntheticSource, collate_samples
from one4d_data.umc import TaskRatios, pack_frame_mask
from one4d_model.loading.build import build_one4d_transformer
from one4d_model.models.configs import wan_config
from one4d_model.models.tiny import ASSETS, TINY_BASE_DIR, TINY_NAME, TINY_VAE_FILE
from one4d_model.models.tiny_encoders import TinyImageEncoder, TinyTextEncoder
from one4d_model.models.vae import build_vae
from one4d_model.pipelines.flow_matching import add_noise, timesteps_from_sigmas

# Scenes none of the pretraining stages drew (they use seeds 11, 23 and their held-out 3_000_017, 2_000_003).
UNSEEN_SEED = 777


@pytest.fixture(scope="module")
def clips() -> dict:
    source = SyntheticSource(6, 9, 64, 96, seed=UNSEEN_SEED)
    dataset = ClipDataset(source, 9, 64, 96, task_ratios=TaskRatios(0.0, 1.0, 0.0), seed=UNSEEN_SEED)
    return collate_samples([dataset[i] for i in range(len(dataset))])


def test_assets_exist_and_stay_under_20_mb():
    assert TINY_VAE_FILE.is_file(), f"missing {TINY_VAE_FILE}: run one4d-pretrain vae (see the README)"
    assert (TINY_BASE_DIR / "config.json").is_file(), f"missing {TINY_BASE_DIR}: run one4d-pretrain base"
    total = sum(p.stat().st_size for p in ASSETS.rglob("*") if p.is_file())
    assert total < 20 * 2**20, f"assets are {total / 2**20:.1f} MiB"


def test_shipped_vae_reconstructs_unseen_clips_better_than_its_principal_components(clips):
    vae = build_vae(TINY_NAME)
    # Measured when shipped: RGB 0.064 (PCA 0.070), pointmap codes 0.021 (PCA 0.032), values in [-1, 1].
    for kind, ratio, bound in (("rgb", 0.95, 0.07), ("xyz", 0.8, 0.03)):
        video = clips[kind]
        refined = (vae.decode(vae.encode(video)) - video).abs().mean()
        pca = (vae.linear.decode(vae.linear.encode(video)) - video).abs().mean()
        assert refined < ratio * pca, (kind, float(refined), float(pca))
        assert refined < bound, (kind, float(refined))


def test_shipped_base_predicts_masked_frames_better_than_a_random_base(clips):
    """The InP task the base was pretrained for (sparse frames observed), at fixed noise: the shipped base's
    flow-matching loss is far below that of the same architecture at random initialisation."""
    vae = build_vae(TINY_NAME)
    clean, cond = vae.encode(clips["rgb"]), vae.encode(clips["cond_rgb"])
    mask = pack_frame_mask(clips["frame_mask"], tuple(clean.shape[-2:]))
    config = wan_config(TINY_NAME)
    text = TinyTextEncoder(config["text_dim"])([""] * len(clean))
    image = TinyImageEncoder(config["image_dim"])(clips["rgb"][:, :, 0])  # as the base stage encodes them
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(clean.shape, generator=generator)
    sigmas = torch.full((len(clean),), 0.5)

    def loss(base: WanTransformer3DModel) -> float:
        with torch.no_grad():
            out = base(
                hidden_states=torch.cat([add_noise(clean, noise, sigmas), mask, cond], dim=1),
                timestep=timesteps_from_sigmas(sigmas),
                encoder_hidden_states=text,
                encoder_hidden_states_image=image,
                return_dict=False,
            )[0]
        return float((out - (noise - clean)).pow(2).mean())

    shipped = WanTransformer3DModel.from_pretrained(TINY_BASE_DIR).eval()
    torch.manual_seed(0)
    random = WanTransformer3DModel(**wan_config(TINY_NAME)).eval()
    assert loss(shipped) < 0.6 * loss(random)


def test_one4d_tiny_builds_on_the_shipped_base_by_default():
    shipped = WanTransformer3DModel.from_pretrained(TINY_BASE_DIR)
    model = build_one4d_transformer(TINY_NAME, lora_rank=4, num_links=2)
    weights = dict(model.base.named_parameters())
    torch.testing.assert_close(
        weights["blocks.0.attn1.to_q.base_layer.weight"], shipped.blocks[0].attn1.to_q.weight
    )
    assert not any(p.requires_grad for n, p in model.base.named_parameters() if "lora" not in n)
