import pytest
import torch
from one4d_model.models.vae import build_vae


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
    from one4d_model.models.patch_vae import LinearPatchVAE

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


def _smooth_videos(count: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    t = torch.linspace(-1, 1, 9).view(1, 1, 9, 1, 1)
    y = torch.linspace(-1, 1, 32).view(1, 1, 1, 32, 1)
    x = torch.linspace(-1, 1, 48).view(1, 1, 1, 1, 48)
    coeffs = (torch.rand(count, 3, 4, 1, 1, 1, generator=gen) - 0.5) * 0.4
    edge = (x > (torch.rand(count, 1, 1, 1, 1, generator=gen) - 0.5)).float() * 0.3  # a step edge
    return coeffs[:, :, 0] + coeffs[:, :, 1] * x + coeffs[:, :, 2] * y + coeffs[:, :, 3] * t + edge


def test_refined_patch_vae_starts_as_its_pca_and_learns_beyond_it(tmp_path):
    from one4d_model.models.patch_vae import LinearPatchVAE, RefinedPatchVAE

    videos = _smooth_videos(12)
    linear = LinearPatchVAE.fit(videos[:8], channels=4)
    torch.manual_seed(0)
    refined = RefinedPatchVAE(linear, width=16, blocks=1)
    # Untrained corrections are exactly zero: the refined VAE is its PCA.
    assert torch.equal(refined.encode(videos[8:]), linear.encode(videos[8:]))
    assert torch.equal(refined.decode(linear.encode(videos[8:])), linear.decode(linear.encode(videos[8:])))
    params = [p for n, p in refined.named_parameters() if not n.startswith("linear.")]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    error = [(refined.decode(refined.encode(videos[:8])) - videos[:8]).abs().mean().item()]
    for _ in range(40):
        loss = (refined.decode_train(refined.encode_train(videos[:8])) - videos[:8]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    error.append((refined.decode(refined.encode(videos[:8])) - videos[:8]).abs().mean().item())
    assert error[1] < 0.8 * error[0]
    # Latent statistics normalise the latents without changing the reconstruction.
    before = refined.decode(refined.encode(videos[8:]))
    refined.set_latent_statistics(videos)
    latents = refined.encode(videos)
    torch.testing.assert_close(latents.mean(dim=(0, 2, 3, 4)), torch.zeros(4), atol=1e-4, rtol=0)
    torch.testing.assert_close(latents.std(dim=(0, 2, 3, 4)), torch.ones(4), atol=1e-3, rtol=0)
    torch.testing.assert_close(refined.decode(refined.encode(videos[8:])), before, atol=1e-5, rtol=0)
    # A file round trip (through build_vae, as runs name it) gives the same VAE.
    refined.save(tmp_path / "vae.safetensors")
    again = build_vae(tmp_path / "vae.safetensors")
    torch.testing.assert_close(again.encode(videos[8:]), refined.encode(videos[8:]), atol=2e-5, rtol=0)
    torch.testing.assert_close(again.decode(latents[:2]), refined.decode(latents[:2]), atol=2e-5, rtol=0)
    # The half-size file (float16 corrections, as shipped) loads as float32 and reconstructs the same.
    refined.save(tmp_path / "half.safetensors", corrections_dtype=torch.float16)
    half = build_vae(tmp_path / "half.safetensors")
    assert (tmp_path / "half.safetensors").stat().st_size < 0.7 * (
        tmp_path / "vae.safetensors"
    ).stat().st_size
    assert all(p.dtype == torch.float32 for p in half.parameters())
    torch.testing.assert_close(half.decode(latents[:2]), refined.decode(latents[:2]), atol=2e-3, rtol=0)


def test_refined_patch_vae_file_errors_are_named(tmp_path):
    from one4d_model.models.patch_vae import LinearPatchVAE, RefinedPatchVAE

    linear = LinearPatchVAE.fit(_smooth_videos(4))
    linear.save(tmp_path / "linear.safetensors")
    with pytest.raises(ValueError, match="not a RefinedPatchVAE file"):
        RefinedPatchVAE.load(tmp_path / "linear.safetensors")
    with pytest.raises(FileNotFoundError, match="no such VAE file"):
        RefinedPatchVAE.load(tmp_path / "missing.safetensors")
