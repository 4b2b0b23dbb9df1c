"""Cache of VAE latents and text embeddings per clip (safetensors), so training can skip both encoders.

One file per clip, ``clip_<index>.safetensors``, holding ``rgb_latents``, ``xyz_latents`` (16, f, h, w),
per task ``cond_latents_<task>`` and ``frame_mask_<task>`` (the conditioning video depends on the task's
frame mask, drawn deterministically when the cache is built), ``text_embeds`` (L, D), ``norm_center`` (3,)
and ``norm_scale`` (); optionally ``image_embeds`` (T, D) of the first RGB frame (e.g. CLIP image tokens;
task-independent, since every task that observes frames observes frame 0); metadata: caption, source index,
frame count. The text-to-4D task observes nothing, so its conditioning is the same for every clip: one
``blank_conditioning.safetensors`` per cache holds ``cond_latents`` of the black video and, with an image
encoder, ``image_embeds`` of a black first frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from one4d_geometry.files import atomic_path
from safetensors import safe_open
from safetensors.torch import save_file
from torch.utils.data import Dataset

from .dataset import ClipDataset, item_rng
from .errors import DataError
from .umc import (
    FRAME_TASKS,
    TASKS,
    TEXT_TASK,
    TaskRatios,
    conditioning_video,
    observed_frame_mask,
    sample_task,
)

CACHE_PATTERN = "clip_*.safetensors"
EMPTY_CAPTION_FILE = "empty_caption.safetensors"
"""The text encoder's states of the empty caption (one file per cache): what caption dropout trains with."""
BLANK_CONDITIONING_FILE = "blank_conditioning.safetensors"
"""The text task's conditioning (nothing observed): the black video's latents, a black frame's CLIP states."""
OPTIONAL_KEYS = ("image_embeds",)


def write_cached_sample(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Write one sample atomically (`one4d_geometry.files.atomic_path`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(temporary), metadata=metadata
        )


def read_cached_sample(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(tensors, metadata) of one cached sample; a missing or corrupt file raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "cached sample not found")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own error types for truncated headers
        raise DataError(path, f"not a readable safetensors file ({error})") from error
    return tensors, metadata


def _task_mask(task: str, num_frames: int, seed: int, index: int, sparsity_range) -> np.ndarray:
    rng = item_rng(seed, 0, index, stream=100 + TASKS.index(task))
    return observed_frame_mask(task, num_frames, rng, sparsity_range=sparsity_range)


def _has_keys(path: Path, keys: tuple[str, ...]) -> bool:
    """Whether ``path`` exists and (when ``keys`` are given) is readable and holds them."""
    if not path.exists():
        return False
    if not keys:
        return True
    try:
        with safe_open(str(path), framework="pt") as handle:
            return set(keys) <= set(handle.keys())
    except Exception:  # unreadable: rebuild it
        return False


@torch.no_grad()
def build_latent_cache(
    dataset: ClipDataset,
    out_dir: str | Path,
    encode_video: Callable[[torch.Tensor], torch.Tensor],
    encode_text: Callable[[list[str]], torch.Tensor],
    batch_size: int = 1,
    overwrite: bool = False,
    encode_image: Callable[[torch.Tensor], torch.Tensor] | None = None,
    indices: Sequence[int] | None = None,
    on_written: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Encode every item of ``dataset`` (at its current epoch) into ``out_dir``; returns the file paths.

    ``encode_video`` maps (B, 3, F, H, W) in [-1, 1] to latents (B, 16, f, h, w); ``encode_text`` maps a
    list of B captions to (B, L, D); ``encode_image`` (optional) maps the first RGB frames (B, 3, H, W) in
    [-1, 1] to (B, T, D), stored as ``image_embeds``. Existing files are kept unless ``overwrite``, so a
    build can resume; with ``encode_image``, existing files lacking ``image_embeds`` are rebuilt.
    ``indices`` restricts the build to those items (one process's share of a parallel build); the returned
    paths are then theirs only. ``on_written`` is called with each file written (progress reporting).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"clip_{i:07d}.safetensors" for i in range(len(dataset))]
    wanted = range(len(dataset)) if indices is None else [int(i) for i in indices]
    bad = [i for i in wanted if not 0 <= i < len(dataset)]
    if bad:
        raise IndexError(f"indices {bad[:5]} out of range for a dataset of {len(dataset)} items")
    empty = out_dir / EMPTY_CAPTION_FILE
    if overwrite or not empty.exists():
        write_cached_sample(empty, {"text_embeds": encode_text([""])[0]}, {"caption": ""})
    blank = out_dir / BLANK_CONDITIONING_FILE
    if (overwrite or not blank.exists()) and len(dataset):
        rgb = dataset[wanted[0] if wanted else 0]["rgb"][None]
        tensors = {"cond_latents": encode_video(torch.zeros_like(rgb))[0]}
        if encode_image is not None:
            tensors["image_embeds"] = encode_image(torch.zeros_like(rgb[:, :, 0]))[0]
        write_cached_sample(blank, tensors, {"num_frames": str(rgb.shape[2])})
    needed = ("image_embeds",) if encode_image is not None else ()
    todo = [i for i in wanted if overwrite or not _has_keys(paths[i], needed)]
    for start in range(0, len(todo), batch_size):
        indices = todo[start : start + batch_size]
        items = [dataset[i] for i in indices]
        rgb = torch.stack([it["rgb"] for it in items])
        xyz = torch.stack([it["xyz"] for it in items])
        rgb_latents = encode_video(rgb)
        xyz_latents = encode_video(xyz)
        text = encode_text([it["caption"] for it in items])
        image = None if encode_image is None else encode_image(rgb[:, :, 0])
        per_task = {}
        for task in FRAME_TASKS:
            masks = np.stack(
                [_task_mask(task, rgb.shape[2], dataset.seed, i, dataset.sparsity_range) for i in indices]
            )
            # Every frame observed (the full-video task): the conditioning video is the video itself.
            latents = rgb_latents.clone() if masks.all() else encode_video(conditioning_video(rgb, masks))
            per_task[task] = (masks, latents)
        for b, (index, item) in enumerate(zip(indices, items, strict=False)):
            tensors = {
                "rgb_latents": rgb_latents[b],
                "xyz_latents": xyz_latents[b],
                "text_embeds": text[b],
                "norm_center": item["norm_center"],
                "norm_scale": item["norm_scale"],
            }
            if image is not None:
                tensors["image_embeds"] = image[b]
            for task, (masks, latents) in per_task.items():
                tensors[f"cond_latents_{task}"] = latents[b]
                tensors[f"frame_mask_{task}"] = torch.from_numpy(masks[b].astype(np.float32))
            metadata = {"caption": item["caption"], "index": str(index), "num_frames": str(rgb.shape[2])}
            write_cached_sample(paths[index], tensors, metadata)
            if on_written is not None:
                on_written(paths[index])
    return [paths[i] for i in wanted]


class LatentCacheDataset(Dataset):
    """Items from a latent cache: ``rgb_latents``, ``xyz_latents``, ``cond_latents`` and ``frame_mask`` of a
    task drawn with ``task_ratios`` from ``item_rng(seed, epoch, index)``, ``task``, ``text_embeds``,
    ``norm_center``, ``norm_scale``, ``caption``, and ``image_embeds`` when the file has them."""

    def __init__(self, cache_dir: str | Path, task_ratios: TaskRatios | None = None, seed: int = 0) -> None:
        self.cache_dir = Path(cache_dir)
        self.paths = sorted(self.cache_dir.glob(CACHE_PATTERN))
        if not self.paths:
            raise DataError(self.cache_dir, f"no cached samples ({CACHE_PATTERN})")
        self.task_ratios = task_ratios or TaskRatios()
        self.seed, self.epoch = int(seed), 0
        self._blank: dict[str, torch.Tensor] | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def empty_text_embeds(self) -> torch.Tensor:
        """(L, D) states of the empty caption, written by `build_latent_cache`."""
        path = self.cache_dir / EMPTY_CAPTION_FILE
        if not path.is_file():
            raise DataError(
                path,
                "missing: the cache predates caption dropout to the empty caption; rebuild it (one4d-cache)",
            )
        return read_cached_sample(path)[0]["text_embeds"]

    def blank_conditioning(self) -> dict[str, torch.Tensor]:
        """The text task's conditioning (`cond_latents`, and `image_embeds` when the cache has an image
        encoder's), written by `build_latent_cache`."""
        if self._blank is None:
            path = self.cache_dir / BLANK_CONDITIONING_FILE
            if not path.is_file():
                raise DataError(
                    path,
                    "missing: the cache predates the text-to-4D task; rebuild it (one4d-cache) to train it",
                )
            self._blank = read_cached_sample(path)[0]
        return self._blank

    def __getitem__(self, index: int) -> dict:
        path = self.paths[index]
        rng = item_rng(self.seed, self.epoch, index)
        task = sample_task(rng, self.task_ratios)
        keys = ("rgb_latents", "xyz_latents", "text_embeds", "norm_center", "norm_scale")
        source = "single_image" if task == TEXT_TASK else task  # any clip task: its mask gives the length
        wanted = (*keys, f"cond_latents_{source}", f"frame_mask_{source}")
        try:
            with safe_open(str(path), framework="pt") as handle:
                present = set(handle.keys())
                missing = [k for k in wanted if k not in present]
                if missing:
                    raise DataError(path, f"cached sample lacks {missing}")
                optional = [k for k in OPTIONAL_KEYS if k in present]
                tensors = {k: handle.get_tensor(k) for k in (*wanted, *optional)}
                caption = (handle.metadata() or {}).get("caption", "")
        except DataError:
            raise
        except Exception as error:
            raise DataError(path, f"not a readable safetensors file ({error})") from error
        item = {k: tensors[k] for k in keys}
        item.update({k: tensors[k] for k in OPTIONAL_KEYS if k in tensors})
        item["cond_latents"] = tensors[f"cond_latents_{source}"]
        item["frame_mask"] = tensors[f"frame_mask_{source}"]
        if task == TEXT_TASK:
            blank = self.blank_conditioning()
            item["cond_latents"] = blank["cond_latents"]
            item["frame_mask"] = torch.zeros_like(item["frame_mask"])
            if "image_embeds" in item:
                item["image_embeds"] = blank["image_embeds"]
        item["task"] = torch.tensor(TASKS.index(task), dtype=torch.int64)
        item["caption"] = caption
        return item
