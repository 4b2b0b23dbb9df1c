"""One4DPipeline on the tiny config: the four tasks, what the observed frames do, the diffusers-style call
(generator, progress bar, callback, scheduler, output types) and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from one4d_model import find_checkpoint
from one4d_model.testing import record_forward, tiny_pipeline


@pytest.fixture(scope="module")
def pipeline():
    return tiny_pipeline()


def _video(frames=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (frames, 32, 48, 3), dtype=np.uint8)


@pytest.mark.parametrize("task", ["single_image", "sparse_frames", "full_video"])
def test_each_task_gives_frames_and_pointmaps(pipeline, task):
    out = pipeline(_video(), task=task, num_inference_steps=2, guidance_scale=2.0)
    assert out.frames.shape == (5, 32, 48, 3) and out.frames.dtype == np.uint8
    assert out.pointmaps.shape == (5, 32, 48, 3) and out.valid.shape == (5, 32, 48)
    assert np.isfinite(out.pointmaps[out.valid]).all() and np.isnan(out.pointmaps[~out.valid]).all()
    assert not (out.reliable & ~out.valid).any()
    expected = {"single_image": 1, "full_video": 5}.get(task)
    assert out.frame_mask[0] == 1 and (expected is None or out.frame_mask.sum() == expected)


def test_results_depend_on_seed_prompt_and_observed_frames_only(pipeline):
    video = _video()
    a = pipeline(video, task="single_image", num_inference_steps=2, seed=3, prompt="a red box")
    b = pipeline(video, task="single_image", num_inference_steps=2, seed=3, prompt="a red box")
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.pointmaps, b.pointmaps)
    # Frames that are not observed do not matter; the observed one, the seed and the prompt do.
    hidden_changed = video.copy()
    hidden_changed[1:] = 0
    c = pipeline(hidden_changed, task="single_image", num_inference_steps=2, seed=3, prompt="a red box")
    assert np.array_equal(a.pointmaps, c.pointmaps)
    d = pipeline(_video(seed=1), task="single_image", num_inference_steps=2, seed=3, prompt="a red box")
    e = pipeline(video, task="single_image", num_inference_steps=2, seed=4, prompt="a red box")
    f = pipeline(video, task="single_image", num_inference_steps=2, seed=3, prompt="a blue sphere")
    for other in (d, e, f):
        assert not np.allclose(a.pointmaps, other.pointmaps)


def test_a_single_image_and_an_explicit_mask(pipeline):
    image = _video()[0]
    out = pipeline(image, task="single_image", num_frames=9, num_inference_steps=1)
    assert out.frames.shape[0] == 9 and out.frame_mask.tolist() == [1] + [0] * 8
    mask = np.array([1, 0, 1, 0, 1], dtype=np.float32)
    assert pipeline(_video(), frame_mask=mask, num_inference_steps=1).frame_mask.tolist() == mask.tolist()


@pytest.mark.parametrize(
    ("video", "kwargs", "message"),
    [
        (_video(frames=6), {"task": "full_video"}, "4k \\+ 1 frames"),
        (np.zeros((5, 30, 48, 3), np.uint8), {"task": "full_video"}, "multiples of 16"),
        (_video().astype(np.float32), {"task": "full_video"}, "uint8"),
        (_video()[0], {"task": "single_image"}, "needs num_frames"),
        (_video(), {}, "exactly one of task"),
        (_video(), {"task": "panorama"}, "unknown task 'panorama'"),
        (_video(), {"frame_mask": np.full(5, 0.5)}, "zeros and ones"),
        (None, {"task": "full_video"}, "video is required"),
        (_video(), {"task": "full_video", "ensemble_size": 0}, "ensemble_size must be a positive integer"),
        (_video(), {"task": "single_image", "ensemble_size": 2}, "observes 1 of 5 frames"),
        (_video(), {"task": "sparse_frames", "ensemble_size": 3}, "every frame observed"),
    ],
)
def test_bad_input_is_explained(pipeline, video, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipeline(video, num_inference_steps=1, **kwargs)


def test_find_checkpoint_explains_a_folder_without_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trainable.safetensors"):
        find_checkpoint(tmp_path)


def test_the_transformer_sees_ones_at_the_observed_frames_and_their_latents(pipeline):
    from one4d_data.umc import conditioning_video

    video = _video(frames=9)
    frame_mask = np.array([1, 0, 0, 0, 1, 0, 0, 0, 1], dtype=np.float32)
    with record_forward(pipeline.transformer) as calls:
        pipeline(video, frame_mask=frame_mask, num_inference_steps=1, guidance_scale=1.0)
    cond, mask = calls[0][2:4]
    # Latent frame 0 = frame 0 (x4); latent frame 1 = frames 1-4 (only frame 4 observed); 2 = frames 5-8.
    expected = torch.tensor([[1, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 1]], dtype=mask.dtype)
    for k in range(3):
        for c in range(4):
            assert (mask[0, c, k] == expected[k, c]).all()
    rgb = torch.from_numpy(video).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    torch.testing.assert_close(cond, pipeline.vae.encode(conditioning_video(rgb, frame_mask)))


def test_sampling_defaults_come_from_the_pipeline_and_calls_override_them(pipeline):
    from one4d_model.loading.spec import SamplerConfig

    saved = pipeline.sampling
    try:
        pipeline.sampling = SamplerConfig(num_steps=3, guidance_scale=1.0, shift=2.0)
        with record_forward(pipeline.transformer) as calls:
            pipeline(_video(), task="full_video")
        assert [args[0].shape[0] for args in calls] == [1, 1, 1]  # 3 steps, no guidance rows
        with record_forward(pipeline.transformer) as calls:
            pipeline(_video(), task="full_video", num_inference_steps=2, guidance_scale=3.0)
        assert [args[0].shape[0] for args in calls] == [2, 2]  # the call's settings win; guidance: 2 rows
    finally:
        pipeline.sampling = saved


def test_negative_prompt_steers_guided_samples_only(pipeline):
    video = _video()
    kwargs = {"task": "single_image", "num_inference_steps": 2, "seed": 1}
    plain = pipeline(video, guidance_scale=4.0, **kwargs)
    steered = pipeline(video, guidance_scale=4.0, negative_prompt="a blue sphere", **kwargs)
    assert not np.allclose(plain.frames, steered.frames)
    unguided = pipeline(video, guidance_scale=1.0, **kwargs)
    again = pipeline(video, guidance_scale=1.0, negative_prompt="a blue sphere", **kwargs)
    assert np.array_equal(unguided.frames, again.frames)


def test_text_to_4d_observes_no_frame(pipeline):
    with record_forward(pipeline.transformer) as calls:
        out = pipeline(
            task="text",
            num_frames=5,
            height=32,
            width=48,
            prompt="a",
            num_inference_steps=1,
            guidance_scale=1,
        )
    assert out.frames.shape == (5, 32, 48, 3) and out.frame_mask.tolist() == [0] * 5
    cond, mask = calls[0][2:4]
    assert (mask == 0).all()
    torch.testing.assert_close(cond, pipeline.vae.encode(torch.zeros(1, 3, 5, 32, 48)))  # nothing observed
    # An all-zero frame mask is the same task; a given video is ignored.
    again = pipeline(_video(), frame_mask=np.zeros(5), prompt="a", num_inference_steps=1, guidance_scale=1)
    assert np.array_equal(again.pointmaps, out.pointmaps, equal_nan=True)
    with pytest.raises(ValueError, match="needs num_frames, height and width"):
        pipeline(task="text", num_inference_steps=1)


def test_generator_and_seed_agree_and_lists_follow_diffusers(pipeline):
    kwargs = {"task": "single_image", "num_inference_steps": 2}
    by_seed = pipeline(_video(), seed=5, **kwargs)
    by_generator = pipeline(_video(), generator=torch.Generator().manual_seed(5), **kwargs)
    as_list = pipeline(_video(), generator=[torch.Generator().manual_seed(5)], **kwargs)
    assert np.array_equal(by_seed.frames, by_generator.frames) and np.array_equal(
        by_seed.frames, as_list.frames
    )
    with pytest.raises(ValueError, match="2 generators for a batch of 1"):
        pipeline(_video(), generator=[torch.Generator(), torch.Generator()], **kwargs)


def test_an_ensemble_is_the_mean_of_successive_samples_of_the_generator(pipeline):
    kwargs = {"task": "full_video", "num_inference_steps": 2, "output_type": "latent"}
    generator = torch.Generator().manual_seed(7)
    samples = [pipeline(_video(), generator=generator, **kwargs).latents for _ in range(3)]
    ensemble = pipeline(_video(), seed=7, ensemble_size=3, **kwargs).latents
    for name in ("rgb", "xyz"):
        mean = torch.stack([getattr(s, name) for s in samples]).mean(0)
        torch.testing.assert_close(getattr(ensemble, name), mean)
        assert not torch.allclose(getattr(samples[0], name), mean, atol=1e-3)  # the samples differ
    single = pipeline(_video(), seed=7, ensemble_size=1, **kwargs).latents
    torch.testing.assert_close(single.xyz, samples[0].xyz)
    decoded = pipeline(_video(), task="full_video", num_inference_steps=2, seed=7, ensemble_size=3)
    assert decoded.pointmaps.shape == (5, 32, 48, 3) and decoded.frames.dtype == np.uint8


def test_progress_bar_shows_the_steps_and_can_be_silenced(pipeline, capsys):
    pipeline(_video(), task="full_video", num_inference_steps=3)
    assert "3/3" in capsys.readouterr().err
    pipeline.set_progress_bar_config(disable=True)
    try:
        pipeline(_video(), task="full_video", num_inference_steps=3)
        assert "3/3" not in capsys.readouterr().err
    finally:
        pipeline.set_progress_bar_config()


def test_callback_on_step_end_sees_and_replaces_the_latents(pipeline):
    steps = []

    def callback(pipe, step, timestep, kwargs):
        assert pipe is pipeline and kwargs["latents"].shape == (1, 32, 2, 4, 6)
        steps.append((step, float(timestep)))
        return {"latents": torch.zeros_like(kwargs["latents"])} if step == 2 else {}

    out = pipeline(_video(), task="full_video", num_inference_steps=3, callback_on_step_end=callback)
    assert [s for s, _ in steps] == [0, 1, 2] and steps[0][1] > steps[1][1] > steps[2][1]
    assert (out.latents.rgb == 0).all() and (out.latents.xyz == 0).all()
    with pytest.raises(ValueError, match="may name"):
        pipeline(
            _video(),
            task="full_video",
            callback_on_step_end=callback,
            callback_on_step_end_tensor_inputs=("x",),
        )


def test_the_scheduler_is_a_component(pipeline):
    from one4d_model.pipelines.sampling import make_scheduler

    kwargs = {"task": "single_image", "num_inference_steps": 3, "seed": 2}
    euler = pipeline(_video(), **kwargs)
    saved = pipeline.scheduler
    pipeline.scheduler = make_scheduler("unipc")
    try:
        unipc = pipeline(_video(), **kwargs)
        unipc_again = pipeline(_video(), **kwargs)  # a multistep scheduler starts fresh on every call
    finally:
        pipeline.scheduler = saved
    assert not np.array_equal(euler.frames, unipc.frames)
    assert np.array_equal(unipc.frames, unipc_again.frames)
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler("ddim")


def test_output_types_and_return_dict(pipeline):
    kwargs = {"task": "single_image", "num_inference_steps": 2, "seed": 1}
    out = pipeline(_video(), **kwargs)
    as_pt = pipeline(_video(), output_type="pt", **kwargs)
    assert isinstance(as_pt.frames, torch.Tensor) and np.array_equal(as_pt.frames.numpy(), out.frames)
    assert np.array_equal(as_pt.valid.numpy(), out.valid)
    latent = pipeline(_video(), output_type="latent", **kwargs)
    assert latent.frames is None and latent.pointmaps is None
    torch.testing.assert_close(latent.latents.xyz, out.latents.xyz)
    frames, pointmaps, valid, saturated, frame_mask, cameras = pipeline(_video(), return_dict=False, **kwargs)
    assert np.array_equal(frames, out.frames) and np.array_equal(valid, out.valid) and cameras is None
    with pytest.raises(ValueError, match="output_type must be one of"):
        pipeline(_video(), output_type="pil", **kwargs)


def test_cameras_and_depth_in_the_same_output(pipeline):
    out = pipeline(_video(), task="full_video", num_inference_steps=2, recover_cameras=True)
    assert out.cameras.K.shape == (5, 3, 3) and out.cameras.c2w.shape == (5, 4, 4)
    assert out.depth.shape == (5, 32, 48)
    assert np.isfinite(out.depth[out.valid]).all() and np.isnan(out.depth[~out.valid]).all()
    direct = out.recover()
    np.testing.assert_allclose(direct.K, out.cameras.K)
