"""Helpers shared by the tests (not fixtures): comparing values, reading header bytes."""

from __future__ import annotations

import math
import zlib
from pathlib import Path
from typing import Any

import numpy as np

BITS_TYPES = {"f16": np.uint16, "bf16": np.uint16, "f8_e4m3fn": np.uint8, "f8_e5m2": np.uint8}


def logical_values(array: np.ndarray, dtype_name: str) -> list[Any]:
    """The elements in C (logical) order, in the manifest's JSON conventions (spec §10.4)."""
    data = np.array(array)  # in-memory copy
    native = data.astype(data.dtype.newbyteorder("="))  # values preserved, byte order native
    flat = native.reshape(-1, order="C")
    if dtype_name in BITS_TYPES:
        return [int(v) for v in flat.view(BITS_TYPES[dtype_name])]
    if dtype_name == "bool":
        return [bool(v) for v in flat]
    if dtype_name in ("c64", "c128"):
        return [[float(v.real), float(v.imag)] for v in flat]
    if dtype_name in ("f32", "f64"):
        return [float(v) for v in flat]
    return [int(v) for v in flat]


def _same_float(found: float, expected: Any) -> bool:
    """Exact float comparison with the manifest's "nan"/"inf"/"-inf" strings and signed zeros."""
    if isinstance(expected, str):
        if expected == "nan":
            return math.isnan(found)
        return found == float(expected)
    if isinstance(expected, bool) or not isinstance(expected, (int, float)):
        return False
    return found == expected and math.copysign(1.0, found) == math.copysign(1.0, float(expected))


def values_match(found: list[Any], expected: list[Any], dtype_name: str) -> bool:
    """Whether ``found`` (from :func:`logical_values`) equals the manifest's ``values``."""
    if len(found) != len(expected):
        return False
    for f, e in zip(found, expected):
        if dtype_name in ("f32", "f64"):
            ok = _same_float(f, e)
        elif dtype_name in ("c64", "c128"):
            ok = isinstance(e, list) and len(e) == 2 and _same_float(f[0], e[0]) and _same_float(f[1], e[1])
        elif dtype_name == "bool":
            ok = isinstance(e, bool) and f is e
        else:
            ok = not isinstance(e, bool) and f == e
        if not ok:
            return False
    return True


def header_bytes(path: Path) -> bytes:
    """The first 640 bytes of a file."""
    with open(path, "rb") as f:
        return f.read(640)


def u32(buf: bytes, offset: int) -> int:
    """Little-endian u32 at ``offset``."""
    return int.from_bytes(buf[offset : offset + 4], "little")


def u64(buf: bytes, offset: int) -> int:
    """Little-endian u64 at ``offset``."""
    return int.from_bytes(buf[offset : offset + 8], "little")


def header_crc_ok(buf: bytes) -> bool:
    """Whether bytes [12, 16) hold the CRC-32 of the header with them zeroed."""
    return u32(buf, 12) == zlib.crc32(buf[:12] + bytes(4) + buf[16:640])


def payload_crc_on_disk(path: Path) -> int:
    """CRC-32 of [data_offset, end of file) read straight from the file."""
    data = Path(path).read_bytes()
    return zlib.crc32(data[u64(data, 56):])


def rewrite_header(buf: bytearray) -> bytearray:
    """Recompute header_crc of a 640-byte header in place and return it."""
    buf[12:16] = bytes(4)
    buf[12:16] = zlib.crc32(bytes(buf[:640])).to_bytes(4, "little")
    return buf
