"""Training data from dataset roots on disk: find every sequence of a format under a folder, parse
``FORMAT:ROOT`` specs, and mix several datasets into one :class:`ClipDataset`.

Sequences are found by their marker files, at any depth below the root (the root may itself be one
sequence); a folder holding a marker is not searched further:

- ``pointodyssey``: folders holding ``anno.npz``; ``tartanair``: ``pose_left.txt``
- ``folder``: folders holding ``cameras.json``
- ``spatialvid``: folders holding ``poses.npy`` and ``indexes.txt``
- ``tum`` / ``bonn``: folders holding ``rgb.txt``, ``depth.txt`` and ``groundtruth.txt``
- ``omniworld``: scene folders holding ``split_info.json``, one sequence per split listed in it
- ``bedlam``: scene folders holding ``ground_truth/camera/<seq>_camera.csv``, one sequence per CSV
- ``sintel``: training folders holding ``final/`` next to ``depth/`` or ``camdata_left/``, one sequence per
  folder in ``final/`` (the root may also be one ``final/<seq>`` folder)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .clip import Clip
from .dataset import ClipDataset
from .errors import DataError
from .readers import FORMATS, FrameSequence, open_sequence
from .readers.mixture import WindowMixture
from .umc import TaskRatios

log = logging.getLogger(__name__)


class SequenceRef(NamedTuple):
    """Where a sequence is: the folder given to its reader and the reader's options (split, sequence)."""

    path: Path
    options: dict[str, Any]


class SkippedSequence(NamedTuple):
    """A sequence whose reader raised :class:`DataError` (its folder, options and the error message)."""

    path: Path
    options: dict[str, Any]
    message: str


@dataclass
class Discovery:
    """The result of :func:`discover_sequences`: opened ``sequences`` (sorted by path, then options) and,
    with ``skip_bad``, the ``skipped`` ones."""

    fmt: str
    root: Path
    sequences: list[FrameSequence] = field(default_factory=list)
    skipped: list[SkippedSequence] = field(default_factory=list)


def _files(*names: str) -> Callable[[Path, set[str], set[str]], bool]:
    return lambda folder, dirs, files: all(n in files for n in names)


def _is_bedlam_scene(folder: Path, dirs: set[str], files: set[str]) -> bool:
    return "ground_truth" in dirs and any((folder / "ground_truth" / "camera").glob("*_camera.csv"))


def _is_sintel_training(folder: Path, dirs: set[str], files: set[str]) -> bool:
    return "final" in dirs and ("depth" in dirs or "camdata_left" in dirs)


def _split_refs(folder: Path) -> list[SequenceRef]:
    info_path = folder / "split_info.json"
    try:
        splits = json.loads(info_path.read_text())["split"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise DataError(info_path, f'expected JSON with a "split" list ({error!r})') from error
    if not isinstance(splits, list):
        raise DataError(info_path, f'"split" must be a list of frame lists, got {type(splits).__name__}')
    return [SequenceRef(folder, {"split": i}) for i in range(len(splits))]


def _bedlam_refs(folder: Path) -> list[SequenceRef]:
    csvs = sorted((folder / "ground_truth" / "camera").glob("*_camera.csv"))
    return [SequenceRef(folder, {"sequence": p.name[: -len("_camera.csv")]}) for p in csvs]


def _sintel_refs(folder: Path) -> list[SequenceRef]:
    names = sorted(p.name for p in (folder / "final").iterdir() if p.is_dir())
    return [SequenceRef(folder, {"sequence": name}) for name in names]


@dataclass(frozen=True)
class _Layout:
    marker: Callable[[Path, set[str], set[str]], bool]
    looked_for: str
    expand: Callable[[Path], list[SequenceRef]] = lambda folder: [SequenceRef(folder, {})]


_TUM = _Layout(
    _files("rgb.txt", "depth.txt", "groundtruth.txt"), "folders holding rgb.txt, depth.txt, groundtruth.txt"
)
LAYOUTS: dict[str, _Layout] = {
    "pointodyssey": _Layout(_files("anno.npz"), "folders holding anno.npz"),
    "tartanair": _Layout(_files("pose_left.txt"), "folders holding pose_left.txt"),
    "folder": _Layout(_files("cameras.json"), "folders holding cameras.json"),
    "spatialvid": _Layout(_files("poses.npy", "indexes.txt"), "folders holding poses.npy and indexes.txt"),
    "tum": _TUM,
    "bonn": _TUM,
    "omniworld": _Layout(_files("split_info.json"), "folders holding split_info.json", _split_refs),
    "bedlam": _Layout(_is_bedlam_scene, "folders holding ground_truth/camera/*_camera.csv", _bedlam_refs),
    "sintel": _Layout(
        _is_sintel_training, "folders holding final/<sequence>/ and depth/ or camdata_left/", _sintel_refs
    ),
}


def _check_format(fmt: str) -> _Layout:
    if fmt not in LAYOUTS:
        raise ValueError(f"unknown format {fmt!r}; choose from {sorted(LAYOUTS)}")
    return LAYOUTS[fmt]


def find_sequence_folders(fmt: str, root: str | Path) -> list[Path]:
    """Folders under ``root`` (itself included) holding the marker of format ``fmt``, sorted; hidden
    folders are skipped and a marked folder is not searched further. Symbolic links are followed once."""
    layout, root = _check_format(fmt), Path(root)
    if not root.exists():
        raise DataError(root, "folder not found")
    if not root.is_dir():
        raise DataError(root, f"expected a folder holding {fmt} sequences, got a file")
    found, seen = [], set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        if layout.marker(Path(dirpath), set(dirnames), set(filenames)):
            found.append(Path(dirpath))
            dirnames[:] = []
        else:
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found, key=lambda p: p.parts)


def _find_refs(fmt: str, root: Path, skipped: list[SkippedSequence] | None) -> list[SequenceRef]:
    folders = find_sequence_folders(fmt, root)
    if fmt == "sintel" and not folders and root.parent.name == "final":
        training = root.parent.parent
        if _is_sintel_training(training, {p.name for p in training.iterdir() if p.is_dir()}, set()):
            return [SequenceRef(training, {"sequence": root.name})]
    refs = []
    for folder in folders:
        try:
            refs.extend(LAYOUTS[fmt].expand(folder))
        except DataError as error:
            if skipped is None:
                raise
            skipped.append(SkippedSequence(folder, {}, str(error)))
    return refs


def discover_sequences(fmt: str, root: str | Path, *, skip_bad: bool = False) -> Discovery:
    """Open every sequence of format ``fmt`` found under ``root`` (see the module docstring for what marks
    a sequence). A reader raising :class:`DataError` re-raises, or with ``skip_bad`` the sequence goes to
    ``Discovery.skipped`` (and is logged). Raises :class:`DataError` naming ``root`` if none is found or
    every one found is bad, ``ValueError`` for an unknown format."""
    layout, root = _check_format(fmt), Path(root)
    result = Discovery(fmt, root)
    refs = _find_refs(fmt, root, result.skipped if skip_bad else None)
    for ref in refs:
        try:
            result.sequences.append(open_sequence(fmt, ref.path, **ref.options))
        except DataError as error:
            if not skip_bad:
                raise
            result.skipped.append(SkippedSequence(ref.path, ref.options, str(error)))
    for skip in result.skipped:
        log.warning("skipping %s sequence %s %s: %s", fmt, skip.path, skip.options or "", skip.message)
    if not result.sequences:
        if result.skipped:
            first = result.skipped[0].message
            raise DataError(root, f"all {len(result.skipped)} {fmt} sequences found are bad (first: {first})")
        raise DataError(root, f"no {fmt} sequences found (looked for {layout.looked_for})")
    return result


def parse_dataset_spec(text: str) -> tuple[str, Path]:
    """``"FORMAT:ROOT"`` (split on the first colon) -> (format, root)."""
    fmt, sep, root = text.partition(":")
    fmt, root = fmt.strip().lower(), root.strip()
    if not sep or not root or fmt not in FORMATS:
        problem = f"unknown format {fmt!r}" if sep and root else "missing format or root"
        expected = f"expected FORMAT:ROOT with FORMAT one of {sorted(FORMATS)}"
        raise ValueError(f"bad dataset spec {text!r} ({problem}): {expected}")
    return fmt, Path(root)


def load_captions(path: str | Path) -> dict[str, str]:
    """A captions file: one JSON object mapping sequence folders (relative to their dataset root, or
    absolute) to captions, e.g. ``{"train/ani1": "a dancing character in a city street", ...}``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "captions file not found")
    try:
        captions = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(path, f"not valid JSON ({error})") from error
    if not isinstance(captions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in captions.items()
    ):
        raise DataError(path, "expected one JSON object of sequence folder -> caption strings")
    return {_caption_key(k): v for k, v in captions.items()}


def _caption_key(text: str | Path) -> str:
    return Path(text).as_posix().rstrip("/")


def _sequence_caption(root: Path, sequence: FrameSequence, captions: Mapping[str, str]) -> str | None:
    folder = Path(sequence.path)
    candidates = [_caption_key(folder.resolve())]
    if folder.resolve().is_relative_to(root.resolve()):
        candidates.insert(0, _caption_key(folder.resolve().relative_to(root.resolve())))
    return next((captions[c] for c in candidates if c in captions), None)


class CorpusSource(WindowMixture):
    """A :class:`WindowMixture` over discovered datasets, keeping their ``specs`` and ``discoveries``.

    ``captions`` (see :func:`load_captions`) replace the readers' captions (mostly empty: only the folder
    format stores one) for the sequences they name; ``captioned`` counts them per dataset."""

    def __init__(
        self,
        discoveries: Sequence[Discovery],
        specs: Sequence[str],
        num_frames: int,
        weights: Sequence[float] | None = None,
        strides: tuple[int, ...] | int = 1,
        seed: int = 0,
        captions: Mapping[str, str] | None = None,
    ) -> None:
        groups = [d.sequences for d in discoveries]
        super().__init__(groups, num_frames, weights, strides, seed, names=list(specs))
        self.discoveries, self.specs = list(discoveries), list(specs)
        captions = captions or {}
        self.sequence_captions = [
            [_sequence_caption(d.root, seq, captions) if captions else None for seq in d.sequences]
            for d in self.discoveries
        ]
        self.captioned = [sum(c is not None for c in group) for group in self.sequence_captions]

    def __call__(self, index: int) -> Clip:
        if index < 0:
            raise IndexError(f"index must be non-negative, got {index}")
        group, seq, frames = self.locate(index)
        clip = self.groups[group][seq].read(frames).lifted()
        caption = self.sequence_captions[group][seq]
        if caption is not None:
            clip.caption = caption
        return clip


def build_training_dataset(
    specs: Sequence[str],
    weights: Sequence[float] | None = None,
    *,
    num_frames: int,
    height: int,
    width: int,
    task_ratios: TaskRatios | None = None,
    seed: int = 0,
    strides: tuple[int, ...] | int = (1,),
    length: int | None = None,
    skip_bad: bool = True,
    random_crop: bool = False,
    sparsity_range: tuple[float, float] = (0.05, 0.5),
    captions: Mapping[str, str] | None = None,
) -> ClipDataset:
    """One model-ready :class:`ClipDataset` mixing the datasets ``specs`` (``"FORMAT:ROOT"``) with
    ``weights`` (default equal, per dataset rather than per clip).

    Each dataset's sequences are cut into windows of ``(num_frames - 1) * max(strides) + 1`` frames; item i
    picks a dataset, a window, a stride and a start from ``(seed, epoch, i)`` (see :class:`WindowMixture`)
    and reads only its ``num_frames`` frames. ``length`` defaults to the total number of windows. With
    ``skip_bad``, bad sequences are skipped at discovery (``dataset.source.discoveries[k].skipped``) and bad
    clips at reading (``dataset.bad_clips``). A dataset with no window raises ``ValueError`` naming its spec.
    ``captions`` (:func:`load_captions`) give sequences their captions.
    """
    if not specs:
        raise ValueError("need at least one dataset spec FORMAT:ROOT")
    if weights is not None and len(weights) != len(specs):
        raise ValueError(
            f"need one weight per dataset spec, got {len(specs)} specs and {len(weights)} weights"
        )
    discoveries = [discover_sequences(*parse_dataset_spec(spec), skip_bad=skip_bad) for spec in specs]
    source = CorpusSource(discoveries, specs, num_frames, weights, strides, seed, captions)
    return ClipDataset(
        source,
        num_frames=num_frames,
        height=height,
        width=width,
        task_ratios=task_ratios,
        seed=seed,
        random_crop=random_crop,
        sparsity_range=sparsity_range,
        length=source.num_windows if length is None else length,
        skip_bad=skip_bad,
    )
