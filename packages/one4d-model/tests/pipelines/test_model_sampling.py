"""The joint sampler: sign and time conventions, classifier-free guidance rows, determinism."""

import pytest
import torch
from one4d_model.models.transformer import One4DOutput
from one4d_model.pipelines.sampling import SamplerConfig, sample_joint


class ToTarget(torch.nn.Module):
    """Predicts the exact flow-matching velocity towards fixed clean latents: v = (x - x0) / sigma."""

    def __init__(self, rgb0: torch.Tensor, xyz0: torch.Tensor) -> None:
        super().__init__()
        self.rgb0, self.xyz0 = rgb0, xyz0
        self.calls: list[dict] = []

    def forward(self, rgb, xyz, cond, mask, timestep, text, image):
        self.calls.append(
            {"rgb": rgb, "cond": cond, "mask": mask, "t": timestep, "text": text, "image": image}
        )
        sigma = (timestep / 1000).view(-1, 1, 1, 1, 1)
        reps = rgb.shape[0] // self.rgb0.shape[0]
        return One4DOutput(
            rgb=(rgb - self.rgb0.repeat(reps, 1, 1, 1, 1)) / sigma,
            xyz=(xyz - self.xyz0.repeat(reps, 1, 1, 1, 1)) / sigma,
        )


def _inputs(batch=2):
    g = torch.Generator().manual_seed(0)
    shape = (batch, 16, 2, 4, 6)
    return {
        "rgb0": torch.randn(shape, generator=g),
        "xyz0": torch.randn(shape, generator=g),
        "cond": torch.randn(shape, generator=g),
        "mask": torch.ones(batch, 4, 2, 4, 6),
        "text": torch.randn(batch, 8, 32, generator=g),
        "image": torch.randn(batch, 5, 32, generator=g),
    }


def test_exact_velocities_reach_the_clean_latents():
    x = _inputs()
    model = ToTarget(x["rgb0"], x["xyz0"])
    out = sample_joint(
        model,
        x["cond"],
        x["mask"],
        x["text"],
        x["image"],
        config=SamplerConfig(num_steps=7, guidance_scale=1.0),
    )
    # Straight flow-matching paths: Euler with the true velocity lands exactly on x0.
    torch.testing.assert_close(out.rgb, x["rgb0"], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.xyz, x["xyz0"], atol=1e-4, rtol=0)
    assert len(model.calls) == 7 and all(c["rgb"].shape[0] == 2 for c in model.calls)
    # Timesteps run from pure noise (1000) downwards.
    ts = [float(c["t"][0]) for c in model.calls]
    assert ts[0] == pytest.approx(1000.0) and ts == sorted(ts, reverse=True)


def test_guidance_rows_replace_only_the_caption():
    x = _inputs()
    negative = torch.full((1, 8, 32), 0.5)
    model = ToTarget(x["rgb0"], x["xyz0"])
    config = SamplerConfig(num_steps=2, guidance_scale=4.0)
    sample_joint(model, x["cond"], x["mask"], x["text"], x["image"], negative, config=config)
    call = model.calls[0]
    assert call["rgb"].shape[0] == 4  # conditional rows, then unconditional rows
    torch.testing.assert_close(call["text"][:2], x["text"])
    torch.testing.assert_close(call["text"][2:], negative.expand(2, -1, -1))
    # The image context and the observed frames (UMC) stay in the unconditional rows.
    torch.testing.assert_close(call["image"], torch.cat([x["image"], x["image"]]))
    torch.testing.assert_close(call["cond"], torch.cat([x["cond"], x["cond"]]))
    torch.testing.assert_close(call["mask"], torch.cat([x["mask"], x["mask"]]))
    # Without a negative prompt the unconditional caption is zeros (the tiny encoder's empty caption).
    model.calls.clear()
    sample_joint(model, x["cond"], x["mask"], x["text"], x["image"], config=config)
    assert (model.calls[0]["text"][2:] == 0).all()


def test_sampling_is_deterministic_per_generator_and_settings_are_checked():
    x = _inputs(1)

    class HalfWay(ToTarget):  # half the true velocity: the result keeps part of the starting noise
        def forward(self, *args):
            out = super().forward(*args)
            return One4DOutput(rgb=0.5 * out.rgb, xyz=0.5 * out.xyz)

    model = HalfWay(x["rgb0"], x["xyz0"])

    def run(seed):
        gen = torch.Generator().manual_seed(seed)
        config = SamplerConfig(num_steps=3, guidance_scale=1.0)
        return sample_joint(model, x["cond"], x["mask"], x["text"], x["image"], config=config, generator=gen)

    assert torch.equal(run(3).rgb, run(3).rgb) and torch.equal(run(3).xyz, run(3).xyz)
    assert not torch.allclose(run(3).rgb, run(4).rgb)
    with pytest.raises(ValueError, match="num_steps"):
        SamplerConfig(num_steps=0)
    with pytest.raises(ValueError, match="shift"):
        SamplerConfig(shift=0.0)
