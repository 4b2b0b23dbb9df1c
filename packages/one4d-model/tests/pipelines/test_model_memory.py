"""Memory modes of One4DPipeline give the output of `full`, moving each component only around its stage."""

from __future__ import annotations

import numpy as np
import pytest
from one4d_model import One4DPipeline
from one4d_model.pipelines.memory import Residency
from one4d_model.testing import tiny_pipeline


def _pipeline(memory: str) -> One4DPipeline:
    pipe = tiny_pipeline(memory=memory)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def reference():
    video = np.random.default_rng(0).integers(0, 256, (9, 32, 48, 3), dtype=np.uint8)
    kwargs = {"task": "sparse_frames", "num_inference_steps": 2, "guidance_scale": 2.0, "seed": 1}
    return video, kwargs, _pipeline("full")(video, **kwargs)


@pytest.mark.parametrize("memory", ["offload", "sequential"])
def test_each_memory_mode_gives_the_output_of_full(reference, memory):
    video, kwargs, full = reference
    pipe = _pipeline(memory)
    out = pipe(video, **kwargs)
    np.testing.assert_array_equal(out.frames, full.frames)
    np.testing.assert_allclose(out.pointmaps, full.pointmaps, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out.valid, full.valid)
    on = [name for name, state in pipe.residency.moves if state == "on"]
    # Each stage brings its component and sends it back: text, VAE encode, image, (transformer), VAE decode.
    expected = ["text_encoder", "vae", "image_encoder", "transformer", "vae"]
    if memory == "sequential":
        expected.remove("transformer")  # diffusers' group offloading moves it block by block instead
    assert on == expected
    assert [state for _, state in pipe.residency.moves] == ["on", "off"] * len(expected)


def test_sequential_mode_puts_diffusers_group_offloading_on_the_transformer():
    from diffusers.hooks import HookRegistry

    pipe = _pipeline("sequential")
    hooked = {
        name
        for name, module in pipe.transformer.named_modules()
        if "group_offloading" in HookRegistry.check_if_exists_or_initialize(module).hooks
    }
    # Layer by layer, the base's layers, both branches' LoRA factors and the XYZ head.
    assert {
        "base.blocks.0.attn1.to_q.base_layer",
        "base.blocks.0.attn1.to_q.lora_A.xyz",
        "xyz_proj_out",
    } <= hooked
    assert "base.blocks.0" in hooked  # a block's own modulation table comes with the block's forward


def test_unknown_memory_mode_is_named():
    with pytest.raises(ValueError, match="memory mode must be one of"):
        Residency("lowvram", "cpu")
