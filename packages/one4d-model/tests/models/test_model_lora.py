"""The grouped per-branch LoRA layer: routing, maths, peft-compatible initialisation."""

import math

import pytest
import torch
from one4d_model.models.lora import GroupedLoRALinear, lora_routing
from peft import LoraConfig, inject_adapter_in_model
from torch import nn


def _layer(rank=3, alpha=6.0):
    torch.manual_seed(0)
    layer = GroupedLoRALinear(nn.Linear(5, 7), ("rgb", "xyz"), rank=rank, alpha=alpha)
    with torch.no_grad():
        for b in layer.branches:
            layer.lora_B[b].weight.normal_()
    return layer


def test_init_follows_peft():
    torch.manual_seed(0)
    layer = GroupedLoRALinear(nn.Linear(64, 32), ("rgb", "xyz"), rank=8)
    bound = 1 / math.sqrt(64)  # kaiming_uniform(a=sqrt(5)) on fan_in 64
    for b in ("rgb", "xyz"):
        assert torch.all(layer.lora_B[b].weight == 0)
        a = layer.lora_A[b].weight
        assert a.shape == (8, 64) and a.abs().max() <= bound and a.abs().max() > bound / 2
    assert not torch.equal(layer.lora_A["rgb"].weight, layer.lora_A["xyz"].weight)
    assert layer.scaling == 1.0


def test_each_row_group_uses_its_own_branch():
    layer = _layer()
    x = torch.randn(4, 6, 5)
    with lora_routing(("rgb", "xyz")):
        y = layer(x)
    for rows, b in ((slice(0, 2), "rgb"), (slice(2, 4), "xyz")):
        expected = layer.base_layer(x[rows]) + 2.0 * layer.lora_B[b](layer.lora_A[b](x[rows]))
        torch.testing.assert_close(y[rows], expected)
    with lora_routing(("xyz",)):
        torch.testing.assert_close(layer(x[2:4]), y[2:4])  # routing a sub-batch alone


def test_outside_routing_the_layer_is_its_base():
    layer = _layer()
    x = torch.randn(3, 5)
    torch.testing.assert_close(layer(x), layer.base_layer(x), atol=0, rtol=0)


def test_matches_peft_lora_on_the_same_weights():
    layer = _layer(rank=3, alpha=6.0)
    model = nn.Sequential()
    model.add_module("proj", nn.Linear(5, 7))
    model.proj.load_state_dict(layer.base_layer.state_dict())
    model = inject_adapter_in_model(LoraConfig(r=3, lora_alpha=6.0, target_modules=["proj"]), model)
    with torch.no_grad():
        model.proj.lora_A["default"].weight.copy_(layer.lora_A["rgb"].weight)
        model.proj.lora_B["default"].weight.copy_(layer.lora_B["rgb"].weight)
    x = torch.randn(2, 4, 5)
    with lora_routing(("rgb",)):
        torch.testing.assert_close(layer(x), model.proj(x))


def test_bad_routing_and_options_raise():
    layer = _layer()
    with lora_routing(("rgb", "xyz")), pytest.raises(ValueError, match="equal branch groups"):
        layer(torch.randn(3, 5))
    with lora_routing(("depth",)), pytest.raises(KeyError, match="depth"):
        layer(torch.randn(2, 5))
    with pytest.raises(ValueError, match="rank"):
        GroupedLoRALinear(nn.Linear(2, 2), ("rgb",), rank=0)
