"""Attention backends through diffusers' dispatcher, set per model."""

import pytest
import torch
from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry
from one4d_model import build_one4d_transformer
from one4d_model.testing import make_tiny_inputs

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_unknown_backend_is_rejected(make_model):
    with pytest.raises(ValueError, match="attention backend must be one of"):
        make_model(attention_backend="sdpa-magic")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error")
@pytest.mark.parametrize("name", ["_native_flash", "_native_cudnn", "flash", "xformers"])
def test_cuda_backends_fail_clearly_without_cuda(make_model, name):
    model = make_model()
    with pytest.raises(RuntimeError, match="needs a CUDA device"):
        model.set_attention_backend(name)
    assert model.attention_backend == "native"


def test_backend_is_set_per_model_not_process_wide(make_model):
    active_before = _AttentionBackendRegistry._active_backend
    model = make_model(attention_backend="native")
    processors = [m.processor for m in model.base.modules() if hasattr(m, "processor")]
    assert len(processors) == 2 * 4
    assert all(p._attention_backend == AttentionBackendName.NATIVE for p in processors)
    assert _AttentionBackendRegistry._active_backend == active_before


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("name", ["_native_flash", "_native_cudnn"])
def test_fused_backends_agree_with_native_in_bf16_on_gpu(name):
    torch.manual_seed(0)
    model = build_one4d_transformer("tiny", device="cuda", dtype=torch.bfloat16, lora_rank=4).eval()
    # head_dim 24 is fine for the math backend; fused kernels want a multiple of 8.
    inputs = {
        k: v.cuda() for k, v in make_tiny_inputs(frames=3, height=8, width=8, dtype=torch.bfloat16).items()
    }
    with torch.no_grad():
        reference = model(**inputs)
        model.set_attention_backend(name)
        fused = model(**inputs)
    torch.testing.assert_close(fused.rgb.float(), reference.rgb.float(), atol=3e-2, rtol=3e-2)
    torch.testing.assert_close(fused.xyz.float(), reference.xyz.float(), atol=3e-2, rtol=3e-2)
