"""Files that later runs and tools read back are written whole or not at all, and an output folder says
whether it is complete.

`atomic_path` gives a temporary path beside the target (same folder, so the final rename is atomic on POSIX
file systems; same suffix, so writers that pick a format from the suffix still work); the data are flushed to
disk before the rename and the temporary file is removed if writing fails. A crash leaves either the old
file or the new one, never half of one.

A folder of outputs (`one4d-recover`, `one4d-generate`) carries `manifest.json`: written first with
`"complete": false`, rewritten last with `"complete": true` and the size of every file. A reader
(`check_complete`) refuses a folder whose manifest is incomplete (an interrupted run, or a rerun that failed
half-way) or whose files do not match it; a folder without a manifest (another tool's output) is read as is.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import GeometryError

MANIFEST_FILE = "manifest.json"

__all__ = [
    "MANIFEST_FILE",
    "atomic_path",
    "atomic_savez",
    "atomic_write_bytes",
    "atomic_write_text",
    "begin_outputs",
    "check_complete",
    "finish_outputs",
    "load_arrays",
]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write `path` through; it becomes `path` when the block ends cleanly."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_savez(path: str | Path, **arrays: np.ndarray) -> None:
    """`np.savez_compressed`, atomically."""
    with atomic_path(path) as temporary:
        np.savez_compressed(temporary, **arrays)


def begin_outputs(folder: str | Path, writer: str) -> None:
    """Mark `folder` (created if missing) as being written: readers refuse it until `finish_outputs`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / MANIFEST_FILE, json.dumps({"writer": writer, "complete": False}, indent=2))


def finish_outputs(folder: str | Path, writer: str, files: Iterable[str | Path]) -> None:
    """Mark `folder` complete, recording the size of each of `files` (paths relative to it, or inside it)."""
    folder = Path(folder)
    sizes = {}
    for file in files:
        relative = Path(file).relative_to(folder) if Path(file).is_absolute() else Path(file)
        sizes[relative.as_posix()] = (folder / relative).stat().st_size
    manifest = {"writer": writer, "complete": True, "files": sizes}
    atomic_write_text(folder / MANIFEST_FILE, json.dumps(manifest, indent=2))


def check_complete(folder: str | Path) -> bool:
    """True when `folder` has a complete manifest that its files match, False when it has no manifest;
    raises `GeometryError` naming the folder when the manifest says the writing did not finish or a listed
    file is missing or of another size."""
    folder = Path(folder)
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return False
    try:
        manifest = json.loads(path.read_text())
        complete, files = bool(manifest["complete"]), dict(manifest.get("files", {}))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise GeometryError(f"{path}: not a one4d manifest ({error})") from None
    writer = manifest.get("writer", "a one4d tool")
    if not complete:
        raise GeometryError(f"{folder}: incomplete output ({writer} did not finish writing it); run it again")
    for name, size in files.items():
        file = folder / name
        if not file.is_file():
            raise GeometryError(f"{folder}: {name} is listed in {MANIFEST_FILE} but missing")
        if file.stat().st_size != size:
            raise GeometryError(
                f"{file}: {file.stat().st_size} bytes, {MANIFEST_FILE} recorded {size} (changed or truncated)"
            )
    return True


def load_arrays(path: str | Path, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` archive (those in `names`, or all) or of an `.npy` file (as "array"), never
    unpickling; a missing, truncated, pickled or foreign file raises `GeometryError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise GeometryError(f"{path}: no such file")
    if path.suffix not in (".npy", ".npz"):
        raise GeometryError(f"{path}: expected a .npy or .npz file")
    with open(path, "rb") as handle:
        head = handle.read(6)
    magic = {".npz": b"PK", ".npy": b"\x93NUMPY"}[path.suffix]
    if not head.startswith(magic):
        what = "a zip archive of arrays" if path.suffix == ".npz" else "a numpy array file"
        raise GeometryError(
            f"{path}: not a readable {path.suffix} file (not {what}; empty or another format)"
        )
    try:
        if path.suffix == ".npy":
            return {"array": np.load(path, allow_pickle=False)}
        with np.load(path, allow_pickle=False) as archive:
            present = list(archive.keys())
            wanted = present if names is None else list(names)
            missing = [name for name in wanted if name not in present]
            if missing:
                raise GeometryError(f"{path}: no array {missing[0]!r} (it holds {present})")
            return {name: archive[name] for name in wanted}
    except GeometryError:
        raise
    except ValueError as error:
        if "pickle" in str(error):
            raise GeometryError(f"{path}: holds Python objects, expected numeric arrays") from None
        raise GeometryError(f"{path}: not a readable {path.suffix} file ({error})") from None
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise GeometryError(
            f"{path}: not a readable {path.suffix} file ({error or 'empty or truncated'})"
        ) from None
