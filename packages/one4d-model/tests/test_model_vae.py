import pytest
import torch
from one4d_model.vae import build_vae


def test_tiny_vae_latent_shapes_match_wan_factors():
    vae = build_vae("tiny")
    video = torch.rand(1, 3, 9, 32, 48) * 2 - 1
    latents = vae.encode(video)
    assert latents.shape == (1, 16, 3, 4, 6) == (1, *vae.latent_shape(9, 32, 48))
    decoded = vae.decode(latents)
    assert decoded.shape == video.shape and decoded.abs().max() <= 1


def test_tiny_vae_is_seeded_and_frozen():
    a, b = build_vae("tiny", seed=3), build_vae("tiny", seed=3)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb) and not pa.requires_grad


def test_latent_normalisation_uses_config_statistics():
    vae = build_vae("tiny")
    video = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    raw = vae.autoencoder.encode(video).latent_dist.mode()
    vae.latents_mean.fill_(0.5)
    vae.latents_std.fill_(2.0)
    assert torch.allclose(vae.encode(video), (raw - 0.5) / 2.0, atol=1e-6)


def test_bad_shapes_and_paths_are_named():
    vae = build_vae("tiny")
    with pytest.raises(ValueError, match="4k \\+ 1"):
        vae.encode(torch.zeros(1, 3, 8, 32, 32))
    with pytest.raises(ValueError, match="\\(B, 3, F, H, W\\)"):
        vae.encode(torch.zeros(1, 4, 9, 32, 32))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_vae("/nonexistent/wan-vae")


def test_linear_patch_vae_reconstructs_smooth_video_and_round_trips_file(tmp_path):
    from one4d_model.vae import LinearPatchVAE

    gen = torch.Generator().manual_seed(0)
    # Smooth videos (low-order polynomials in space and time) lie in a low-dimensional patch space.
    t = torch.linspace(-1, 1, 9).view(1, 1, 9, 1, 1)
    y = torch.linspace(-1, 1, 32).view(1, 1, 1, 32, 1)
    x = torch.linspace(-1, 1, 48).view(1, 1, 1, 1, 48)
    coeffs = (torch.rand(12, 3, 4, 1, 1, 1, generator=gen) - 0.5) * 0.4  # stays inside [-1, 1]
    videos = coeffs[:, :, 0] + coeffs[:, :, 1] * x + coeffs[:, :, 2] * y + coeffs[:, :, 3] * t
    vae = LinearPatchVAE.fit(videos[:10])
    latents = vae.encode(videos[10:])
    assert latents.shape == (2, 16, 3, 4, 6)
    assert (vae.decode(latents) - videos[10:]).abs().max() < 1e-3
    vae.save(tmp_path / "vae.safetensors")
    again = LinearPatchVAE.load(tmp_path / "vae.safetensors")
    assert torch.equal(again.encode(videos[10:]), latents)
