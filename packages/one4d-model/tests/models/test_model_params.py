"""Parameter counts at the paper's scale, built on the meta device."""

import torch
from one4d_model import WAN_CONFIGS, build_one4d_transformer, parameter_report


def test_14b_parameter_counts_match_the_paper():
    model = build_one4d_transformer("wan2.1-fun-14b-inp", device="meta", dtype=torch.bfloat16)
    assert all(p.device.type == "meta" for p in model.parameters())
    report = parameter_report(model)
    lora_per_branch = 40 * 64 * (10 * (5120 + 5120) + 2 * (5120 + 13824))
    assert report["lora_rgb"] == report["lora_xyz"] == lora_per_branch
    assert report["lora_rgb"] + report["lora_xyz"] == 718_274_560
    assert report["links"] == 5 * 2 * (5120 * 5120 + 5120)
    assert report["xyz_heads"] == 332_800 + 327_744
    assert report["trainable"] == 981_130_304
    assert abs(report["trainable"] / 2**20 - 935.7) < 0.05
    assert 16.3e9 < report["frozen"] < 16.5e9
    assert model.link_blocks == (7, 15, 23, 31, 39)


def test_1_3b_builds_on_meta():
    model = build_one4d_transformer("wan2.1-fun-1.3b-inp", device="meta")
    report = parameter_report(model)
    cfg = WAN_CONFIGS["wan2.1-fun-1.3b-inp"]
    dim = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    assert dim == 1536
    assert report["lora_rgb"] == 30 * 64 * (10 * (dim + dim) + 2 * (dim + cfg["ffn_dim"]))
    assert len(model.base.blocks) == 30
    assert 1.4e9 < report["frozen"] < 1.7e9


def test_dtype_keeps_wan_fp32_modules():
    model = build_one4d_transformer("tiny", dtype=torch.bfloat16, lora_rank=4)
    params = dict(model.named_parameters())
    assert params["base.blocks.0.attn1.to_q.base_layer.weight"].dtype == torch.bfloat16
    assert params["base.blocks.0.scale_shift_table"].dtype == torch.float32
    assert params["base.condition_embedder.time_embedder.linear_1.weight"].dtype == torch.float32
    assert params["base.scale_shift_table"].dtype == torch.float32
    assert model.base.rope.freqs_cos.dtype == torch.float32  # not cast to bf16
