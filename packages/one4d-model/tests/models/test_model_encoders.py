"""umT5 and CLIP context encoders loaded with transformers from local folders (tiny random stand-ins)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from one4d_model.models.configs import TEXT_CONTEXT_TOKENS
from one4d_model.models.encoders import CLIPImageEncoder, UMT5TextEncoder, clean_caption
from one4d_model.testing import write_tiny_image_encoder, write_tiny_text_encoder


@pytest.fixture(scope="module")
def encoder_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("wan-encoders")
    write_tiny_text_encoder(root, dim=32)
    write_tiny_image_encoder(root, dim=32)
    return root


def test_text_states_are_the_tokens_states_then_zero_padding(encoder_root):
    encoder = UMT5TextEncoder.from_pretrained(encoder_root)
    captions = ["a red sphere in a room", "camera orbit"]
    states = encoder(captions)
    assert states.shape == (2, TEXT_CONTEXT_TOKENS, 32)
    tokens = encoder.tokenizer(captions, padding=True, return_tensors="pt")
    direct = encoder.model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
    for row, length in enumerate(tokens.attention_mask.sum(1).tolist()):
        assert length == len(captions[row].split()) + 1  # words + </s>
        torch.testing.assert_close(states[row, :length], direct[row, :length])
        assert torch.all(states[row, length:] == 0)
        assert torch.all(states[row, :length].abs().sum(-1) > 0)


def test_text_states_do_not_depend_on_the_batch(encoder_root):
    encoder = UMT5TextEncoder.from_pretrained(encoder_root)
    alone = encoder(["camera orbit"])
    batched = encoder(["a red sphere in a room with walls", "camera orbit"])
    torch.testing.assert_close(alone[0], batched[1], atol=1e-5, rtol=1e-5)


def test_long_captions_are_truncated_to_the_context_length(encoder_root):
    encoder = UMT5TextEncoder.from_pretrained(encoder_root, max_length=8)
    states = encoder(["a red sphere in a room with walls and floor and light"])
    assert states.shape == (1, 8, 32)
    assert torch.all(states.abs().sum(-1) > 0)


def test_caption_cleaning_matches_wans_prompt_cleaning():
    assert clean_caption("  a &amp;  red\n sphere ") == "a & red sphere"


def test_component_folders_load_without_the_diffusers_layout(encoder_root, tmp_path):
    shutil.copytree(encoder_root / "text_encoder", tmp_path / "umt5")
    for name in (encoder_root / "tokenizer").iterdir():
        shutil.copy(name, tmp_path / "umt5" / name.name)
    direct = UMT5TextEncoder.from_pretrained(tmp_path / "umt5")
    nested = UMT5TextEncoder.from_pretrained(encoder_root)
    torch.testing.assert_close(direct(["a cube"]), nested(["a cube"]))


def test_missing_folders_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no config\.json in .*text_encoder"):
        UMT5TextEncoder.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="image_encoder"):
        CLIPImageEncoder.from_pretrained(tmp_path)


def test_missing_tokenizer_is_reported(encoder_root, tmp_path):
    shutil.copytree(encoder_root / "text_encoder", tmp_path / "text_encoder")
    with pytest.raises(FileNotFoundError, match="umT5 tokenizer"):
        UMT5TextEncoder.from_pretrained(tmp_path)


def test_image_states_are_clips_penultimate_layer(encoder_root):
    encoder = CLIPImageEncoder.from_pretrained(encoder_root)
    frames = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(0)) * 2 - 1
    states = encoder(frames)
    assert states.shape == (2, 257, 32) and encoder.num_tokens == 257
    pixels = ((frames + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    inputs = encoder.processor(images=list(pixels), return_tensors="pt")
    assert inputs.pixel_values.shape == (2, 3, 224, 224)
    hidden = encoder.model(pixel_values=inputs.pixel_values, output_hidden_states=True).hidden_states
    torch.testing.assert_close(states, hidden[-2])
    assert not torch.allclose(states, hidden[-1])
    # Different images give different states; the encoder holds no gradient state.
    assert not torch.allclose(states[0], states[1])
    assert not any(p.requires_grad for p in encoder.model.parameters())


def test_image_encoder_rejects_non_rgb_frames(encoder_root):
    encoder = CLIPImageEncoder.from_pretrained(encoder_root)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        encoder(torch.zeros(1, 4, 32, 32))
    assert np.isfinite(encoder(torch.zeros(1, 3, 32, 32)).numpy()).all()
