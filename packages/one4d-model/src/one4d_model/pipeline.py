"""`One4DPipeline`: RGB frames and XYZ pointmaps from a single image, sparse frames or a full video.

The three tasks are one call: the observed frames (a frame mask) are encoded as the conditioning video
(Unified Masked Conditioning), the caption by the text encoder and the first frame by the image encoder;
RGB and XYZ latents are denoised together (`sampling.sample_joint`) and decoded by the VAE. Pointmaps come
out in the first camera's frame and in the normalised units the model was trained with ([-1, 1] after a
per-clip centre and scale), so they are defined up to scale, like every monocular reconstruction. Points the
model codes as invalid (sky, holes: `one4d_data.normalize.encode_pointmaps`) are NaN and outside `valid`;
points clamped at the unit box are `saturated` (right direction, distance a lower bound), and camera
recovery (`One4DPipelineOutput.recover`) fits on the rest.

`One4DPipeline.from_checkpoint` rebuilds everything a `one4d-train` run saved: the transformer (base plus
trained tensors), the VAE and the context encoders named in its `ModelSpec` (`one4d_model.run_format`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from one4d_data.normalize import PointmapNormalization, decode_pointmaps
from one4d_data.umc import TASKS, conditioning_video, observed_frame_mask, pack_frame_mask

from .components import build_components
from .errors import ModelError
from .run_format import find_checkpoint, load_trainable, read_spec, run_folder
from .sampling import SamplerConfig, sample_joint

_UNIT = PointmapNormalization(np.zeros(3), 1.0)  # generated pointmaps stay in the model's units


@dataclass
class One4DPipelineOutput:
    frames: np.ndarray  # (F, H, W, 3) uint8, generated RGB
    pointmaps: np.ndarray  # (F, H, W, 3) float32, first-camera frame, normalised units, NaN where invalid
    valid: np.ndarray  # (F, H, W) bool, the model gives geometry there (not sky or a hole)
    saturated: np.ndarray  # (F, H, W) bool, valid but clamped at the unit box (distance a lower bound)
    frame_mask: np.ndarray  # (F,) float32, 1 = the frame was given

    @property
    def reliable(self) -> np.ndarray:
        """Valid and not saturated: the points camera recovery is fitted on."""
        return self.valid & ~self.saturated

    def recover(self, **options):
        """Cameras and depth (`one4d_geometry.recover_cameras`) fitted on the reliable points, with depth at
        every valid one; `options` go to `recover_cameras`."""
        from one4d_geometry import recover_cameras

        return recover_cameras(self.pointmaps, mask=self.valid, fit_mask=self.reliable, **options)


class One4DPipeline:
    """Joint RGB + pointmap generation for the three tasks of One4D (see the module docstring)."""

    def __init__(
        self,
        transformer,
        vae,
        text_encoder,
        image_encoder=None,
        device: str | torch.device = "cpu",
        sampling: SamplerConfig | None = None,
    ):
        self.transformer = transformer.eval()
        self.vae, self.text_encoder, self.image_encoder = vae, text_encoder, image_encoder
        self.device = torch.device(device)
        self.sampling = sampling or SamplerConfig()  # what a call uses for the settings it is not given

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
    ) -> One4DPipeline:
        """A pipeline from a training run, step folder or `trainable.safetensors` (anything in the
        `run_format`): the model its spec describes, with the trained tensors, and the spec's sampling
        settings as defaults. The keyword paths override those recorded (e.g. on another machine)."""
        checkpoint = find_checkpoint(path)
        spec = read_spec(checkpoint)
        parts = build_components(
            spec,
            device=device,
            dtype=dtype,
            run_dir=run_folder(checkpoint),
            base_path=base_path,
            vae=vae,
            text_encoder=text_encoder,
            image_encoder=image_encoder,
        )
        load_trainable(parts.transformer, checkpoint)
        return cls(
            parts.transformer,
            parts.vae,
            parts.text_encoder,
            parts.image_encoder,
            device=device,
            sampling=spec.sampling,
        )

    @torch.no_grad()
    def __call__(
        self,
        video: np.ndarray,
        *,
        task: str | None = None,
        frame_mask: np.ndarray | None = None,
        num_frames: int | None = None,
        prompt: str = "",
        negative_prompt: str = "",
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        shift: float | None = None,
        seed: int = 0,
    ) -> One4DPipelineOutput:
        """`video` (F, H, W, 3) uint8 holds the frames; those not observed are ignored (a single image may be
        given as (H, W, 3) with `num_frames`). The observed frames are `frame_mask` (F,), or those of `task`
        (single_image: the first; sparse_frames: first, last and a few spread between; full_video: all).
        Steps, guidance and shift default to `self.sampling` (for a trained run: what the run recorded)."""
        frames = self._frames(video, num_frames)
        mask = self._mask(frames.shape[0], task, frame_mask, seed)
        device = self.device
        rgb = torch.from_numpy(frames).to(device).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
        cond_rgb = conditioning_video(rgb, mask)
        cond = self.vae.encode(cond_rgb).float()
        packed = pack_frame_mask(torch.from_numpy(mask)[None].to(device), tuple(cond.shape[-2:]))
        text = self.text_encoder([prompt]).to(device, torch.float32)
        image = None
        if self.image_encoder is not None:
            image = self.image_encoder(cond_rgb[:, :, 0]).to(device, torch.float32)
        config = SamplerConfig(
            num_steps=self.sampling.num_steps if num_inference_steps is None else num_inference_steps,
            guidance_scale=self.sampling.guidance_scale if guidance_scale is None else guidance_scale,
            shift=self.sampling.shift if shift is None else shift,
        )
        negative = None
        if config.guidance_scale != 1.0:
            negative = self.text_encoder([negative_prompt]).to(device, torch.float32)
        generator = torch.Generator(device=device).manual_seed(seed)
        bf16 = next(self.transformer.parameters()).dtype == torch.bfloat16 and device.type == "cuda"
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            latents = sample_joint(
                self.transformer, cond, packed, text, image, negative, config=config, generator=generator
            )
        out_rgb = self.vae.decode(latents.rgb).float().clamp(-1, 1)[0]
        out_xyz = self.vae.decode(latents.xyz).float()[0]
        as_uint8 = ((out_rgb + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).cpu().numpy()
        decoded = decode_pointmaps(out_xyz.permute(1, 2, 3, 0).cpu().numpy(), _UNIT)
        return One4DPipelineOutput(
            frames=as_uint8,
            pointmaps=decoded.points,
            valid=decoded.valid,
            saturated=decoded.saturated,
            frame_mask=mask,
        )

    @staticmethod
    def _frames(video: np.ndarray, num_frames: int | None) -> np.ndarray:
        video = np.asarray(video)
        if video.ndim == 3:
            if num_frames is None:
                raise ModelError("a single image (H, W, 3) needs num_frames (4k + 1) to generate")
            video = np.concatenate([video[None], np.zeros((num_frames - 1, *video.shape), video.dtype)])
        if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            raise ModelError(f"expected uint8 frames (F, H, W, 3), got {video.dtype} {video.shape}")
        count, height, width = video.shape[:3]
        if (count - 1) % 4:
            raise ModelError(f"the model generates 4k + 1 frames, got {count}")
        if height % 16 or width % 16:
            raise ModelError(f"height and width must be multiples of 16, got {height} x {width}")
        return video

    @staticmethod
    def _mask(count: int, task: str | None, frame_mask: np.ndarray | None, seed: int) -> np.ndarray:
        if (task is None) == (frame_mask is None):
            raise ModelError(f"give exactly one of task (one of {TASKS}) or frame_mask")
        if frame_mask is not None:
            mask = np.asarray(frame_mask, dtype=np.float32).reshape(-1)
            if mask.shape != (count,) or not set(np.unique(mask)) <= {0.0, 1.0} or mask.sum() < 1:
                raise ModelError(f"frame_mask must be {count} zeros and ones with at least one 1")
            return mask
        if task not in TASKS:
            raise ModelError(f"unknown task {task!r}; choose from {TASKS}")
        return observed_frame_mask(task, count, np.random.default_rng(seed)).astype(np.float32)
