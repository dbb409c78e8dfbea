"""Parsing, checking and encoding of the 640-byte header (spec §3, §9).

:func:`parse_header` applies reader checks R1–R20 and 1.1's R25, which need
only the first 640 bytes and the file length; :func:`check_metadata_and_padding`
applies R21–R24, which read the metadata and the padding. Both raise the
:class:`~arrfile.ArrfileError` subclass named by the first check that fails.

Format 1.1 (spec §11): required bit 0 (``APPEND_IN_PROGRESS``) is known. While it
is set the header describes the last committed array, bytes [72, 80) hold
``append_base_len`` (= ``data_len``, R25) instead of being reserved, and the file
may continue after the committed payload (R20 does not apply). The helpers at the
end build the headers of an append (begin, commit, end) from the raw bytes, so that
every other byte is kept.
"""

from __future__ import annotations

import json
import struct
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from . import _spec as S
from ._crc import crc32, crc32_small
from ._errors import PathLike, check_failed


@dataclass(frozen=True)
class Header:
    """The fields of a header that passed checks R1–R20 and R25 (or that is to be written).

    Integer fields hold the stored values; helpers give the spec names. A header
    with :attr:`append_in_progress` describes the committed array of a file in the
    middle of an append (or whose append was interrupted): the file may be longer
    than :attr:`file_len`.
    """

    version_major: int
    version_minor: int
    required_features: int
    optional_features: int
    dtype_code: int
    byte_order: int
    order: int
    checksum_state: int
    payload_crc: int
    metadata_crc: int
    metadata_len: int
    data_offset: int
    data_len: int
    shape: tuple[int, ...]
    header_crc: int = 0

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    @property
    def dtype_info(self) -> S.DtypeInfo:
        """The dtype table row (the code was checked by R9)."""
        return S.DTYPE_BY_CODE[self.dtype_code]

    @property
    def byte_order_name(self) -> str:
        """``"little"`` or ``"big"``, as stored."""
        return S.BYTE_ORDER_NAMES[self.byte_order]

    @property
    def order_name(self) -> str:
        """``"C"`` or ``"F"``."""
        return S.ORDER_NAMES[self.order]

    @property
    def checksum_state_name(self) -> str:
        """``"absent"``, ``"valid"`` or ``"being_modified"``."""
        return S.STATE_NAMES[self.checksum_state]

    @property
    def metadata_end(self) -> int:
        """Offset just after the metadata block."""
        return S.HEADER_LEN + self.metadata_len

    @property
    def layout(self) -> tuple[Any, ...]:
        """The fields that decide how the payload is mapped and interpreted.

        The checksum fields are left out: an in-place writer may change them
        (state 2 while it works, then a new CRC) without changing the layout.
        """
        return (self.dtype_code, self.byte_order, self.order, self.shape,
                self.data_offset, self.data_len, self.metadata_len, self.metadata_crc)

    @property
    def file_len(self) -> int:
        """The committed length of the file: ``data_offset + data_len``.

        The exact length, unless :attr:`append_in_progress`: then the file may hold
        uncommitted rows after it.
        """
        return self.data_offset + self.data_len

    @property
    def append_in_progress(self) -> bool:
        """Required bit 0 (format 1.1): an append is running or was interrupted (spec §11)."""
        return bool(self.required_features & S.APPEND_IN_PROGRESS)

    @property
    def outer_axis(self) -> Optional[int]:
        """The axis an append grows (spec §11.1): 0 in C order, the last in F order; ``None`` for 0-d."""
        if not self.shape:
            return None
        return self.ndim - 1 if self.order == 1 else 0

    @property
    def outer_len(self) -> Optional[int]:
        """The length of :attr:`outer_axis`; ``None`` for a 0-d array."""
        axis = self.outer_axis
        return None if axis is None else self.shape[axis]

    @property
    def trailing_shape(self) -> tuple[int, ...]:
        """The dimensions other than the outer axis, in header order: what appended rows match."""
        if not self.shape:
            return ()
        return self.shape[:-1] if self.order == 1 else self.shape[1:]

    @property
    def row_len(self) -> int:
        """Bytes per index of the outer axis: itemsize x the trailing dimensions (0 if one is 0)."""
        size = self.dtype_info.itemsize
        for dim in self.trailing_shape:
            size *= dim
        return size

    def with_outer_len(self, outer_len: int) -> tuple[int, ...]:
        """The shape with the outer axis ``outer_len`` long (the array after an append)."""
        axis = self.outer_axis
        if axis is None:
            raise ValueError("a 0-d array has no axis to append along")
        shape = list(self.shape)
        shape[axis] = outer_len
        return tuple(shape)


def _u(buf: bytes, offset: int, size: int) -> int:
    """Little-endian unsigned integer of ``size`` bytes at ``offset``."""
    return int.from_bytes(buf[offset : offset + size], "little")


#: The whole header in one ``struct`` format (spec §3): magic, version_major,
#: version_minor, header_crc, required_features, optional_features, dtype,
#: byte_order, order, ndim, checksum_state, reserved [38, 40), payload_crc,
#: metadata_crc, metadata_len, data_offset, data_len, reserved [72, 128), and
#: the 64 shape slots.
_HEADER = struct.Struct("<8sHHIQQHBBBB2sIIQQQ56s64Q")
assert _HEADER.size == S.HEADER_LEN
_ZEROS = bytes(S.HEADER_LEN)


def header_crc_of(buf: bytes) -> int:
    """CRC-32 of the 640 header bytes with bytes [12, 16) taken as zero (§3.4)."""
    head = bytes(buf[: S.HEADER_LEN])
    return crc32_small(head[: S.OFF_HEADER_CRC] + b"\0\0\0\0" + head[S.OFF_HEADER_CRC + 4 :])


def _hex(data: bytes) -> str:
    """Bytes as space-separated hex pairs."""
    return " ".join(f"{b:02x}" for b in data) if data else "(no bytes)"


def _first_nonzero(head: bytes, start: int, end: int) -> int:
    """Offset of the first non-zero byte in ``head[start:end]`` (which holds one)."""
    return start + (end - start) - len(head[start:end].lstrip(b"\0"))


def parse_header(prefix: bytes, length: int, path: Optional[PathLike]) -> Header:
    """Apply reader checks R1–R20 and R25 (format 1.1) to a file's first bytes and length.

    The 640 bytes are decoded with one ``struct.unpack_from``; reserved bytes
    and unused shape slots are compared as slices. The checks run in the order
    of spec §9 and the first that fails raises.

    Args:
        prefix: the file's first ``min(length, 640)`` bytes.
        length: the file's length in bytes.
        path: the file, for error messages.

    Returns:
        The parsed header.

    Raises:
        ArrfileError: the subclass of the first check that fails.
    """
    head = bytes(prefix[: S.HEADER_LEN])
    n = min(length, 8)
    # R1: the bytes that exist must equal the magic's.
    if head[:n] != S.MAGIC[:n]:
        raise check_failed("R1", path, _hex(S.MAGIC[:n]), _hex(head[:n]), f"first {n} bytes (magic)")
    # R2
    if length < 12:
        raise check_failed("R2", path, "at least 12 bytes", f"{length} bytes", "file length")
    # R3
    if length < S.HEADER_LEN or len(head) < S.HEADER_LEN:
        major = _u(head, S.OFF_VERSION_MAJOR, 2)
        minor = _u(head, S.OFF_VERSION_MINOR, 2)
        if major != S.VERSION_MAJOR:
            raise check_failed("R3", path, f"major version {S.VERSION_MAJOR}", f"version {major}.{minor}", "version_major")
        # R4
        raise check_failed("R4", path, f"at least {S.HEADER_LEN} bytes", f"{length} bytes", "file length")
    fields = _HEADER.unpack_from(head)
    (_magic, major, minor, stored_crc, required, optional, code, byte_order, order, ndim, state,
     reserved_a, payload_crc, metadata_crc, metadata_len, data_offset, data_len, reserved_b) = fields[:18]
    if major != S.VERSION_MAJOR:
        raise check_failed("R3", path, f"major version {S.VERSION_MAJOR}", f"version {major}.{minor}", "version_major")
    # R4 passed: length >= 640.
    # R5
    actual_crc = header_crc_of(head)
    if stored_crc != actual_crc:
        raise check_failed("R5", path, f"0x{actual_crc:08x} (CRC-32 of the header)", f"0x{stored_crc:08x}", "header_crc")
    # R6
    unknown = required & ~S.KNOWN_REQUIRED_FEATURES
    if unknown:
        raise check_failed("R6", path, "no unknown required feature bits", f"required_features 0x{required:016x} (unknown bits 0x{unknown:016x})", "required_features")
    # R7
    if ndim > S.MAX_NDIM:
        raise check_failed("R7", path, f"ndim <= {S.MAX_NDIM}", f"ndim {ndim}", "ndim")
    # R8: reserved bytes, then the unused shape slots, compared as slices. While an append
    # is in progress (1.1, bit 0) bytes [72, 80) are append_base_len, not reserved.
    appending = bool(required & S.APPEND_IN_PROGRESS)
    if appending:
        reserved_b = reserved_b[S.OFF_RESERVED_C - S.OFF_RESERVED_B :]
    reserved_b_start = S.OFF_RESERVED_C if appending else S.OFF_RESERVED_B
    for start, end, raw_reserved in ((S.OFF_RESERVED_A, S.OFF_RESERVED_A + 2, reserved_a), (reserved_b_start, S.OFF_SHAPE, reserved_b)):
        if raw_reserved != _ZEROS[: end - start]:
            off = _first_nonzero(head, start, end)
            raise check_failed("R8", path, f"zero in reserved bytes [{start}, {end})", f"0x{head[off]:02x} at offset {off}", "reserved header bytes")
    slots_start = S.OFF_SHAPE + 8 * ndim
    if head[slots_start:] != _ZEROS[: S.HEADER_LEN - slots_start]:
        slots = fields[18:]
        i = next(j for j in range(ndim, S.MAX_NDIM) if slots[j])
        raise check_failed("R8", path, f"zero in unused shape slot {i} (ndim is {ndim})", f"{slots[i]} at offset {S.OFF_SHAPE + 8 * i}", "unused shape slot")
    # R9
    info = S.DTYPE_BY_CODE.get(code)
    if info is None:
        raise check_failed("R9", path, f"a dtype code of spec §4 (1..{max(S.DTYPE_BY_CODE)})", f"code {code}", "dtype")
    # R10
    if byte_order > 1:
        raise check_failed("R10", path, "0 (little) or 1 (big)", str(byte_order), "byte_order")
    # R11
    if order > 1:
        raise check_failed("R11", path, "0 (C) or 1 (F)", str(order), "order")
    # R12
    if state > 2:
        raise check_failed("R12", path, "0 (absent), 1 (valid) or 2 (being modified)", str(state), "checksum_state")
    if state != S.STATE_VALID and payload_crc != 0:
        raise check_failed("R12", path, f"payload_crc 0 in checksum state {state} ({S.STATE_NAMES[state]})", f"0x{payload_crc:08x}", "payload_crc")
    # R13 (Python integers do not overflow; stop as soon as the bound is passed)
    shape = fields[18 : 18 + ndim]
    size = info.itemsize
    count = 1
    for dim in shape:
        count *= dim
        if dim:
            size *= dim
            if size > S.SIZE_BOUND:
                raise check_failed("R13", path, "product of non-zero dimensions x itemsize <= 2^62", f"shape {list(shape)} x itemsize {info.itemsize} > 2^62", "shape")
    # R14
    expected_len = count * info.itemsize
    if data_len != expected_len:
        raise check_failed("R14", path, f"{expected_len} (element count {count} x itemsize {info.itemsize})", str(data_len), "data_len")
    # R25 (1.1), right after R14: while an append runs, offset 72 repeats the committed length.
    if appending:
        base_len = _u(head, S.OFF_APPEND_BASE_LEN, 8)
        if base_len != data_len:
            raise check_failed("R25", path, f"append_base_len {data_len} (data_len, while an append is in progress)", str(base_len), "append_base_len")
    # R15
    if metadata_len > S.MAX_METADATA_LEN:
        raise check_failed("R15", path, f"metadata_len <= {S.MAX_METADATA_LEN}", str(metadata_len), "metadata_len")
    # R16
    if data_offset % S.DATA_ALIGNMENT:
        raise check_failed("R16", path, f"a multiple of {S.DATA_ALIGNMENT}", str(data_offset), "data_offset")
    # R17
    metadata_end = S.HEADER_LEN + metadata_len
    if data_offset < metadata_end:
        raise check_failed("R17", path, f">= {metadata_end} (640 + metadata_len)", str(data_offset), "data_offset")
    # R18
    padding = data_offset - metadata_end
    if padding >= S.MAX_PADDING:
        raise check_failed("R18", path, f"padding < {S.MAX_PADDING} bytes", f"{padding} bytes (data_offset {data_offset}, metadata end {metadata_end})", "padding")
    # R19, R20. While an append is in progress (1.1) the bytes after the committed payload
    # are its uncommitted rows: R20 does not apply.
    end = data_offset + data_len
    if length < end:
        raise check_failed("R19", path, f"file length {end} (data_offset + data_len)", f"{length}", "file length")
    if length > end and not appending:
        raise check_failed("R20", path, f"file length {end} (data_offset + data_len)", f"{length} ({length - end} trailing bytes)", "file length")
    return Header(major, minor, required, optional, code, byte_order, order, state, payload_crc,
                  metadata_crc, metadata_len, data_offset, data_len, shape, stored_crc)


def _reject_constant(name: str) -> Any:
    """``json`` hook: NaN and Infinity are not JSON (RFC 8259)."""
    raise ValueError(f"{name} is not a JSON value (RFC 8259)")


def _finite_float(text: str) -> float:
    """``json`` hook: a number beyond binary64's range is refused (spec §7.1), not read as inf."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} is outside the binary64 range")
    return value


# The largest finite binary64 value, as an exact integer: the bound of every JSON number.
MAX_JSON_NUMBER = int(sys.float_info.max)


def _bounded_int(text: str) -> int:
    """``json`` hook: an integer beyond binary64's range is refused (spec §7.1), as a float is."""
    value = int(text)
    if abs(value) > MAX_JSON_NUMBER:
        raise ValueError(f"integer of {len(text.lstrip('-'))} digits is outside the binary64 range")
    return value


def parse_metadata(raw: bytes, path: Optional[PathLike]) -> dict[str, Any]:
    """Apply R22 and R23 to metadata bytes and return the attribute object."""
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise check_failed("R22", path, "valid UTF-8", f"invalid byte 0x{raw[exc.start]:02x} at metadata offset {exc.start}", "metadata bytes") from exc
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except RecursionError as exc:
        raise check_failed("R23", path, f"JSON nested at most {S.MAX_JSON_DEPTH} levels deep", "deeper nesting", "metadata") from exc
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise check_failed("R23", path, "one JSON object (RFC 8259)", f"invalid JSON: {exc}", "metadata") from exc
    if not isinstance(value, dict):
        raise check_failed("R23", path, "a JSON object at the top level", f"a JSON {type(value).__name__}", "metadata")
    depth = _depth(value)
    if depth > S.MAX_JSON_DEPTH:
        raise check_failed("R23", path, f"JSON nested at most {S.MAX_JSON_DEPTH} levels deep", f"{depth} levels", "metadata")
    bad = _lone_surrogate(value)
    if bad is not None:
        raise check_failed("R23", path, "JSON strings that are valid Unicode", f"a \\u escape of a lone surrogate in {bad!r}", "metadata")
    return value


def _depth(value: Any) -> int:
    """The nesting depth of a parsed JSON value; each object or array is one level (§7.1)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        items: Iterable[Any]
        if isinstance(item, dict):
            items = item.values()
        elif isinstance(item, list):
            items = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((sub, level + 1) for sub in items)
    return deepest


def _lone_surrogate(value: Any) -> Optional[str]:
    """The first string (key or value) holding a lone surrogate, or ``None``.

    JSON's grammar lets ``\\ud800`` through, but such a string is not Unicode
    text and cannot be written back as UTF-8; this reader refuses it (R23).
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                stack.append(key)
                stack.append(sub)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return item.encode("utf-8", "backslashreplace").decode("ascii")
    return None


_ZERO_PAGE = bytes(65536)


def _zeros(n: int) -> bytes:
    """``n`` zero bytes (n < 1 MiB by R18), sliced from a preallocated block when small."""
    return _ZERO_PAGE[:n] if n <= 65536 else bytes(n)


def check_metadata_and_padding(
    read_at: Callable[[int, int], bytes], header: Header, path: Optional[PathLike]
) -> Optional[dict[str, Any]]:
    """Apply reader checks R21–R24.

    Args:
        read_at: ``read_at(offset, size)`` returns exactly ``size`` bytes of
            the file at ``offset``.
        header: the header, which passed R1–R20 (so sizes are bounded).
        path: the file, for error messages.

    Returns:
        The attributes (a dict), or ``None`` when the file has no metadata.
    """
    raw = read_at(S.HEADER_LEN, header.metadata_len) if header.metadata_len else b""
    crc = crc32(raw) if raw else 0
    if crc != header.metadata_crc:
        raise check_failed("R21", path, f"0x{crc:08x} (CRC-32 of the {len(raw)} metadata bytes)", f"metadata_crc 0x{header.metadata_crc:08x}", "metadata_crc")
    attributes = parse_metadata(raw, path) if header.metadata_len else None
    pad_len = header.data_offset - header.metadata_end
    if pad_len:
        padding = read_at(header.metadata_end, pad_len)
        if padding != _zeros(pad_len):
            stripped = padding.lstrip(b"\0")
            off = header.metadata_end + (pad_len - len(stripped))
            raise check_failed("R24", path, f"zero bytes in [{header.metadata_end}, {header.data_offset})", f"0x{stripped[0]:02x} at offset {off}", "padding")
    return attributes


def encode_header(header: Header) -> bytes:
    """The 640 header bytes for ``header``, with a freshly computed ``header_crc``.

    ``header.header_crc`` is ignored. Reserved bytes and unused shape slots are zero.
    """
    if header.ndim > S.MAX_NDIM:
        raise ValueError(f"ndim {header.ndim} exceeds {S.MAX_NDIM}")
    buf = bytearray(S.HEADER_LEN)
    buf[0:8] = S.MAGIC

    def put(offset: int, size: int, value: int) -> None:
        """Store ``value`` little-endian in ``size`` bytes at ``offset``."""
        buf[offset : offset + size] = value.to_bytes(size, "little")

    put(S.OFF_VERSION_MAJOR, 2, header.version_major)
    put(S.OFF_VERSION_MINOR, 2, header.version_minor)
    put(S.OFF_REQUIRED_FEATURES, 8, header.required_features)
    put(S.OFF_OPTIONAL_FEATURES, 8, header.optional_features)
    put(S.OFF_DTYPE, 2, header.dtype_code)
    put(S.OFF_BYTE_ORDER, 1, header.byte_order)
    put(S.OFF_ORDER, 1, header.order)
    put(S.OFF_NDIM, 1, header.ndim)
    put(S.OFF_CHECKSUM_STATE, 1, header.checksum_state)
    put(S.OFF_PAYLOAD_CRC, 4, header.payload_crc)
    put(S.OFF_METADATA_CRC, 4, header.metadata_crc)
    put(S.OFF_METADATA_LEN, 8, header.metadata_len)
    put(S.OFF_DATA_OFFSET, 8, header.data_offset)
    put(S.OFF_DATA_LEN, 8, header.data_len)
    for i, dim in enumerate(header.shape):
        put(S.OFF_SHAPE + 8 * i, 8, dim)
    put(S.OFF_HEADER_CRC, 4, header_crc_of(bytes(buf)))
    return bytes(buf)


def patch_checksum(raw_header: bytes, state: int, payload_crc: int) -> bytes:
    """Return ``raw_header`` with a new checksum state, payload CRC and header CRC.

    Every other byte is kept as it is, so fields this reader does not know
    (optional feature bits, a newer minor version) survive an in-place change.
    """
    buf = bytearray(raw_header[: S.HEADER_LEN])
    buf[S.OFF_CHECKSUM_STATE] = state
    buf[S.OFF_PAYLOAD_CRC : S.OFF_PAYLOAD_CRC + 4] = payload_crc.to_bytes(4, "little")
    buf[S.OFF_HEADER_CRC : S.OFF_HEADER_CRC + 4] = header_crc_of(bytes(buf)).to_bytes(4, "little")
    return bytes(buf)


# --- format 1.1: the headers of an append (spec §11.2, §11.3) ----------------


def _patch(raw_header: bytes, **fields: int) -> bytes:
    """``raw_header`` with the named u64/u32/u8 fields replaced and a new header CRC.

    Every byte not named is kept as it is (a newer minor version, optional bits).
    """
    layout = {
        "required_features": (S.OFF_REQUIRED_FEATURES, 8),
        "append_base_len": (S.OFF_APPEND_BASE_LEN, 8),
        "data_len": (S.OFF_DATA_LEN, 8),
        "checksum_state": (S.OFF_CHECKSUM_STATE, 1),
        "payload_crc": (S.OFF_PAYLOAD_CRC, 4),
    }
    buf = bytearray(raw_header[: S.HEADER_LEN])
    for name, value in fields.items():
        if name.startswith("shape_"):
            offset, size = S.OFF_SHAPE + 8 * int(name[6:]), 8
        else:
            offset, size = layout[name]
        buf[offset : offset + size] = value.to_bytes(size, "little")
    buf[S.OFF_HEADER_CRC : S.OFF_HEADER_CRC + 4] = header_crc_of(bytes(buf)).to_bytes(4, "little")
    return bytes(buf)


def begin_append_header(raw_header: bytes, header: Header) -> bytes:
    """The header mid-append (spec §11.2, step 1): required bit 0 set and
    ``append_base_len = data_len``; everything else, the checksum included, unchanged."""
    return _patch(raw_header, required_features=header.required_features | S.APPEND_IN_PROGRESS,
                  append_base_len=header.data_len)


def end_append_header(raw_header: bytes, header: Header) -> bytes:
    """The header with bit 0 cleared and offset 72 zeroed (recovery, spec §11.3, step 2)."""
    return _patch(raw_header, required_features=header.required_features & ~S.APPEND_IN_PROGRESS,
                  append_base_len=0)


def committed_append_header(
    raw_header: bytes, header: Header, outer_len: int, checksum_state: int, payload_crc: int,
) -> bytes:
    """The header that commits an append (spec §11.2, step 3): the outer axis ``outer_len``
    long, ``data_len`` to match, the given checksum, bit 0 cleared and offset 72 zero."""
    axis = header.outer_axis
    if axis is None:
        raise ValueError("a 0-d array has no axis to append along")
    data_len = outer_len * header.row_len
    return _patch(raw_header, required_features=header.required_features & ~S.APPEND_IN_PROGRESS,
                  append_base_len=0, data_len=data_len, checksum_state=checksum_state,
                  payload_crc=payload_crc if checksum_state == S.STATE_VALID else 0,
                  **{f"shape_{axis}": outer_len})


def grown_from(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """Whether layout ``new`` (:attr:`Header.layout`) is layout ``old`` grown by appends.

    An append changes only the outer dimension (larger) and ``data_len``; the bytes of the
    old array are a prefix of the new payload, so a map of ``old`` made from the grown file
    shows the same elements.
    """
    if old == new:
        return True
    if len(old) != 8 or len(new) != 8:
        return False
    (code, byte_order, order, shape, offset, data_len, metadata_len, metadata_crc) = old
    (code2, byte_order2, order2, shape2, offset2, data_len2, metadata_len2, metadata_crc2) = new
    if (code, byte_order, order, offset, metadata_len, metadata_crc) != (code2, byte_order2, order2, offset2, metadata_len2, metadata_crc2):
        return False
    if not shape or len(shape) != len(shape2) or data_len2 < data_len:
        return False
    axis = len(shape) - 1 if order == 1 else 0
    rest = [d for i, d in enumerate(shape) if i != axis]
    rest2 = [d for i, d in enumerate(shape2) if i != axis]
    return rest == rest2 and shape2[axis] >= shape[axis]
