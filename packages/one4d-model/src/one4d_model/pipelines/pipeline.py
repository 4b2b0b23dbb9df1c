"""`One4DPipeline`: RGB frames and XYZ pointmaps from a single image, sparse frames, a full video or text.

The four tasks are one call: the observed frames (a frame mask; none for text to 4D) are encoded as the
conditioning video (Unified Masked Conditioning), the caption by the text encoder and the first conditioning
frame by the image encoder; RGB and XYZ latents are denoised together (`sampling.sample_joint`, with the
pipeline's scheduler) and decoded by the VAE. The call follows diffusers' pipelines: `generator`, a tqdm
progress bar (`set_progress_bar_config`), `callback_on_step_end`, `output_type` and `return_dict`.

Pointmaps come out in the first camera's frame and in the normalised units the model was trained with ([-1,
1] after a per-clip centre and scale), so they are defined up to scale, like every monocular reconstruction.
Points the model codes as invalid (sky, holes: `one4d_data.normalize.encode_pointmaps`) are NaN and outside
`valid`; points clamped at the unit box are `saturated` (right direction, distance a lower bound), and
camera recovery (`One4DPipelineOutput.recover`) fits on the rest.

`One4DPipeline.from_checkpoint` rebuilds everything a `one4d-train` run saved: the transformer (base plus
trained tensors), the VAE and the context encoders named in its `ModelSpec`
(`one4d_model.loading.run_format`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from one4d_data.normalize import UNIT_NORMALIZATION, decode_pointmaps, rgb_to_unit, unit_to_rgb
from one4d_data.umc import TASKS, TEXT_TASK, conditioning_video, observed_frame_mask, pack_frame_mask
from tqdm.auto import tqdm

from ..errors import ModelError
from ..loading.components import build_components
from ..loading.run_format import find_checkpoint, load_trainable, read_spec, run_folder
from .long_video import WindowOutput, default_overlap, plan_windows, stitch
from .memory import MEMORY_MODES, Residency
from .sampling import JointLatents, SamplerConfig, make_scheduler, sample_joint

OUTPUT_TYPES = ("np", "pt", "latent")
CALLBACK_TENSOR_INPUTS = ("latents",)


@dataclass
class One4DPipelineOutput:
    """What a call returns. With `output_type="latent"` only `latents` and `frame_mask` are set."""

    frames: Any  # (F, H, W, 3) uint8, generated RGB (numpy; torch with output_type "pt")
    pointmaps: Any  # (F, H, W, 3) float32, first-camera frame, normalised units, NaN where invalid
    valid: Any  # (F, H, W) bool, the model gives geometry there (not sky or a hole)
    saturated: Any  # (F, H, W) bool, valid but clamped at the unit box (distance a lower bound)
    frame_mask: np.ndarray  # (F,) float32, 1 = the frame was given
    cameras: Any = None  # one4d_geometry.CameraRecovery when the call asked for `recover_cameras`
    latents: JointLatents | None = field(default=None, repr=False)

    @property
    def reliable(self):
        """Valid and not saturated: the points camera recovery is fitted on."""
        if self.valid is None:
            raise ModelError("this output holds latents only (output_type='latent')")
        return self.valid & ~self.saturated

    @property
    def depth(self) -> np.ndarray | None:
        """(F, H, W) z-depth in each frame's recovered camera (NaN where invalid), when cameras were asked."""
        return None if self.cameras is None else self.cameras.depth

    def recover(self, **options):
        """Cameras and depth (`one4d_geometry.recover_cameras`) fitted on the reliable points, with depth at
        every valid one; `options` go to `recover_cameras`."""
        from one4d_geometry import recover_cameras

        if self.pointmaps is None:
            raise ModelError("this output holds latents only (output_type='latent'): nothing to recover from")
        pointmaps, valid, reliable = (
            np.asarray(_to_numpy(a)) for a in (self.pointmaps, self.valid, self.reliable)
        )
        return recover_cameras(pointmaps, mask=valid, fit_mask=reliable, **options)


def _to_numpy(value):
    return value.cpu().numpy() if isinstance(value, torch.Tensor) else value


class One4DPipeline:
    """Joint RGB + pointmap generation for the tasks of One4D (see the module docstring).

    Components: `transformer` (DLC), `vae`, `text_encoder`, `image_encoder` (None for text-only variants)
    and `scheduler` (any diffusers flow-matching scheduler; flow-matching Euler by default, or
    `sampling.make_scheduler("unipc")` as Wan uses)."""

    def __init__(
        self,
        transformer,
        vae,
        text_encoder,
        image_encoder=None,
        scheduler=None,
        device: str | torch.device = "cpu",
        sampling: SamplerConfig | None = None,
        default_size: tuple[int, int, int] | None = None,
        memory: str = "full",
        parallel=None,
    ):
        self.transformer = transformer.eval()
        self.vae, self.text_encoder, self.image_encoder = vae, text_encoder, image_encoder
        self.device = torch.device(device)
        self.residency = Residency(memory, self.device)  # where the weights wait between stages
        self.residency.prepare(
            {
                "transformer": transformer,
                "vae": vae,
                "text_encoder": text_encoder,
                "image_encoder": image_encoder,
            }
        )
        self.sampling = sampling or SamplerConfig()  # what a call uses for the settings it is not given
        self.scheduler = scheduler or make_scheduler("euler", self.sampling.shift)
        self.default_size = default_size  # (frames, height, width) for calls that give no video (text to 4D)
        # Under torchrun (`parallel.init_inference_parallel`): CFG rows on two ranks and/or context
        # parallelism (applied to the transformer); every rank computes the same result.
        self.parallel = parallel
        if parallel is not None:
            parallel.apply(transformer)
        self._progress_bar_config: dict = {}

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        base_path: str | None = None,
        vae: str | None = None,
        text_encoder: str | None = None,
        image_encoder: str | None = None,
        scheduler=None,
        memory: str = "full",
        parallel=None,
    ) -> One4DPipeline:
        """A pipeline from a training run, step folder or `trainable.safetensors` (anything in the
        `run_format`): the model its spec describes, with the trained tensors, and the spec's sampling
        settings and clip size as defaults. The keyword paths override those recorded (e.g. on another
        machine). `memory` is one of `memory.MEMORY_MODES` (the offloading modes load on the CPU); `parallel`
        comes from `parallel.init_inference_parallel` under torchrun."""
        if memory not in MEMORY_MODES:
            raise ModelError(f"memory mode must be one of {MEMORY_MODES}, got {memory!r}")
        checkpoint = find_checkpoint(path)
        spec = read_spec(checkpoint)
        parts = build_components(
            spec,
            device=device if memory == "full" else "cpu",
            dtype=dtype,
            run_dir=run_folder(checkpoint),
            base_path=base_path,
            vae=vae,
            text_encoder=text_encoder,
            image_encoder=image_encoder,
        )
        load_trainable(parts.transformer, checkpoint)
        size = (spec.num_frames, spec.height, spec.width)
        return cls(
            parts.transformer,
            parts.vae,
            parts.text_encoder,
            parts.image_encoder,
            scheduler=scheduler,
            device=device,
            sampling=spec.sampling,
            default_size=size if all(size) else None,
            memory=memory,
            parallel=parallel,
        )

    def set_progress_bar_config(self, **kwargs) -> None:
        """Options for the tqdm bar over the sampling steps (e.g. `disable=True`), as in diffusers."""
        self._progress_bar_config = dict(kwargs)

    def progress_bar(self, iterable):
        return tqdm(iterable, **{"desc": "sampling", **self._progress_bar_config})

    @torch.no_grad()
    def __call__(
        self,
        video: np.ndarray | None = None,
        *,
        task: str | None = None,
        frame_mask: np.ndarray | None = None,
        num_frames: int | None = None,
        height: int | None = None,
        width: int | None = None,
        prompt: str = "",
        negative_prompt: str = "",
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        shift: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        seed: int = 0,
        callback_on_step_end: Callable[[One4DPipeline, int, torch.Tensor, dict], dict] | None = None,
        callback_on_step_end_tensor_inputs: tuple[str, ...] = CALLBACK_TENSOR_INPUTS,
        output_type: str = "np",
        return_dict: bool = True,
        recover_cameras: bool = False,
        recover_options: dict | None = None,
        window_frames: int | None = None,
        window_overlap: int | None = None,
        window_blend: str = "linear",
        ensemble_size: int = 1,
    ) -> One4DPipelineOutput | tuple:
        """Generate RGB frames and pointmaps.

        Inputs: `video` (F, H, W, 3) uint8 holds the frames; those not observed are ignored (a single image
        may be given as (H, W, 3) with `num_frames`; for text to 4D no video is needed: `num_frames`, `height`
        and `width`, default the trained clip size). The observed frames are `frame_mask` (F,) (all zero =
        text to 4D), or those of `task` (single_image: the first; sparse_frames: first, last and a few spread
        between, drawn with `seed`; full_video: all; text: none).

        Sampling: steps, guidance and shift default to `self.sampling` (for a trained run: what it
        recorded); `generator` seeds the noise (default: one seeded with `seed`); `negative_prompt` replaces
        the caption in the unconditional rows of classifier-free guidance. `callback_on_step_end(pipe, step,
        timestep, callback_kwargs)` gets `callback_kwargs` with the tensors named in
        `callback_on_step_end_tensor_inputs` ("latents": (1, 32, f, h, w), RGB then XYZ channels) and may
        return replacements.

        Output: `output_type` "np" (numpy), "pt" (torch tensors, same layout) or "latent" (the latents only);
        `recover_cameras=True` adds cameras and depth (`one4d_geometry.recover_cameras` on the reliable
        points, `recover_options` passed on). `return_dict=False` gives a tuple (frames, pointmaps, valid,
        saturated, frame_mask, cameras).

        Long videos: a video longer than `window_frames` (default: the trained clip length) is generated in
        overlapping windows of that length (`window_overlap` frames shared, default a quarter; 4k + 1 frames
        per window, any number in all), each aligned to the first by a Sim(3) on the shared frames and blended
        over them (`window_blend` "linear" or "none"); see `one4d_model.pipelines.long_video`.

        Reconstruction ensemble: with every frame observed (the full-video task), `ensemble_size` > 1 draws
        that many samples from successive noise of `generator` and returns the mean of their latents, RGB and
        XYZ, decoded once. One sample is a draw from the model's posterior, whose squared error is the
        posterior variance twice over; the mean estimates the posterior mean, which minimises it (Marigold's
        test-time ensemble, `ensemble_size` in diffusers' `MarigoldDepthPipeline`, does the same for depth).
        Tasks that generate frames refuse it: a mean of different generated videos is not one video.
        """
        if output_type not in OUTPUT_TYPES:
            raise ModelError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        unknown = set(callback_on_step_end_tensor_inputs) - set(CALLBACK_TENSOR_INPUTS)
        if unknown:
            raise ModelError(
                f"callback_on_step_end_tensor_inputs may name {CALLBACK_TENSOR_INPUTS}, got {unknown}"
            )
        if recover_cameras and output_type == "latent":
            raise ModelError("recover_cameras needs decoded pointmaps: use output_type 'np' or 'pt'")
        frames = self._frames(video, task, frame_mask, num_frames, height, width)
        mask = self._mask(frames.shape[0], task, frame_mask, seed)
        if isinstance(ensemble_size, bool) or not isinstance(ensemble_size, int) or ensemble_size < 1:
            raise ModelError(f"ensemble_size must be a positive integer, got {ensemble_size!r}")
        if ensemble_size > 1 and not np.all(mask > 0):
            raise ModelError(
                f"ensemble_size {ensemble_size} averages samples, which is for reconstruction: every frame "
                f"observed (task 'full_video'); this call observes {int((mask > 0).sum())} of {len(mask)} "
                "frames, and a mean of different generated frames is not a video"
            )
        windows = self._windows(frames.shape[0], window_frames, window_overlap)
        if len(windows) > 1 and output_type == "latent":
            raise ModelError(
                "output_type 'latent' is for one window; a longer video is stitched after decoding"
            )
        device = self.device
        using = self.residency.using
        config = SamplerConfig(
            num_steps=self.sampling.num_steps if num_inference_steps is None else num_inference_steps,
            guidance_scale=self.sampling.guidance_scale if guidance_scale is None else guidance_scale,
            shift=self.sampling.shift if shift is None else shift,
        )
        with using("text_encoder", self.text_encoder):
            text = self.text_encoder([prompt]).to(device, torch.float32)
            negative = None
            if config.guidance_scale != 1.0:
                negative = self.text_encoder([negative_prompt]).to(device, torch.float32)
        if generator is None:
            generator = torch.Generator(device=device).manual_seed(seed)
        on_step_end = None
        if callback_on_step_end is not None:

            def on_step_end(step, timestep, latents):
                named = {"latents": latents}
                kwargs = {name: named[name] for name in callback_on_step_end_tensor_inputs}
                returned = callback_on_step_end(self, step, timestep, kwargs) or {}
                return returned.get("latents")

        def sample(window_video: np.ndarray, window_mask: np.ndarray) -> JointLatents:
            return self._sample_window(
                window_video, window_mask, text, negative, config, generator, on_step_end, ensemble_size
            )

        if len(windows) == 1:
            latents = sample(frames, mask)
            if output_type == "latent":
                output = One4DPipelineOutput(None, None, None, None, frame_mask=mask, latents=latents)
                return output if return_dict else (None, None, None, None, mask, None)
            decoded = self._decode(latents)
        else:
            latents = None

            def generate_window(
                index: int, window_video: np.ndarray, window_mask: np.ndarray
            ) -> WindowOutput:
                return self._decode(sample(window_video, window_mask))

            decoded = stitch(
                windows,
                generate_window,
                mask,
                frames,
                blend=window_blend,
                progress=lambda items: tqdm(
                    items, **{"desc": "windows", "unit": "window", **self._progress_bar_config}
                ),
            )
        output = One4DPipelineOutput(
            frames=decoded.frames,
            pointmaps=decoded.pointmaps,
            valid=decoded.valid,
            saturated=decoded.saturated,
            frame_mask=mask,
            latents=latents,
        )
        if recover_cameras:
            output.cameras = output.recover(**(recover_options or {}))
        if output_type == "pt":
            for name in ("frames", "pointmaps", "valid", "saturated"):
                setattr(output, name, torch.from_numpy(getattr(output, name)))
        if not return_dict:
            return (output.frames, output.pointmaps, output.valid, output.saturated, mask, output.cameras)
        return output

    def _sample_window(
        self, frames, mask, text, negative, config, generator, on_step_end, ensemble_size: int = 1
    ) -> JointLatents:
        """Joint latents of one window: its observed frames encoded (UMC), its first conditioning frame
        through the image encoder, then `sample_joint` (`ensemble_size` times, one after another so that the
        transformer's memory stays that of one sample, and averaged)."""
        device, using = self.device, self.residency.using
        rgb = rgb_to_unit(torch.from_numpy(frames).to(device).permute(3, 0, 1, 2)[None])
        cond_rgb = conditioning_video(rgb, mask)
        with using("vae", self.vae):
            cond = self.vae.encode(cond_rgb).float()
        packed = pack_frame_mask(torch.from_numpy(mask)[None].to(device), tuple(cond.shape[-2:]))
        image = None
        if self.image_encoder is not None:
            with using("image_encoder", self.image_encoder):
                image = self.image_encoder(cond_rgb[:, :, 0]).to(device, torch.float32)
        bf16 = next(self.transformer.parameters()).dtype == torch.bfloat16 and device.type == "cuda"
        with (
            using("transformer", self.transformer),
            torch.autocast(device.type, torch.bfloat16, enabled=bf16),
        ):
            total = None
            for _ in range(ensemble_size):
                drawn = sample_joint(
                    self.transformer,
                    cond,
                    packed,
                    text,
                    image,
                    negative,
                    config=config,
                    generator=generator,
                    scheduler=self.scheduler,
                    on_step_end=on_step_end,
                    progress=self.progress_bar,
                    parallel=self.parallel,
                )
                if ensemble_size == 1:
                    return drawn
                both = torch.cat([drawn.rgb, drawn.xyz], dim=1).float()
                total = both if total is None else total + both
        rgb, xyz = (total / ensemble_size).to(drawn.rgb.dtype).chunk(2, dim=1)
        return JointLatents(rgb=rgb, xyz=xyz)

    def _decode(self, latents: JointLatents) -> WindowOutput:
        with self.residency.using("vae", self.vae):
            out_rgb = self.vae.decode(latents.rgb).float().clamp(-1, 1)[0]
            out_xyz = self.vae.decode(latents.xyz).float()[0]
        as_uint8 = unit_to_rgb(out_rgb).permute(1, 2, 3, 0).cpu().numpy()
        decoded = decode_pointmaps(out_xyz.permute(1, 2, 3, 0).cpu().numpy(), UNIT_NORMALIZATION)
        return WindowOutput(as_uint8, decoded.points, decoded.valid, decoded.saturated)

    def _windows(self, count: int, window: int | None, overlap: int | None) -> list[range]:
        """One window for clips up to the window length (default: the trained clip length), else overlapping
        windows (`long_video.plan_windows`)."""
        if window is None and self.default_size is not None:
            window = self.default_size[0]
        if window is None or count <= window:
            if (count - 1) % 4:
                raise ModelError(f"the model generates 4k + 1 frames, got {count}")
            return [range(count)]
        return plan_windows(count, window, default_overlap(window) if overlap is None else overlap)

    def _frames(self, video, task, frame_mask, num_frames, height, width) -> np.ndarray:
        if video is None:
            no_frames = task == TEXT_TASK or (frame_mask is not None and not np.any(frame_mask))
            if not no_frames:
                raise ModelError("video is required unless nothing is observed (task 'text')")
            defaults = self.default_size or (None, None, None)
            count = num_frames or (None if frame_mask is None else len(np.asarray(frame_mask).reshape(-1)))
            size = (count or defaults[0], height or defaults[1], width or defaults[2])
            if not all(size):
                raise ModelError("text to 4D needs num_frames, height and width (no trained size is known)")
            video = np.zeros((*size, 3), np.uint8)
        video = np.asarray(video)
        if video.ndim == 3:
            if num_frames is None:
                raise ModelError("a single image (H, W, 3) needs num_frames (4k + 1) to generate")
            video = np.concatenate([video[None], np.zeros((num_frames - 1, *video.shape), video.dtype)])
        if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            raise ModelError(f"expected uint8 frames (F, H, W, 3), got {video.dtype} {video.shape}")
        h, w = video.shape[1:3]
        if h % 16 or w % 16:
            raise ModelError(f"height and width must be multiples of 16, got {h} x {w}")
        return video

    @staticmethod
    def _mask(count: int, task: str | None, frame_mask: np.ndarray | None, seed: int) -> np.ndarray:
        if (task is None) == (frame_mask is None):
            raise ModelError(f"give exactly one of task (one of {TASKS}) or frame_mask")
        if frame_mask is not None:
            mask = np.asarray(frame_mask, dtype=np.float32).reshape(-1)
            if mask.shape != (count,) or not set(np.unique(mask)) <= {0.0, 1.0}:
                raise ModelError(f"frame_mask must be {count} zeros and ones (all zero: text to 4D)")
            return mask
        if task not in TASKS:
            raise ModelError(f"unknown task {task!r}; choose from {TASKS}")
        return observed_frame_mask(task, count, np.random.default_rng(seed)).astype(np.float32)
