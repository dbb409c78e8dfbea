"""Helpers shared by the tests (not fixtures): comparing values, reading header bytes."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Optional

import numpy as np

BITS_TYPES = {"f16": np.uint16, "bf16": np.uint16, "f8_e4m3fn": np.uint8, "f8_e5m2": np.uint8}


#: Per float type: the little-endian element type, its component type, the unsigned type of
#: a component's bit pattern, the quiet NaN "nan" stands for, and the hex digits of "nan:0x…".
FLOAT_BITS = {
    "f32": ("<f4", "<f4", "<u4", 0x7FC00000, 8),
    "f64": ("<f8", "<f8", "<u8", 0x7FF8000000000000, 16),
    "c64": ("<c8", "<f4", "<u4", 0x7FC00000, 8),
    "c128": ("<c16", "<f8", "<u8", 0x7FF8000000000000, 16),
}


def logical_values(array: np.ndarray, dtype_name: str) -> list[Any]:
    """The elements in C (logical) order (spec §10.4): bool and integers as Python values,
    16- and 8-bit floats as their bit patterns, and binary32/binary64 components also as bit
    patterns (``[real, imaginary]`` pairs for complex), so that comparisons are exact."""
    data = np.array(array)  # in-memory copy
    native = data.astype(data.dtype.newbyteorder("="))  # values preserved, byte order native
    flat = native.reshape(-1, order="C")
    if dtype_name in BITS_TYPES:
        return [int(v) for v in flat.view(BITS_TYPES[dtype_name])]
    if dtype_name == "bool":
        return [bool(v) for v in flat]
    if dtype_name in FLOAT_BITS:
        element_type, _, bits_type, _, _ = FLOAT_BITS[dtype_name]
        bits = [int(v) for v in np.ascontiguousarray(flat, dtype=element_type).view(bits_type)]
        if dtype_name in ("c64", "c128"):
            return [[bits[i], bits[i + 1]] for i in range(0, len(bits), 2)]
        return bits
    return [int(v) for v in flat]


def expected_float_bits(expected: Any, dtype_name: str) -> Optional[int]:
    """The bit pattern a manifest float stands for (spec §10.4), or ``None`` if it is not one.

    A number is rounded to the component's format (binary32 for ``f32`` and ``c64``);
    ``"nan"`` is that format's quiet NaN and ``"nan:0x…"`` the NaN of those bits.
    """
    _, component_type, bits_type, quiet_nan, digits = FLOAT_BITS[dtype_name]
    if isinstance(expected, str):
        if expected == "nan":
            return quiet_nan
        if expected.startswith("nan:0x") and len(expected) == 6 + digits:
            return int(expected[6:], 16)
        if expected not in ("inf", "-inf"):
            return None
        expected = float(expected)
    elif isinstance(expected, bool) or not isinstance(expected, (int, float)):
        return None
    return int(np.array([expected], dtype=np.float64).astype(component_type).view(bits_type)[0])


def values_match(found: list[Any], expected: list[Any], dtype_name: str) -> bool:
    """Whether ``found`` (from :func:`logical_values`) equals the manifest's ``values``."""
    if len(found) != len(expected):
        return False
    for f, e in zip(found, expected):
        if dtype_name in ("f32", "f64"):
            ok = f == expected_float_bits(e, dtype_name)
        elif dtype_name in ("c64", "c128"):
            ok = isinstance(e, list) and len(e) == 2 and [expected_float_bits(x, dtype_name) for x in e] == f
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
