"""Weights on disk: trainable state, LoRA export to stock diffusers, base weights in both layouts."""

import copy
import json

import pytest
import torch
from diffusers import WanTransformer3DModel
from one4d_model import (
    WAN_CONFIGS,
    One4DTransformer,
    build_one4d_transformer,
    load_trainable,
    load_wan_base,
    save_lora,
    save_trainable,
)
from one4d_model.testing import perturb_
from safetensors.torch import save_file


def _perturb_all(model, seed=0):
    for i, params in enumerate(model.trainable_groups().values()):
        perturb_(params, seed=seed + i)


@torch.no_grad()
def test_trainable_state_round_trips(make_model, inputs, tmp_path):
    source = make_model(seed=0)
    _perturb_all(source)
    save_trainable(source, tmp_path / "state.safetensors")
    target = make_model(seed=0)  # same base, fresh trainables
    assert (target(**inputs).rgb - source(**inputs).rgb).abs().max() > 1e-4
    report = load_trainable(target, tmp_path / "state.safetensors")
    assert report == {"missing": [], "unexpected": []}
    torch.testing.assert_close(target(**inputs).rgb, source(**inputs).rgb, atol=0, rtol=0)
    torch.testing.assert_close(target(**inputs).xyz, source(**inputs).xyz, atol=0, rtol=0)


def test_load_trainable_reports_missing_unexpected_and_mismatched(make_model, tmp_path):
    save_trainable(make_model(link_blocks=[1]), tmp_path / "one_link.safetensors")
    with pytest.raises(KeyError, match="missing tensors .*links.3"):
        load_trainable(make_model(link_blocks=[1, 3]), tmp_path / "one_link.safetensors")
    report = load_trainable(make_model(link_blocks=[3]), tmp_path / "one_link.safetensors", strict=False)
    assert any(k.startswith("links.3.") for k in report["missing"])
    assert any(k.startswith("links.1.") for k in report["unexpected"])
    save_trainable(make_model(lora_rank=8), tmp_path / "rank8.safetensors")
    mismatch = r"tensor .*lora_A.* has shape \(8, .*the model its spec describes has \(4, .*and \d+ more"
    with pytest.raises(ValueError, match=mismatch):
        load_trainable(make_model(lora_rank=4), tmp_path / "rank8.safetensors")


@torch.no_grad()
def test_exported_rgb_lora_loads_into_stock_diffusers(inputs, tmp_path):
    torch.manual_seed(0)
    base = WanTransformer3DModel(**WAN_CONFIGS["tiny"])
    stock = copy.deepcopy(base)
    model = One4DTransformer(base, lora_rank=4, lora_alpha=8)  # scale alpha / r = 2 must survive the export
    perturb_(model.trainable_groups()["lora_rgb"], seed=1)
    perturb_(model.trainable_groups()["lora_xyz"], seed=2)
    save_lora(model, tmp_path / "rgb_lora.safetensors", branch="rgb")
    stock.load_lora_adapter(
        str(tmp_path), weight_name="rgb_lora.safetensors", prefix="transformer", adapter_name="rgb"
    )
    out = model(**inputs)
    rgb_in = torch.cat([inputs["rgb_latents"], inputs["cond_mask"], inputs["cond_latents"]], dim=1)
    ref = stock(
        rgb_in, inputs["timestep"], inputs["encoder_hidden_states"], inputs["encoder_hidden_states_image"]
    ).sample
    assert (
        ref
        - model.base(
            rgb_in, inputs["timestep"], inputs["encoder_hidden_states"], inputs["encoder_hidden_states_image"]
        ).sample
    ).abs().max() > 1e-4  # LoRA acts
    torch.testing.assert_close(out.rgb, ref, atol=1e-5, rtol=0)


def _to_original_wan_keys(state_dict):
    """Invert DESIGN §4's key map (diffusers -> original Wan) to write a checkpoint as Wan ships it."""
    renames = [
        ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
        ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
        ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
        ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
        ("condition_embedder.time_proj", "time_projection.1"),
        ("condition_embedder.image_embedder.norm1", "img_emb.proj.0"),
        ("condition_embedder.image_embedder.ff.net.0.proj", "img_emb.proj.1"),
        ("condition_embedder.image_embedder.ff.net.2", "img_emb.proj.3"),
        ("condition_embedder.image_embedder.norm2", "img_emb.proj.4"),
        (".attn1.", ".self_attn."),
        (".attn2.", ".cross_attn."),
        (".to_out.0.", ".o."),
        (".to_q.", ".q."),
        (".to_k.", ".k."),
        (".to_v.", ".v."),
        (".add_k_proj.", ".k_img."),
        (".add_v_proj.", ".v_img."),
        (".norm_added_k.", ".norm_k_img."),
        (".ffn.net.0.proj.", ".ffn.0."),
        (".ffn.net.2.", ".ffn.2."),
        (".norm2.", ".norm3."),
        (".scale_shift_table", ".modulation"),
        ("proj_out.", "head.head."),
    ]
    out = {}
    for key, value in state_dict.items():
        new = "head.modulation" if key == "scale_shift_table" else key
        for old, replacement in renames:
            new = new.replace(old, replacement)
        out[new] = value.contiguous()
    assert len(out) == len(state_dict)
    return out


@torch.no_grad()
def test_original_wan_layout_gives_the_same_model_as_diffusers_format(inputs, tmp_path):
    torch.manual_seed(0)
    reference = WanTransformer3DModel(**WAN_CONFIGS["tiny"])
    reference.save_pretrained(tmp_path / "diffusers", safe_serialization=True)
    original = _to_original_wan_keys(reference.state_dict())
    assert "blocks.0.self_attn.q.weight" in original and "head.head.weight" in original
    # Two shards plus an index, as Wan releases them.
    keys = sorted(original)
    shards = {
        "w-00001-of-00002.safetensors": keys[: len(keys) // 2],
        "w-00002-of-00002.safetensors": keys[len(keys) // 2 :],
    }
    (tmp_path / "wan").mkdir()
    for name, shard_keys in shards.items():
        save_file({k: original[k] for k in shard_keys}, str(tmp_path / "wan" / name))
    index = {"weight_map": {k: name for name, ks in shards.items() for k in ks}}
    (tmp_path / "wan" / "w.safetensors.index.json").write_text(json.dumps(index))

    from_original = build_one4d_transformer("tiny", base_path=tmp_path / "wan", lora_rank=4)
    from_diffusers = build_one4d_transformer("tiny", base_path=tmp_path / "diffusers", lora_rank=4)
    plain = load_wan_base(tmp_path / "wan" / "w.safetensors.index.json", "tiny", dtype=torch.float32)
    rgb_in = torch.cat([inputs["rgb_latents"], inputs["cond_mask"], inputs["cond_latents"]], dim=1)
    ctx = (inputs["timestep"], inputs["encoder_hidden_states"], inputs["encoder_hidden_states_image"])
    torch.testing.assert_close(plain(rgb_in, *ctx).sample, reference(rgb_in, *ctx).sample, atol=0, rtol=0)
    a, b = from_original(**inputs), from_diffusers(**inputs)
    torch.testing.assert_close(a.rgb, b.rgb, atol=0, rtol=0)
    torch.testing.assert_close(a.xyz, b.xyz, atol=0, rtol=0)


@torch.no_grad()
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_diffusers_layout_loads_like_from_pretrained(inputs, tmp_path, dtype):
    """The meta-device loader matches diffusers' own from_pretrained: values, per-parameter dtypes (Wan's
    fp32 modules stay fp32 under bf16) and outputs."""
    torch.manual_seed(1)
    WanTransformer3DModel(**WAN_CONFIGS["tiny"]).save_pretrained(tmp_path / "d", safe_serialization=True)
    ours = load_wan_base(tmp_path / "d", dtype=dtype)
    theirs = WanTransformer3DModel.from_pretrained(str(tmp_path / "d"), torch_dtype=dtype)
    a, b = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert torch.equal(a[name], b[name]), name
    assert a["scale_shift_table"].dtype == torch.float32
    rgb_in = torch.cat([inputs["rgb_latents"], inputs["cond_mask"], inputs["cond_latents"]], dim=1).to(dtype)
    ctx = (
        inputs["timestep"],
        inputs["encoder_hidden_states"].to(dtype),
        inputs["encoder_hidden_states_image"].to(dtype),
    )
    torch.testing.assert_close(ours(rgb_in, *ctx).sample, theirs(rgb_in, *ctx).sample, atol=0, rtol=0)


def test_a_checkpoint_that_does_not_fit_the_config_names_the_tensors(tmp_path):
    WanTransformer3DModel(**WAN_CONFIGS["tiny"]).save_pretrained(tmp_path / "d", safe_serialization=True)
    config = json.loads((tmp_path / "d" / "config.json").read_text())
    config["num_layers"] = 5
    (tmp_path / "d" / "config.json").write_text(json.dumps(config))
    with pytest.raises(KeyError, match=r"diffusers checkpoint at .* missing \['blocks\.4\."):
        load_wan_base(tmp_path / "d")


def test_base_weight_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_wan_base(tmp_path / "nowhere")
    (tmp_path / "model.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="safetensors"):
        load_wan_base(tmp_path / "model.bin")
    torch.manual_seed(0)
    original = _to_original_wan_keys(WanTransformer3DModel(**WAN_CONFIGS["tiny"]).state_dict())
    save_file(original, str(tmp_path / "wan.safetensors"))
    with pytest.raises(ValueError, match="config"):
        load_wan_base(tmp_path / "wan.safetensors")
    with pytest.raises(ValueError, match="shape"):
        load_wan_base(tmp_path / "wan.safetensors", {**WAN_CONFIGS["tiny"], "ffn_dim": 64})
