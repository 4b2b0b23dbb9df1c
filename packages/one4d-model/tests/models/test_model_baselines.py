"""The Figure-2 coupling baselines: channel-wise and spatial-wise concatenation with one shared LoRA."""

import pytest
import torch
from one4d_model.testing import make_tiny_inputs, perturb_


@pytest.mark.parametrize("coupling", ["channel", "spatial"])
def test_baselines_have_one_shared_lora_and_the_right_shapes(make_model, coupling):
    model = make_model(coupling=coupling)
    groups = model.trainable_groups()
    assert model.branches == ("shared",)
    assert len(groups["lora_rgb"]) == 4 * 12 * 2 and groups["lora_xyz"] == [] and groups["links"] == []
    inp = make_tiny_inputs(batch=3, frames=3, height=4, width=8)
    with torch.no_grad():
        out = model(**inp)
    assert out.rgb.shape == out.xyz.shape == (3, 16, 3, 4, 8)
    assert torch.isfinite(out.rgb).all() and torch.isfinite(out.xyz).all()


@torch.no_grad()
def test_channel_rgb_equals_the_base_at_init_and_xyz_enters_through_the_widened_input(make_model, inputs):
    model = make_model(coupling="channel")
    out = model(**inputs)
    rgb_in = torch.cat([inputs["rgb_latents"], inputs["cond_mask"], inputs["cond_latents"]], dim=1)
    ctx = (inputs["timestep"], inputs["encoder_hidden_states"], inputs["encoder_hidden_states_image"])
    torch.testing.assert_close(out.rgb, model.base(rgb_in, *ctx).sample, atol=1e-5, rtol=0)
    # At init the XYZ half of the widened head is a copy of the RGB one, and XYZ latents have no effect.
    torch.testing.assert_close(out.xyz, out.rgb, atol=0, rtol=0)
    perturb_(model.trainable_groups()["xyz_heads"], seed=1)
    moved = model(**{**inputs, "xyz_latents": inputs["xyz_latents"] + 1})
    assert (moved.rgb - out.rgb).abs().max() > 1e-4


@torch.no_grad()
def test_spatial_halves_share_rope_positions_and_domain_embedding_separates_them(make_model):
    """With identical halves (same input, zero domain embedding) both halves see the same positions, so
    a duplicated sequence gives identical RGB and XYZ predictions; the domain embedding breaks the tie."""
    model = make_model(coupling="spatial")
    with torch.no_grad():
        model.xyz_patch_embedding.weight.copy_(model.base.patch_embedding.weight[:, :16])
        model.base.patch_embedding.weight[:, 16:].zero_()  # RGB tokens from the noisy latents only
    inp = make_tiny_inputs()
    inp["xyz_latents"] = inp["rgb_latents"].clone()
    out = model(**inp)
    torch.testing.assert_close(out.rgb, out.xyz, atol=1e-5, rtol=0)
    model.domain_embedding[1].normal_(0, 0.5)
    out = model(**inp)
    assert (out.rgb - out.xyz).abs().max() > 1e-3
