"""Dataset readers. :func:`load_sequence` reads a whole evaluation sequence; each ``*Sequence`` class reads
frames lazily and :func:`iter_clips` / :class:`WindowSource` / :class:`WindowMixture` turn sequences into
training clips."""

from __future__ import annotations

from pathlib import Path

from ..clip import Clip
from .base import FrameSequence, WindowSource, iter_clips
from .bedlam import BedlamSequence
from .folder import FolderSequence, write_folder
from .mixture import WindowMixture
from .omniworld import OmniWorldSequence
from .pointodyssey import PointOdysseySequence
from .sintel import SintelSequence
from .spatialvid import SpatialVIDSequence
from .tartanair import TartanAirSequence
from .tum import BonnSequence, TumSequence

FORMATS = {
    "sintel": SintelSequence,
    "tum": TumSequence,
    "bonn": BonnSequence,
    "folder": FolderSequence,
    "pointodyssey": PointOdysseySequence,
    "tartanair": TartanAirSequence,
    "omniworld": OmniWorldSequence,
    "bedlam": BedlamSequence,
    "spatialvid": SpatialVIDSequence,
}


def open_sequence(fmt: str, path: str | Path, **options) -> FrameSequence:
    """The lazy reader of format ``fmt`` for ``path`` (options go to its constructor, e.g. Sintel's
    ``sequence=``, Bonn's ``frames=slice(30, 140)``, TUM's ``max_difference=0.02``)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {sorted(FORMATS)}")
    return FORMATS[fmt](path, **options)


def load_sequence(fmt: str, path: str | Path, **options) -> Clip:
    """The whole sequence as a :class:`Clip` (``.rgb``, ``.depth``, ``.K``, ``.c2w`` in the dataset's world,
    ``.timestamps`` where known). Call ``.lifted()`` for first-frame pointmaps."""
    return open_sequence(fmt, path, **options).read_all()


__all__ = [
    "FORMATS",
    "BedlamSequence",
    "BonnSequence",
    "FolderSequence",
    "FrameSequence",
    "OmniWorldSequence",
    "PointOdysseySequence",
    "SintelSequence",
    "SpatialVIDSequence",
    "TartanAirSequence",
    "TumSequence",
    "WindowMixture",
    "WindowSource",
    "iter_clips",
    "load_sequence",
    "open_sequence",
    "write_folder",
]
