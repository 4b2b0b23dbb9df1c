"""A minimal OpenEXR reader and writer for single-part scanline files (numpy + zlib only).

Handles the compressions depth maps usually use: NONE, RLE, ZIPS and ZIP, with HALF, FLOAT and UINT
channels. Other compressions (PIZ, PXR24, B44, DWA) fall back to the ``OpenEXR`` package when it is
installed (extra ``one4d-data[exr]``).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import DataError

_MAGIC = 20000630
_COMPRESSIONS = {
    0: "NONE",
    1: "RLE",
    2: "ZIPS",
    3: "ZIP",
    4: "PIZ",
    5: "PXR24",
    6: "B44",
    7: "B44A",
    8: "DWAA",
}
_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16}
_PIXEL_TYPES = {0: np.dtype("<u4"), 1: np.dtype("<f2"), 2: np.dtype("<f4")}


def _read_header(data: bytes, path: Path) -> tuple[dict, int]:
    if len(data) < 8 or struct.unpack_from("<i", data, 0)[0] != _MAGIC:
        raise DataError(path, "not an OpenEXR file (bad magic number)")
    version = struct.unpack_from("<i", data, 4)[0]
    if version & 0x200 or version & 0x1000:
        raise DataError(path, "tiled or multi-part EXR files are not supported")
    pos, header = 8, {}
    while True:
        end = data.index(b"\0", pos)
        name = data[pos:end].decode()
        pos = end + 1
        if not name:
            return header, pos
        end = data.index(b"\0", pos)
        kind = data[pos:end].decode()
        size = struct.unpack_from("<i", data, end + 1)[0]
        value = data[end + 5 : end + 5 + size]
        pos = end + 5 + size
        if kind == "chlist":
            channels, p = [], 0
            while value[p] != 0:
                e = value.index(b"\0", p)
                ch_name = value[p:e].decode()
                pixel_type, _, _, xs, ys = struct.unpack_from("<iB3sii", value, e + 1)
                if (xs, ys) != (1, 1):
                    raise DataError(path, f"subsampled channel {ch_name!r} is not supported")
                channels.append((ch_name, pixel_type))
                p = e + 1 + 16
            header["channels"] = channels
        elif kind == "compression":
            header["compression"] = value[0]
        elif kind == "box2i" and name == "dataWindow":
            header["dataWindow"] = struct.unpack("<iiii", value)


def _undo_zip(raw: bytes, size: int) -> bytes:
    data = np.frombuffer(zlib.decompress(raw), dtype=np.uint8)
    if data.size != size:
        raise ValueError(f"decompressed {data.size} bytes, expected {size}")
    return _unpredict_interleave(data, size)


def _unpredict_interleave(data: np.ndarray, size: int) -> bytes:
    """Undo OpenEXR's byte predictor (running sum of deltas offset by 128) and its even/odd split."""
    data = (np.cumsum(data.astype(np.int64) - 128) + 128).astype(np.uint8)
    half = (size + 1) // 2
    out = np.empty(size, dtype=np.uint8)
    out[0::2] = data[:half]
    out[1::2] = data[half:]
    return out.tobytes()


def _undo_rle(raw: bytes, size: int) -> bytes:
    out = bytearray()
    pos = 0
    while pos < len(raw):
        count = struct.unpack_from("b", raw, pos)[0]
        pos += 1
        if count < 0:
            out += raw[pos : pos - count]
            pos -= count
        else:
            out += raw[pos : pos + 1] * (count + 1)
            pos += 1
    data = np.frombuffer(bytes(out), dtype=np.uint8)
    if data.size != size:
        raise ValueError(f"decompressed {data.size} bytes, expected {size}")
    return _unpredict_interleave(data, size)


def read_exr(path: str | Path) -> dict[str, np.ndarray]:
    """All channels of a scanline EXR as float32 (H, W) arrays (UINT channels as uint32)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    return read_exr_bytes(path.read_bytes(), path)


def read_exr_bytes(data: bytes, path: str | Path = "<bytes>") -> dict[str, np.ndarray]:
    path = Path(path)
    try:
        header, pos = _read_header(data, path)
    except (ValueError, struct.error, IndexError, UnicodeDecodeError) as error:
        raise DataError(path, f"corrupt EXR header ({error})") from error
    compression = header.get("compression", 0)
    if compression not in _LINES_PER_CHUNK:
        return _read_with_openexr(path, _COMPRESSIONS.get(compression, str(compression)))
    if "channels" not in header or "dataWindow" not in header:
        raise DataError(path, "EXR header lacks channels or dataWindow")
    x0, y0, x1, y1 = header["dataWindow"]
    width, height = x1 - x0 + 1, y1 - y0 + 1
    channels = sorted(header["channels"])
    dtypes = [_PIXEL_TYPES[t] for _, t in channels]
    line_bytes = sum(width * dt.itemsize for dt in dtypes)
    lines = _LINES_PER_CHUNK[compression]
    num_chunks = -(-height // lines)
    out = {name: np.empty((height, width), dtype=dt) for (name, _), dt in zip(channels, dtypes, strict=False)}
    try:
        offsets = struct.unpack_from(f"<{num_chunks}Q", data, pos)
        for offset in offsets:
            y, size = struct.unpack_from("<ii", data, offset)
            raw = data[offset + 8 : offset + 8 + size]
            if len(raw) != size:
                raise ValueError("chunk runs past the end of the file")
            rows = min(lines, y1 - y + 1)
            expected = rows * line_bytes
            if size < expected and compression in (2, 3):
                raw = _undo_zip(raw, expected)
            elif size < expected and compression == 1:
                raw = _undo_rle(raw, expected)
            elif size != expected:
                raise ValueError(f"chunk at line {y} has {size} bytes, expected {expected}")
            p = 0
            for r in range(rows):
                for (name, _), dt in zip(channels, dtypes, strict=False):
                    n = width * dt.itemsize
                    out[name][y - y0 + r] = np.frombuffer(raw, dtype=dt, count=width, offset=p)
                    p += n
    except (ValueError, struct.error, zlib.error) as error:
        raise DataError(path, f"truncated or corrupt EXR data ({error})") from error
    return {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in out.items()}


def _read_with_openexr(path: Path, compression: str) -> dict[str, np.ndarray]:
    try:
        import OpenEXR  # noqa: PLC0415 (optional dependency)
    except ImportError as error:
        raise DataError(
            path, f"EXR compression {compression} needs the OpenEXR package (pip install one4d-data[exr])"
        ) from error
    with OpenEXR.File(str(path)) as exr_file:
        channels = exr_file.parts[0].channels
        return {name: np.asarray(ch.pixels, dtype=np.float32) for name, ch in channels.items()}


def write_exr(path: str | Path, channels: dict[str, np.ndarray], compression: str = "ZIP") -> None:
    """Write float32 / float16 (H, W) channels as a scanline EXR (NONE or ZIP compression)."""
    names = sorted(channels)
    arrays = [np.asarray(channels[n]) for n in names]
    height, width = arrays[0].shape
    types = []
    for name, a in zip(names, arrays, strict=False):
        if a.shape != (height, width):
            raise ValueError(f"channel {name} has shape {a.shape}, expected {(height, width)}")
        types.append(1 if a.dtype == np.float16 else 2)
    code = {"NONE": 0, "ZIP": 3}[compression]

    def attr(name: str, kind: str, value: bytes) -> bytes:
        return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value

    chlist = b"".join(
        n.encode() + b"\0" + struct.pack("<iB3sii", t, 0, b"\0\0\0", 1, 1)
        for n, t in zip(names, types, strict=True)
    )
    header = struct.pack("<ii", _MAGIC, 2)
    header += attr("channels", "chlist", chlist + b"\0")
    header += attr("compression", "compression", bytes([code]))
    header += attr("dataWindow", "box2i", struct.pack("<iiii", 0, 0, width - 1, height - 1))
    header += attr("displayWindow", "box2i", struct.pack("<iiii", 0, 0, width - 1, height - 1))
    header += attr("lineOrder", "lineOrder", b"\0")
    header += attr("pixelAspectRatio", "float", struct.pack("<f", 1.0))
    header += attr("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0))
    header += attr("screenWindowWidth", "float", struct.pack("<f", 1.0)) + b"\0"
    lines = _LINES_PER_CHUNK[code]
    chunks = []
    for y in range(0, height, lines):
        raw = b"".join(
            a[r].astype("<f2" if t == 1 else "<f4").tobytes()
            for r in range(y, min(y + lines, height))
            for a, t in zip(arrays, types, strict=False)
        )
        if code == 3:
            buf = np.frombuffer(raw, dtype=np.uint8)
            shuffled = np.concatenate([buf[0::2], buf[1::2]]).astype(np.int64)
            diff = np.empty_like(shuffled)
            diff[0] = shuffled[0]
            diff[1:] = (shuffled[1:] - shuffled[:-1] + 128) % 256
            packed = zlib.compress(diff.astype(np.uint8).tobytes())
            raw = packed if len(packed) < len(raw) else raw  # as OpenEXR: store raw when zip does not help
        chunks.append(struct.pack("<ii", y, len(raw)) + raw)
    offset = len(header) + 8 * len(chunks)
    table = []
    for chunk in chunks:
        table.append(offset)
        offset += len(chunk)
    Path(path).write_bytes(header + struct.pack(f"<{len(table)}Q", *table) + b"".join(chunks))
