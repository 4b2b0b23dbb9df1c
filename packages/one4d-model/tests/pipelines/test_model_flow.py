import torch
from one4d_model.pipelines.flow_matching import (
    add_noise,
    predict_clean,
    sample_training_sigmas,
    shift_sigmas,
    timesteps_from_sigmas,
    velocity_target,
)


def test_noising_endpoints_and_velocity():
    clean, noise = torch.randn(2, 16, 3, 4, 4), torch.randn(2, 16, 3, 4, 4)
    assert torch.allclose(add_noise(clean, noise, torch.zeros(2)), clean)
    assert torch.allclose(add_noise(clean, noise, torch.ones(2)), noise)
    # The velocity is the derivative of x_sigma along sigma.
    s, ds = torch.tensor([0.3, 0.7]), 1e-3
    numeric = (add_noise(clean, noise, s + ds) - add_noise(clean, noise, s)) / ds
    assert torch.allclose(numeric, velocity_target(clean, noise), atol=1e-2)


def test_predict_clean_inverts_noising_with_true_velocity():
    clean, noise = torch.randn(3, 4, 5), torch.randn(3, 4, 5)
    sigmas = torch.tensor([0.1, 0.5, 0.9])
    noisy = add_noise(clean, noise, sigmas)
    assert torch.allclose(predict_clean(noisy, velocity_target(clean, noise), sigmas), clean, atol=1e-6)


def test_shift_moves_mass_to_high_noise_and_keeps_endpoints():
    s = torch.tensor([0.0, 0.5, 1.0])
    shifted = shift_sigmas(s, 5.0)
    assert torch.allclose(shifted, torch.tensor([0.0, 5 / 6, 1.0]))
    sigmas = sample_training_sigmas(10_000, shift=5.0, generator=torch.Generator().manual_seed(0))
    assert sigmas.min() > 0 and sigmas.max() <= 1
    assert sigmas.median() > 0.75  # uniform median 0.5 maps to 5/6
    assert torch.allclose(timesteps_from_sigmas(torch.tensor([0.25])), torch.tensor([250.0]))
