"""Low-level file helpers: positional reads and writes, durability, streamed CRC.

Everything here works on raw file descriptors so that the header checks, the
mapping and the checksum all see the same open file (no re-open by path
between checking and mapping).
"""

from __future__ import annotations

import os
import zlib
from typing import Any, Optional

from . import _spec as S
from ._errors import PathLike
from ._header import Header, check_metadata_and_padding, parse_header

#: Bytes read per step when streaming the payload for its CRC.
CRC_CHUNK = 8 * 1024 * 1024


def pread_exact(fd: int, offset: int, size: int) -> bytes:
    """Read exactly ``size`` bytes at ``offset`` (short reads are retried).

    Raises:
        EOFError: the file ended first (it shrank after its length was checked).
    """
    parts = []
    remaining = size
    while remaining:
        chunk = os.pread(fd, min(remaining, CRC_CHUNK), offset)
        if not chunk:
            raise EOFError(f"file ended at offset {offset} with {remaining} bytes still to read")
        parts.append(chunk)
        offset += len(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def pwrite_all(fd: int, data: Any, offset: int) -> None:
    """Write all of ``data`` (a bytes-like object) at ``offset``."""
    view = memoryview(data).cast("B")
    while len(view):
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


def fsync_dir(path: PathLike) -> None:
    """Make a rename or creation in the directory of ``path`` durable (best effort).

    Directories cannot be opened on every platform (Windows); there the step
    is skipped.
    """
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def crc32_range(fd: int, offset: int, length: int, chunk: int = CRC_CHUNK) -> int:
    """CRC-32 of ``length`` bytes at ``offset``, read in chunks (never the whole file)."""
    crc = 0
    end = offset + length
    while offset < end:
        data = os.pread(fd, min(chunk, end - offset), offset)
        if not data:
            raise EOFError(f"file ended at offset {offset} before the payload end {end}")
        crc = zlib.crc32(data, crc)
        offset += len(data)
    return crc


def count_bad_bool_bytes(fd: int, offset: int, length: int, chunk: int = CRC_CHUNK) -> int:
    """How many bytes in the range are neither 0x00 nor 0x01 (bool payload check)."""
    bad = 0
    end = offset + length
    while offset < end:
        data = os.pread(fd, min(chunk, end - offset), offset)
        if not data:
            raise EOFError(f"file ended at offset {offset} before the payload end {end}")
        bad += len(data) - data.count(0) - data.count(1)
        offset += len(data)
    return bad


def read_raw_header(fd: int) -> tuple[bytes, int]:
    """The file's first ``min(length, 640)`` bytes and its length."""
    length = os.fstat(fd).st_size
    raw = os.pread(fd, S.HEADER_LEN, 0) if length else b""
    # A regular file returns everything asked for up to EOF; be strict anyway.
    if len(raw) < min(length, S.HEADER_LEN):
        raw = pread_exact(fd, 0, min(length, S.HEADER_LEN))
    return raw, length


def read_validated(
    fd: int, path: Optional[PathLike]
) -> tuple[Header, bytes, Optional[dict[str, Any]]]:
    """Apply every reader check R1–R24 to an open file.

    Returns:
        ``(header, raw_header_bytes, attributes)``.
    """
    raw, length = read_raw_header(fd)
    header = parse_header(raw, length, path)
    attributes = check_metadata_and_padding(lambda off, n: pread_exact(fd, off, n), header, path)
    return header, raw, attributes
