import torch
from one4d_model.models.tiny_encoders import TinyImageEncoder, TinyTextEncoder


def test_text_encoder_is_deterministic_word_level_and_zero_padded():
    encoder = TinyTextEncoder(8, seed=0)
    out = encoder(["a red ball rolls", "a blue box", ""])
    assert out.shape == (3, 512, 8)
    assert torch.equal(out[0, 0], out[1, 0])  # the same word, the same vector
    assert not torch.equal(out[0, 1], out[1, 1])
    assert torch.all(out[0, 4:] == 0) and torch.all(out[2] == 0)
    assert torch.equal(TinyTextEncoder(8, seed=0)(["a red ball rolls"]), out[:1])


def test_image_encoder_tokens_differ_and_follow_the_image():
    encoder = TinyImageEncoder(8, seed=0)
    frames = torch.rand(2, 3, 32, 48) * 2 - 1
    tokens = encoder(frames)
    assert tokens.shape == (2, 257, 8)
    assert torch.unique(tokens[0], dim=0).shape[0] == 257
    assert not torch.allclose(tokens[0], tokens[1])
