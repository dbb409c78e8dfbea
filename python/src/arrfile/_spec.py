"""Constants and the dtype table of the arrfile v1 specification (spec §3, §4).

This module holds no I/O: only the numbers of the spec and the mapping between
the spec's element types and numpy dtypes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ._errors import DtypeUnavailableError

#: The 8-byte magic at offset 0 (§3).
MAGIC = b"\x89ARR\r\n\x1a\n"
#: Length of the fixed header (§3).
HEADER_LEN = 640
#: Major version implemented here (§1).
VERSION_MAJOR = 1
#: Minor version written by this implementation (§1).
VERSION_MINOR = 0
#: Largest ndim (§6, R7).
MAX_NDIM = 64
#: Largest metadata block in bytes (§7.1, R15).
MAX_METADATA_LEN = 16 * 1024 * 1024
#: The padding between metadata and payload must be strictly less than this (§7.2, R18).
MAX_PADDING = 1024 * 1024
#: data_offset must be a multiple of this (§7.2, R16).
DATA_ALIGNMENT = 4096
#: Largest payload size in bytes, counting only non-zero dimensions (§6, R13).
SIZE_BOUND = 1 << 62
#: Required feature bit 0 (format 1.1, spec §3.2, §11): an append is running or was
#: interrupted. The header then describes the last committed array, ``append_base_len``
#: (offset 72) equals ``data_len``, and uncommitted rows may follow the payload.
APPEND_IN_PROGRESS = 1
#: Required feature bits known to this reader: bit 0 since 1.1 (§3.2, R6).
KNOWN_REQUIRED_FEATURES = APPEND_IN_PROGRESS
#: Deepest JSON nesting of the metadata (§7.1); the top-level object counts as 1. Writers
#: nest at most this deep; readers refuse deeper metadata (R23).
MAX_JSON_DEPTH = 64

# Header field offsets (§3).
OFF_VERSION_MAJOR = 8
OFF_VERSION_MINOR = 10
OFF_HEADER_CRC = 12
OFF_REQUIRED_FEATURES = 16
OFF_OPTIONAL_FEATURES = 24
OFF_DTYPE = 32
OFF_BYTE_ORDER = 34
OFF_ORDER = 35
OFF_NDIM = 36
OFF_CHECKSUM_STATE = 37
OFF_RESERVED_A = 38  # [38, 40)
OFF_PAYLOAD_CRC = 40
OFF_METADATA_CRC = 44
OFF_METADATA_LEN = 48
OFF_DATA_OFFSET = 56
OFF_DATA_LEN = 64
OFF_RESERVED_B = 72  # [72, 128) while bit 0 is clear; [80, 128) while it is set
OFF_APPEND_BASE_LEN = 72  # u64, while required bit 0 is set (1.1)
OFF_RESERVED_C = 80  # [80, 128), reserved always
OFF_SHAPE = 128

# checksum_state values (§8).
STATE_ABSENT = 0
STATE_VALID = 1
STATE_BEING_MODIFIED = 2
STATE_NAMES = {STATE_ABSENT: "absent", STATE_VALID: "valid", STATE_BEING_MODIFIED: "being_modified"}

BYTE_ORDER_NAMES = {0: "little", 1: "big"}
ORDER_NAMES = {0: "C", 1: "F"}

#: The host's byte order as the spec names it.
HOST_BYTE_ORDER = sys.byteorder  # "little" or "big"


@dataclass(frozen=True)
class DtypeInfo:
    """One row of the dtype table of spec §4.

    Attributes:
        code: the u16 code stored at header offset 32.
        name: the canonical spelling (``"f32"``).
        itemsize: bytes per element.
        numpy_code: numpy type code without byte order (``"f4"``), or ``None``
            for types numpy does not have natively.
        ml_dtypes_name: attribute of the ``ml_dtypes`` module that implements
            the type, for the types numpy lacks.
    """

    code: int
    name: str
    itemsize: int
    numpy_code: Optional[str]
    ml_dtypes_name: Optional[str] = None

    @property
    def multibyte(self) -> bool:
        """Whether byte order matters for this type (itemsize > 1 per component)."""
        return self.itemsize > 1


DTYPES: tuple[DtypeInfo, ...] = (
    DtypeInfo(1, "bool", 1, "b1"),
    DtypeInfo(2, "i8", 1, "i1"),
    DtypeInfo(3, "i16", 2, "i2"),
    DtypeInfo(4, "i32", 4, "i4"),
    DtypeInfo(5, "i64", 8, "i8"),
    DtypeInfo(6, "u8", 1, "u1"),
    DtypeInfo(7, "u16", 2, "u2"),
    DtypeInfo(8, "u32", 4, "u4"),
    DtypeInfo(9, "u64", 8, "u8"),
    DtypeInfo(10, "f16", 2, "f2"),
    DtypeInfo(11, "bf16", 2, None, "bfloat16"),
    DtypeInfo(12, "f32", 4, "f4"),
    DtypeInfo(13, "f64", 8, "f8"),
    DtypeInfo(14, "c64", 8, "c8"),
    DtypeInfo(15, "c128", 16, "c16"),
    DtypeInfo(16, "f8_e4m3fn", 1, None, "float8_e4m3fn"),
    DtypeInfo(17, "f8_e5m2", 1, None, "float8_e5m2"),
)

DTYPE_BY_CODE: dict[int, DtypeInfo] = {d.code: d for d in DTYPES}
DTYPE_BY_NAME: dict[str, DtypeInfo] = {d.name: d for d in DTYPES}

# numpy (kind, itemsize) -> spec dtype, for numpy's native types.
_NATIVE_BY_KIND: dict[tuple[str, int], DtypeInfo] = {
    ("b", 1): DTYPE_BY_NAME["bool"],
    ("i", 1): DTYPE_BY_NAME["i8"],
    ("i", 2): DTYPE_BY_NAME["i16"],
    ("i", 4): DTYPE_BY_NAME["i32"],
    ("i", 8): DTYPE_BY_NAME["i64"],
    ("u", 1): DTYPE_BY_NAME["u8"],
    ("u", 2): DTYPE_BY_NAME["u16"],
    ("u", 4): DTYPE_BY_NAME["u32"],
    ("u", 8): DTYPE_BY_NAME["u64"],
    ("f", 2): DTYPE_BY_NAME["f16"],
    ("f", 4): DTYPE_BY_NAME["f32"],
    ("f", 8): DTYPE_BY_NAME["f64"],
    ("c", 8): DTYPE_BY_NAME["c64"],
    ("c", 16): DTYPE_BY_NAME["c128"],
}


def _ml_dtypes() -> Optional[Any]:
    """Return the ``ml_dtypes`` module, or ``None`` when it is not installed."""
    try:
        import ml_dtypes
    except ImportError:
        return None
    return ml_dtypes


def numpy_dtype(info: DtypeInfo, byte_order: str, path: Optional[str] = None) -> np.dtype:
    """The numpy dtype for a spec dtype stored in ``byte_order``.

    Args:
        info: the spec dtype.
        byte_order: ``"little"`` or ``"big"``; ignored for one-byte types.
        path: the file concerned, for the error message.

    Raises:
        DtypeUnavailableError: for bf16 and fp8 types when ``ml_dtypes`` is
            not installed.
    """
    if info.numpy_code is not None:
        if not info.multibyte:
            return np.dtype("|" + info.numpy_code)
        return np.dtype(("<" if byte_order == "little" else ">") + info.numpy_code)
    module = _ml_dtypes()
    where = f"{path}: " if path is not None else ""
    if module is None:
        raise DtypeUnavailableError(
            f"{where}dtype {info.name!r} (code {info.code}) has no numpy equivalent; "
            f"reading or writing it needs the ml_dtypes package: pip install ml_dtypes",
            path=path,
            expected="ml_dtypes installed",
            found="ml_dtypes not importable",
        )
    base: np.dtype = np.dtype(getattr(module, str(info.ml_dtypes_name)))
    if info.multibyte:
        base = base.newbyteorder("<" if byte_order == "little" else ">")
    return base


def spec_dtype_of(dtype: Any) -> tuple[DtypeInfo, str]:
    """The spec dtype and payload byte order for a numpy dtype (or spec name).

    Args:
        dtype: a spec name such as ``"bf16"``, or anything ``numpy.dtype``
            accepts (``"<f4"``, ``np.float32``, an ml_dtypes type, ...).

    Returns:
        ``(info, byte_order)`` with ``byte_order`` ``"little"`` or ``"big"``;
        one-byte types always give ``"little"`` (spec §5: writers write 0).

    Raises:
        TypeError: for numpy dtypes that arrfile v1 cannot store (object,
            strings, structured, datetime, float128, ...).
    """
    if isinstance(dtype, str) and dtype in DTYPE_BY_NAME:
        info = DTYPE_BY_NAME[dtype]
        return info, "little"
    dt = np.dtype(dtype)
    info_found: Optional[DtypeInfo] = None
    if dt.fields is None and dt.subdtype is None and dt.kind in "biufc" and dt.type.__module__ == "numpy":
        # numpy's own types: no need to import ml_dtypes (which takes ~0.5 s) to know them.
        info_found = _NATIVE_BY_KIND.get((dt.kind, dt.itemsize))
    if info_found is None and dt.fields is None and dt.subdtype is None:
        module = _ml_dtypes()
        if module is not None:
            for candidate in DTYPES:
                if candidate.ml_dtypes_name is not None and dt.type is getattr(
                    module, candidate.ml_dtypes_name
                ):
                    info_found = candidate
                    break
        if info_found is None and dt.kind in "biufc":
            info_found = _NATIVE_BY_KIND.get((dt.kind, dt.itemsize))
    if info_found is None:
        raise TypeError(
            f"numpy dtype {dt!r} cannot be stored in an arrfile v1; supported element "
            f"types: {', '.join(d.name for d in DTYPES)}"
        )
    if not info_found.multibyte:
        return info_found, "little"
    if dt.byteorder == ">":
        return info_found, "big"
    if dt.byteorder == "<":
        return info_found, "little"
    return info_found, HOST_BYTE_ORDER
