"""The built-in EXR reader/writer: round trips, files written by the OpenEXR library, errors."""

import base64

import numpy as np
import pytest
from one4d_data.errors import DataError
from one4d_data.exr import read_exr, read_exr_bytes, write_exr

# 4 x 3 EXRs written by the OpenEXR library (3.x) with channels Depth (float) and Z (half = 2 * Depth).
RLE_FILE = (
    "di8xAQIAAABjaGFubmVscwBjaGxpc3QAKQAAAERlcHRoAAIAAAAAAAAAAQAAAAEAAABaAAEAAAAAAAAAAQAAAAEAAAAAY29tcHJl"
    "c3Npb24AY29tcHJlc3Npb24AAQAAAAFkYXRhV2luZG93AGJveDJpABAAAAAAAAAAAAAAAAMAAAACAAAAZGlzcGxheVdpbmRvdwBi"
    "b3gyaQAQAAAAAAAAAAAAAAADAAAAAgAAAGxpbmVPcmRlcgBsaW5lT3JkZXIAAQAAAABwaXhlbEFzcGVjdFJhdGlvAGZsb2F0AAQA"
    "AAAAAIA/c2NyZWVuV2luZG93Q2VudGVyAHYyZgAIAAAAAAAAAAAAAABzY3JlZW5XaW5kb3dXaWR0aABmbG9hdAAEAAAAAACAP3R5"
    "cGUAc3RyaW5nAA0AAABzY2FubGluZWltYWdlAGABAAAAAAAAgAEAAAAAAACgAQAAAAAAAAAAAAAYAAAAAADAPwAAIEAAACBAAAAg"
    "QABCAEUARQBFAQAAABgAAAAAAEBAAABAQAAAQEAAAIC/AEYARgBGAMACAAAAFwAAAAIA+oCAwEAAAAOA9b5Cv0G/Qb95hIKC"
)
ZIPS_FILE = (
    "di8xAQIAAABjaGFubmVscwBjaGxpc3QAKQAAAERlcHRoAAIAAAAAAAAAAQAAAAEAAABaAAEAAAAAAAAAAQAAAAEAAAAAY29tcHJl"
    "c3Npb24AY29tcHJlc3Npb24AAQAAAAJkYXRhV2luZG93AGJveDJpABAAAAAAAAAAAAAAAAMAAAACAAAAZGlzcGxheVdpbmRvdwBi"
    "b3gyaQAQAAAAAAAAAAAAAAADAAAAAgAAAGxpbmVPcmRlcgBsaW5lT3JkZXIAAQAAAABwaXhlbEFzcGVjdFJhdGlvAGZsb2F0AAQA"
    "AAAAAIA/c2NyZWVuV2luZG93Q2VudGVyAHYyZgAIAAAAAAAAAAAAAABzY3JlZW5XaW5kb3dXaWR0aABmbG9hdAAEAAAAAACAP3R5"
    "cGUAc3RyaW5nAA0AAABzY2FubGluZWltYWdlAGABAAAAAAAAgAEAAAAAAACgAQAAAAAAAAAAAAAYAAAAAADAPwAAIEAAACBAAAAg"
    "QABCAEUARQBFAQAAABgAAAAAAEBAAABAQAAAQEAAAIC/AEYARgBGAMACAAAAGAAAAAAAgD4AAAA/AABAPwAAgD8AOAA8AD4AQA=="
)
PIZ_FILE = (
    "di8xAQIAAABjaGFubmVscwBjaGxpc3QAKQAAAERlcHRoAAIAAAAAAAAAAQAAAAEAAABaAAEAAAAAAAAAAQAAAAEAAAAAY29tcHJl"
    "c3Npb24AY29tcHJlc3Npb24AAQAAAARkYXRhV2luZG93AGJveDJpABAAAAAAAAAAAAAAAAMAAAACAAAAZGlzcGxheVdpbmRvdwBi"
    "b3gyaQAQAAAAAAAAAAAAAAADAAAAAgAAAGxpbmVPcmRlcgBsaW5lT3JkZXIAAQAAAABwaXhlbEFzcGVjdFJhdGlvAGZsb2F0AAQA"
    "AAAAAIA/c2NyZWVuV2luZG93Q2VudGVyAHYyZgAIAAAAAAAAAAAAAABzY3JlZW5XaW5kb3dXaWR0aABmbG9hdAAEAAAAAACAP3R5"
    "cGUAc3RyaW5nAA0AAABzY2FubGluZWltYWdlAFABAAAAAAAAAAAAAEgAAAAAAMA/AAAgQAAAIEAAACBAAEIARQBFAEUAAEBAAABA"
    "QAAAQEAAAIC/AEYARgBGAMAAAIA+AAAAPwAAQD8AAIA/ADgAPAA+AEA="
)
EXPECTED = np.array([[1.5, 2.5, 2.5, 2.5], [3.0, 3.0, 3.0, -1.0], [0.25, 0.5, 0.75, 1.0]], np.float32)


@pytest.mark.parametrize("encoded", [RLE_FILE, ZIPS_FILE], ids=["rle", "zips"])
def test_reads_files_written_by_openexr(encoded):
    channels = read_exr_bytes(base64.b64decode(encoded))
    np.testing.assert_array_equal(channels["Depth"], EXPECTED)
    np.testing.assert_array_equal(channels["Z"], 2 * EXPECTED)


def test_unsupported_compression_names_file_and_extra(tmp_path):
    path = tmp_path / "piz.exr"
    path.write_bytes(base64.b64decode(PIZ_FILE))
    try:
        import OpenEXR  # noqa: F401
    except ImportError:
        with pytest.raises(DataError, match=r"piz\.exr: EXR compression PIZ needs the OpenEXR package"):
            read_exr(path)
    else:
        np.testing.assert_array_equal(read_exr(path)["Depth"], EXPECTED)


@pytest.mark.parametrize("compression", ["NONE", "ZIP"])
def test_write_read_round_trip(tmp_path, compression):
    rng = np.random.default_rng(0)
    depth = (rng.random((40, 21)) * 50).astype(np.float32)
    depth[:25] = 7.0  # compressible rows and incompressible rows
    inverse = (1 / depth).astype(np.float16)
    write_exr(tmp_path / "x.exr", {"Depth": depth, "Z": inverse}, compression)
    back = read_exr(tmp_path / "x.exr")
    np.testing.assert_array_equal(back["Depth"], depth)
    np.testing.assert_array_equal(back["Z"], inverse.astype(np.float32))


def test_round_trip_through_openexr_when_installed(tmp_path):
    OpenEXR = pytest.importorskip("OpenEXR")
    depth = np.arange(60, dtype=np.float32).reshape(6, 10)
    write_exr(tmp_path / "ours.exr", {"Depth": depth}, "ZIP")
    with OpenEXR.File(str(tmp_path / "ours.exr")) as handle:
        np.testing.assert_array_equal(handle.parts[0].channels["Depth"].pixels, depth)


def test_bad_files_raise_with_name(tmp_path):
    (tmp_path / "a.exr").write_bytes(b"not an exr file")
    with pytest.raises(DataError, match=r"a\.exr: not an OpenEXR file"):
        read_exr(tmp_path / "a.exr")
    write_exr(tmp_path / "b.exr", {"Depth": np.ones((16, 8), np.float32)}, "NONE")
    data = (tmp_path / "b.exr").read_bytes()
    (tmp_path / "b.exr").write_bytes(data[:-40])
    with pytest.raises(DataError, match=r"b\.exr: truncated or corrupt EXR data"):
        read_exr(tmp_path / "b.exr")
    with pytest.raises(DataError, match="file not found"):
        read_exr(tmp_path / "c.exr")
