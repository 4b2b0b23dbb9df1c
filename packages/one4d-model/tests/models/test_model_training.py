"""Training behaviour: what is trainable, which parameters get gradients, gradient checkpointing."""

import pytest
import torch
from one4d_model import TRAINABLE_GROUPS
from one4d_model.testing import perturb_


def _loss_and_grads(model, inputs):
    model.zero_grad(set_to_none=True)
    out = model(**inputs)
    loss = out.rgb.square().mean() + out.xyz.square().mean()
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_base_is_frozen_and_groups_are_exactly_the_trainable_parameters(make_model):
    model = make_model()
    groups = model.trainable_groups()
    assert set(groups) == set(TRAINABLE_GROUPS)
    grouped = {id(p) for params in groups.values() for _, p in params}
    requires_grad = {id(p) for p in model.parameters() if p.requires_grad}
    assert grouped == requires_grad
    assert not any(p.requires_grad for n, p in model.base.named_parameters() if ".lora_" not in n)
    # 4 blocks x 12 Linear layers x (A, B) per branch; 4 links x 2 directions x (weight, bias).
    assert len(groups["lora_rgb"]) == len(groups["lora_xyz"]) == 4 * 12 * 2
    assert len(groups["links"]) == 4 * 2 * 2
    names = dict(model.named_parameters())
    assert all(names[n] is p for params in groups.values() for n, p in params)


@pytest.mark.parametrize("coupling", ["dlc", "spatial"])
def test_only_trainable_groups_receive_gradients(make_model, inputs, coupling):
    model = make_model(coupling=coupling).train()
    for seed, params in enumerate(model.trainable_groups().values()):
        perturb_(params, seed=seed)  # LoRA A only gets a gradient once B is non-zero
    grads = _loss_and_grads(model, inputs)
    trainable = {n for params in model.trainable_groups().values() for n, _ in params}
    assert set(grads) == trainable
    for name in trainable:
        assert grads[name].abs().sum() > 0, name


def test_gradient_checkpointing_gives_the_same_gradients(make_model, inputs):
    model = make_model(lora_dropout=0.1).train()  # dropout: the recompute must replay the same mask
    for group in ("lora_rgb", "lora_xyz", "links"):
        perturb_(model.trainable_groups()[group], seed=len(group))
    torch.manual_seed(7)
    plain = _loss_and_grads(model, inputs)
    model.enable_gradient_checkpointing()
    torch.manual_seed(7)
    checkpointed = _loss_and_grads(model, inputs)
    assert set(plain) == set(checkpointed)
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], atol=1e-6, rtol=1e-5)


def test_gradient_checkpointing_option_recomputes_blocks(make_model, inputs):
    """With checkpointing on, block layers run again during backward."""
    model = make_model(gradient_checkpointing=True).train()
    calls = []
    model.base.blocks[0].attn1.to_q.register_forward_hook(lambda *args: calls.append(1))
    out = model(**inputs)
    assert len(calls) == 1
    (out.rgb.sum() + out.xyz.sum()).backward()
    assert len(calls) == 2


@pytest.mark.parametrize("coupling", ["dlc", "channel", "spatial"])
def test_fp32_trainables_over_a_bf16_base(coupling):
    """The usual mixed-precision set-up: frozen base in bf16, trainable parameters in fp32."""
    from one4d_model import build_one4d_transformer
    from one4d_model.testing import make_tiny_inputs

    torch.manual_seed(0)
    model = build_one4d_transformer("tiny", dtype=torch.bfloat16, lora_rank=4, coupling=coupling)
    for params in model.trainable_groups().values():
        for _, p in params:
            p.data = p.data.float()
    out = model(**make_tiny_inputs(dtype=torch.bfloat16))
    assert out.rgb.dtype == out.xyz.dtype == torch.bfloat16
    (out.rgb.float().square().mean() + out.xyz.float().square().mean()).backward()
    grads = [p.grad for params in model.trainable_groups().values() for _, p in params]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
