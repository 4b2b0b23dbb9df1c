"""Torch datasets giving model-ready samples, a weighted mixture and the collate function."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .clip import Clip
from .errors import DataError
from .normalize import encode_pointmaps, rgb_to_unit, robust_normalization
from .synthetic import make_clip
from .transforms import check_frame_count, resize_and_crop, sample_frame_indices
from .umc import TASKS, TaskRatios, conditioning_video, observed_frame_mask, sample_task


def item_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """Generator for one item: depends only on (seed, epoch, index), never on the worker layout."""
    return np.random.default_rng([int(seed), int(epoch), int(index), int(stream)])


class SyntheticSource:
    """``num_clips`` procedural clips generated lazily per index (deterministic by ``seed`` and index)."""

    def __init__(
        self, num_clips: int, frames: int, height: int, width: int, seed: int = 0, **options
    ) -> None:
        self.num_clips, self.frames, self.height, self.width = int(num_clips), frames, height, width
        self.seed, self.options = int(seed), options

    def __len__(self) -> int:
        return self.num_clips

    def clip_seed(self, index: int) -> int:
        return int(np.random.SeedSequence([self.seed, int(index)]).generate_state(1)[0])

    def __getitem__(self, index: int) -> Clip:
        if not 0 <= index < self.num_clips:
            raise IndexError(f"clip index {index} out of range for {self.num_clips} clips")
        return make_clip(self.clip_seed(index), self.frames, self.height, self.width, **self.options)


def clip_to_sample(
    clip: Clip,
    rng: np.random.Generator,
    task_ratios: TaskRatios,
    sparsity_range: tuple[float, float] = (0.05, 0.5),
    task: str | None = None,
) -> dict:
    """A lifted clip (first camera = world) -> the dict of tensors described in :class:`ClipDataset`."""
    if clip.pointmaps is None or clip.valid is None:
        clip = clip.lifted()
    valid_np = np.asarray(clip.valid, dtype=bool) & np.isfinite(clip.pointmaps).all(-1)
    norm = robust_normalization(clip.pointmaps, valid_np, where=clip.name)
    valid = torch.from_numpy(valid_np)
    points = torch.from_numpy(np.asarray(clip.pointmaps, dtype=np.float32))
    xyz = encode_pointmaps(points, valid, norm).permute(3, 0, 1, 2).contiguous()
    rgb = rgb_to_unit(torch.from_numpy(np.ascontiguousarray(clip.rgb)).permute(3, 0, 1, 2))
    task = task or sample_task(rng, task_ratios)
    mask = observed_frame_mask(task, clip.num_frames, rng, sparsity_range=sparsity_range)
    depth = torch.from_numpy(np.asarray(clip.depth, dtype=np.float32)).masked_fill(~valid, float("nan"))
    return {
        "rgb": rgb,
        "xyz": xyz,
        "xyz_valid": valid,
        "cond_rgb": conditioning_video(rgb, mask),
        "frame_mask": torch.from_numpy(mask.astype(np.float32)),
        "task": torch.tensor(TASKS.index(task), dtype=torch.int64),
        "norm_center": torch.from_numpy(norm.center.astype(np.float32)),
        "norm_scale": torch.tensor(norm.scale, dtype=torch.float32),
        "K": torch.from_numpy(np.asarray(clip.K, dtype=np.float32)),
        "c2w": torch.from_numpy(np.asarray(clip.c2w, dtype=np.float32)),
        "depth": depth,
        "caption": clip.caption,
    }


class ClipDataset(Dataset):
    """Model-ready samples from a source of clips.

    ``source`` is a sequence of :class:`Clip` (``len`` + indexing) or a callable ``index -> Clip`` (then pass
    ``length``). Each item: ``rgb`` (3, F, H, W) float32 in [-1, 1]; ``xyz`` (3, F, H, W) the pointmap code of
    :func:`~one4d_data.normalize.encode_pointmaps` (normalized first-frame points clamped to [-1, 1], the
    invalid code where invalid); ``xyz_valid`` (F, H, W) bool; ``cond_rgb``
    (unobserved frames 0); ``frame_mask`` (F,) float32, 1 = observed; ``task`` int64 index into ``TASKS``;
    ``norm_center`` (3,), ``norm_scale`` () to invert the normalization; ``K`` (F, 3, 3), ``c2w`` (F, 4, 4)
    with c2w[0] = I; ``depth`` (F, H, W) NaN-invalid; ``caption`` str.

    Randomness (frame window, stride, crop, task, sparsity) comes from ``item_rng(seed, epoch, index)``, so
    items do not depend on the number of workers. With ``skip_bad`` a clip raising :class:`DataError` is
    replaced by the next index and recorded in ``bad_clips`` (per process: each worker keeps its own list).
    """

    def __init__(
        self,
        source: Sequence[Clip] | Callable[[int], Clip],
        num_frames: int = 81,
        height: int = 352,
        width: int = 624,
        task_ratios: TaskRatios | None = None,
        seed: int = 0,
        strides: tuple[int, ...] | int = 1,
        random_crop: bool = False,
        sparsity_range: tuple[float, float] = (0.05, 0.5),
        length: int | None = None,
        skip_bad: bool = False,
        max_skips: int = 16,
    ) -> None:
        self.source = source
        self.num_frames = check_frame_count(num_frames)
        if height % 16 or width % 16 or height <= 0 or width <= 0:
            raise ValueError(f"height and width must be positive multiples of 16, got {height} x {width}")
        self.height, self.width = height, width
        self.task_ratios = task_ratios or TaskRatios()
        self.seed, self.epoch = int(seed), 0
        self.strides, self.random_crop, self.sparsity_range = strides, random_crop, sparsity_range
        if length is None:
            if not hasattr(source, "__len__"):
                raise ValueError("a callable source needs an explicit length")
            length = len(source)  # type: ignore[arg-type]
        self.length = int(length)
        self.skip_bad, self.max_skips = skip_bad, max_skips
        self.bad_clips: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Epoch of the item randomness; forwarded to a source that has ``set_epoch``."""
        self.epoch = int(epoch)
        if hasattr(self.source, "set_epoch"):
            self.source.set_epoch(epoch)

    def _load(self, index: int) -> Clip:
        return self.source(index) if callable(self.source) else self.source[index]

    def prepare_clip(self, clip: Clip, rng: np.random.Generator) -> Clip:
        """Frame window, resize / crop, then lift to first-frame pointmaps."""
        clip.validate()
        if clip.num_frames != self.num_frames:
            clip = clip.select(
                sample_frame_indices(clip.num_frames, self.num_frames, rng, self.strides, clip.name)
            )
            clip = clip.lifted()
        elif clip.pointmaps is None or not np.allclose(clip.c2w[0], np.eye(4), atol=1e-9):
            clip = clip.lifted()
        if (clip.height, clip.width) != (self.height, self.width):
            clip = resize_and_crop(clip, self.height, self.width, rng if self.random_crop else None)
        return clip

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        for attempt in range(self.max_skips + 1 if self.skip_bad else 1):
            current = (index + attempt) % self.length
            rng = item_rng(self.seed, self.epoch, current)
            try:
                clip = self.prepare_clip(self._load(current), rng)
                return clip_to_sample(clip, rng, self.task_ratios, self.sparsity_range)
            except DataError as error:
                if not self.skip_bad:
                    raise
                self.bad_clips.append((current, str(error)))
        raise DataError(f"items {index}..{index + self.max_skips}", "every clip tried was bad")


class WeightedMixture(Dataset):
    """``length`` items drawn from ``datasets`` with probabilities ``weights`` (normalized); item i picks its
    dataset and index from ``item_rng(seed, epoch, i)``, so it is the same across worker counts."""

    def __init__(
        self, datasets: Sequence[Dataset], weights: Sequence[float], length: int, seed: int = 0
    ) -> None:
        weights_arr = np.asarray(weights, dtype=np.float64)
        if len(datasets) == 0 or len(datasets) != len(weights_arr):
            raise ValueError(
                f"need one weight per dataset, got {len(datasets)} datasets, {len(weights_arr)} weights"
            )
        if not np.all(np.isfinite(weights_arr)) or np.any(weights_arr < 0) or weights_arr.sum() <= 0:
            raise ValueError(f"weights must be non-negative and not all zero, got {list(weights)}")
        if any(len(d) == 0 for d in datasets):  # type: ignore[arg-type]
            raise ValueError("every dataset in a mixture must be non-empty")
        self.datasets, self.probs = list(datasets), weights_arr / weights_arr.sum()
        self.length, self.seed, self.epoch = int(length), int(seed), 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for dataset in self.datasets:
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)

    def locate(self, index: int) -> tuple[int, int]:
        """(dataset number, index within it) of mixture item ``index``."""
        rng = item_rng(self.seed, self.epoch, index, stream=1)
        which = int(rng.choice(len(self.datasets), p=self.probs))
        return which, int(rng.integers(0, len(self.datasets[which])))  # type: ignore[arg-type]

    def __getitem__(self, index: int):
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        which, inner = self.locate(index)
        return self.datasets[which][inner]


def collate_samples(samples: list[dict]) -> dict:
    """Stack tensors along a new batch dimension; other values (captions) become lists."""
    if not samples:
        raise ValueError("cannot collate an empty batch")
    out = {}
    for key in samples[0]:
        values = [s[key] for s in samples]
        out[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return out
