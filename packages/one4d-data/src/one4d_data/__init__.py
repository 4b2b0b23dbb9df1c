"""one4d_data: 4D clips from real datasets and from a synthetic scene generator.

Modules: ``clip`` (the :class:`Clip` type), ``synthetic`` (procedural scenes), ``transforms`` (frame
sampling, resize / crop), ``normalize`` (pointmaps to [-1, 1]), ``umc`` (Unified Masked Conditioning),
``dataset`` (torch datasets), ``latent_cache`` (cached VAE latents), ``readers`` (dataset formats),
``corpus`` (finding sequences under dataset roots and mixing them into one training dataset).
"""

from one4d_geometry.threads import apply_thread_policy

apply_thread_policy()  # before anything loads torch (see one4d_geometry.threads)

from .clip import Clip
from .corpus import (
    CorpusSource,
    Discovery,
    SkippedSequence,
    build_training_dataset,
    discover_sequences,
    find_sequence_folders,
    load_captions,
    parse_dataset_spec,
)
from .errors import DataError
from .normalize import PointmapNormalization, normalize_pointmaps
from .umc import TASKS, TaskRatios

__version__ = "0.1.0"

__all__ = [
    "TASKS",
    "Clip",
    "CorpusSource",
    "DataError",
    "Discovery",
    "PointmapNormalization",
    "SkippedSequence",
    "TaskRatios",
    "build_training_dataset",
    "discover_sequences",
    "find_sequence_folders",
    "normalize_pointmaps",
    "load_captions",
    "parse_dataset_spec",
]
