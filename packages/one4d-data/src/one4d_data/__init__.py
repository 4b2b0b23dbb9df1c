"""one4d_data: 4D clips from real datasets and from a synthetic scene generator.

Modules: ``clip`` (the :class:`Clip` type), ``synthetic`` (procedural scenes), ``transforms`` (frame
sampling, resize / crop), ``normalize`` (pointmaps to [-1, 1]), ``umc`` (Unified Masked Conditioning),
``dataset`` (torch datasets), ``latent_cache`` (cached VAE latents), ``readers`` (dataset formats).
"""

from .clip import Clip
from .errors import DataError
from .normalize import PointmapNormalization, normalize_pointmaps
from .umc import TASKS, TaskRatios

__version__ = "0.1.0"

__all__ = ["TASKS", "Clip", "DataError", "PointmapNormalization", "TaskRatios", "normalize_pointmaps"]
