"""DLC forward: equivalence with the base at init, branch isolation, links, batching, input errors."""

import pytest
import torch
from one4d_model.errors import ModelError
from one4d_model.testing import make_tiny_inputs as make_inputs
from one4d_model.testing import perturb_

ATOL = 1e-5


def base_outputs(model, inp):
    """The frozen base on the RGB input cat([rgb, mask, cond]) and on cat([xyz, zeros(20)])."""
    b, _, f, h, w = inp["xyz_latents"].shape
    rgb_in = torch.cat([inp["rgb_latents"], inp["cond_mask"], inp["cond_latents"]], dim=1)
    xyz_in = torch.cat([inp["xyz_latents"], torch.zeros(b, 20, f, h, w)], dim=1)
    ctx = (inp["timestep"], inp["encoder_hidden_states"], inp["encoder_hidden_states_image"])
    return model.base(rgb_in, *ctx).sample, model.base(xyz_in, *ctx).sample


@torch.no_grad()
def test_at_init_each_branch_equals_the_base_model(make_model, inputs):
    """The guard of the code in `transformer.py` marked "Mirrors diffusers": if diffusers changes
    `WanTransformer3DModel.forward`, our re-implementation of its parts no longer matches and this fails."""
    model = make_model()
    out = model(**inputs)
    rgb_ref, xyz_ref = base_outputs(model, inputs)
    assert out.rgb.shape == out.xyz.shape == inputs["rgb_latents"].shape
    torch.testing.assert_close(out.rgb, rgb_ref, atol=ATOL, rtol=0)
    torch.testing.assert_close(out.xyz, xyz_ref, atol=ATOL, rtol=0)


@torch.no_grad()
def test_xyz_lora_and_heads_do_not_reach_rgb_while_links_are_zero(make_model, inputs):
    model = make_model()
    before = model(**inputs)
    groups = model.trainable_groups()
    perturb_(groups["lora_xyz"], seed=1)
    perturb_(groups["xyz_heads"], seed=2)
    after = model(**inputs)
    torch.testing.assert_close(after.rgb, before.rgb, atol=0, rtol=0)
    assert (after.xyz - before.xyz).abs().max() > 1e-3


@torch.no_grad()
def test_rgb_lora_changes_rgb_only_while_links_are_zero(make_model, inputs):
    model = make_model()
    before = model(**inputs)
    perturb_(model.trainable_groups()["lora_rgb"], seed=3)
    after = model(**inputs)
    torch.testing.assert_close(after.xyz, before.xyz, atol=0, rtol=0)
    assert (after.rgb - before.rgb).abs().max() > 1e-3


@torch.no_grad()
def test_a_nonzero_link_couples_the_branches(make_model, inputs):
    model = make_model()
    perturb_(model.trainable_groups()["lora_xyz"], seed=1)
    unlinked = model(**inputs)
    with torch.no_grad():
        model.links[str(model.link_blocks[0])].to_rgb.weight.normal_(0, 0.05)
    linked = model(**inputs)
    assert (linked.rgb - unlinked.rgb).abs().max() > 1e-3
    # Changing the XYZ LoRA now also changes the RGB prediction.
    perturb_(model.trainable_groups()["lora_xyz"], seed=5)
    assert (model(**inputs).rgb - linked.rgb).abs().max() > 1e-4


def test_link_updates_use_pre_update_values():
    from one4d_model.models.links import ControlLink

    link = ControlLink(3)
    with torch.no_grad():
        link.to_rgb.weight.copy_(torch.eye(3))
        link.to_xyz.weight.copy_(2 * torch.eye(3))
    rgb, xyz = torch.ones(1, 2, 3), torch.full((1, 2, 3), 10.0)
    new_rgb, new_xyz = link(torch.cat([rgb, xyz])).chunk(2)
    torch.testing.assert_close(new_rgb, rgb + xyz)  # 11, from the old xyz
    torch.testing.assert_close(new_xyz, xyz + 2 * rgb)  # 12, from the old rgb (not 10 + 2 * 11)


def test_default_link_blocks_spread_over_depth_and_clamp():
    from one4d_model.models.links import default_link_blocks

    assert default_link_blocks(40) == [7, 15, 23, 31, 39]
    assert default_link_blocks(4) == [0, 1, 2, 3]
    assert default_link_blocks(30, 5) == [5, 11, 17, 23, 29]


def test_link_blocks_option_and_bad_index(make_model):
    assert make_model(link_blocks=[1, 3]).link_blocks == (1, 3)
    with pytest.raises(ValueError, match="link_blocks"):
        make_model(link_blocks=[4])


@torch.no_grad()
def test_batched_samples_match_single_samples_cfg_style(make_model):
    """A CFG batch is just a larger B: every row's prediction equals that sample run alone."""
    model = make_model()
    perturb_(model.trainable_groups()["lora_rgb"], seed=1)
    perturb_(model.trainable_groups()["lora_xyz"], seed=2)
    perturb_(model.trainable_groups()["links"], seed=3)
    inp = make_inputs(batch=3)
    inp["encoder_hidden_states"][1:] = 0  # "uncond" rows with zeroed text
    out = model(**inp)
    for i in range(3):
        single = model(**{k: v[i : i + 1] for k, v in inp.items()})
        torch.testing.assert_close(out.rgb[i : i + 1], single.rgb, atol=ATOL, rtol=0)
        torch.testing.assert_close(out.xyz[i : i + 1], single.xyz, atol=ATOL, rtol=0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("xyz_latents", torch.zeros(2, 16, 2, 4, 4), "xyz_latents"),
        ("rgb_latents", torch.zeros(2, 8, 2, 4, 6), "rgb_latents"),
        ("cond_mask", torch.zeros(2, 16, 2, 4, 6), "cond_mask"),
        ("cond_latents", torch.zeros(1, 16, 2, 4, 6), "cond_latents"),
        ("timestep", torch.zeros(3), "timestep"),
        ("encoder_hidden_states", torch.zeros(2, 77, 32), "512"),
        ("encoder_hidden_states", torch.zeros(2, 512, 16), "encoder_hidden_states"),
        ("encoder_hidden_states_image", None, "encoder_hidden_states_image"),
        ("encoder_hidden_states_image", torch.zeros(2, 257, 8), "encoder_hidden_states_image"),
    ],
)
def test_mismatched_inputs_raise_clear_errors(make_model, inputs, field, value, message):
    model = make_model()
    with pytest.raises(ValueError, match=message):
        model(**{**inputs, field: value})


def test_spatial_size_not_divisible_by_patch_raises(make_model):
    inp = make_inputs(height=5, width=6)
    with pytest.raises(ValueError, match="divisible by the patch size"):
        make_model()(**inp)


def test_unknown_coupling_raises(make_model):
    with pytest.raises(ValueError, match="coupling"):
        make_model(coupling="late-fusion")


@torch.no_grad()
def test_xyz_condition_feeds_the_conditioning_to_the_xyz_branch(make_model, inputs):
    """The departure `xyz_condition`: at init the XYZ branch is the base on cat([xyz, mask, cond]) (the
    whole base patch embedding copied), the RGB branch is unchanged; without it the XYZ branch ignores the
    conditioning while the links are zero."""
    model = make_model(xyz_condition=True)
    out = model(**inputs)
    ctx = (inputs["timestep"], inputs["encoder_hidden_states"], inputs["encoder_hidden_states_image"])
    xyz_in = torch.cat([inputs["xyz_latents"], inputs["cond_mask"], inputs["cond_latents"]], dim=1)
    torch.testing.assert_close(out.xyz, model.base(xyz_in, *ctx).sample, atol=ATOL, rtol=0)
    torch.testing.assert_close(out.rgb, base_outputs(model, inputs)[0], atol=ATOL, rtol=0)

    other_cond = {**inputs, "cond_latents": inputs["cond_latents"] + 1.0}
    assert (model(**other_cond).xyz - out.xyz).abs().max() > 1e-3
    plain = make_model()
    torch.testing.assert_close(plain(**other_cond).xyz, plain(**inputs).xyz, atol=0, rtol=0)


def test_xyz_condition_is_a_dlc_option(make_model):
    with pytest.raises(ModelError, match="xyz_condition is an option of the dlc coupling"):
        make_model(coupling="channel", xyz_condition=True)


@torch.no_grad()
def test_the_dense_tiny_variant_has_one_token_per_latent_pixel():
    """`one4d-tiny-p1` (token-density experiment): 1 x 1 patches, 4x the tokens of `one4d-tiny`."""
    from one4d_model import build_one4d_transformer

    counts = {}
    for variant in ("one4d-tiny", "one4d-tiny-p1"):
        torch.manual_seed(0)
        model = build_one4d_transformer(variant, base_path=None, lora_rank=4, num_links=1)
        if variant == "one4d-tiny-p1":
            inputs = make_inputs(batch=1, variant="one4d-tiny-p1")
            out = model(**inputs)
            assert out.xyz.shape == inputs["xyz_latents"].shape
        grid = model._patch_grid(torch.zeros(1, 16, 2, 4, 6))
        counts[variant] = grid[0] * grid[1] * grid[2]
    assert counts == {"one4d-tiny": 12, "one4d-tiny-p1": 48}
