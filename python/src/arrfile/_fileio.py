"""Low-level file helpers: positional reads and writes, durability, streamed CRC.

Everything here works on raw file descriptors so that the header checks, the
mapping and the checksum all see the same open file (no re-open by path
between checking and mapping).
"""

from __future__ import annotations

import mmap
import os
import time
from typing import Any, Callable, Optional, TypeVar

import numpy as np

from . import _spec as S
from ._crc import crc32, crc32_parallel
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


def _map_range(fd: int, offset: int, length: int) -> tuple[mmap.mmap, int]:
    """A read-only map covering ``[offset, offset + length)`` and where that range starts in it."""
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    flags = getattr(mmap, "MAP_SHARED", 0) | getattr(mmap, "MAP_POPULATE", 0)
    if hasattr(mmap, "PROT_READ"):
        mapped = mmap.mmap(fd, length + offset - start, flags=flags, prot=mmap.PROT_READ, offset=start)
    else:  # pragma: no cover - Windows
        mapped = mmap.mmap(fd, length + offset - start, access=mmap.ACCESS_READ, offset=start)
    return mapped, offset - start


def crc32_range(fd: int, offset: int, length: int, chunk: int = CRC_CHUNK, *, threads: Optional[int] = None) -> int:
    """CRC-32 of ``length`` bytes at ``offset`` (never the whole file in memory).

    The range is mapped read-only and hashed in place on every core
    (:func:`arrfile._crc.crc32_parallel`); where mapping fails (a filesystem
    without mmap) it is read in ``chunk``-sized pieces instead. The caller has
    checked that the file is long enough (R19); a file truncated by another
    process *while* it is hashed raises SIGBUS, as for any mapped file.
    """
    if length == 0:
        return 0
    try:
        mapped, start = _map_range(fd, offset, length)
    except (OSError, ValueError):
        return _crc32_pread(fd, offset, length, chunk)
    try:
        view = memoryview(mapped)[start : start + length]
        try:
            return crc32_parallel(view, threads=threads)
        finally:
            view.release()
    finally:
        mapped.close()


def _crc32_pread(fd: int, offset: int, length: int, chunk: int) -> int:
    """CRC-32 of a range read with ``pread`` in chunks."""
    crc = 0
    end = offset + length
    while offset < end:
        data = os.pread(fd, min(chunk, end - offset), offset)
        if not data:
            raise EOFError(f"file ended at offset {offset} before the payload end {end}")
        crc = crc32(data, crc)
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
        bad += int(np.count_nonzero(np.frombuffer(data, np.uint8) > 1))
        offset += len(data)
    return bad


#: Bytes read at once from the start of a file: the header and, for most files,
#: the metadata and padding too (data_offset is usually 4096).
PREFIX_READ = 4096


def read_raw_header(fd: int, want: int = S.HEADER_LEN) -> tuple[bytes, int]:
    """The file's first ``min(length, want)`` bytes (``want`` >= 640) and its length.

    The header is read first, then the length (spec §11.5): an appender changes the header
    before it grows the file and a recovery cuts the file before it changes the header, so
    this order sees at worst a grown length with the header of before (``trailing_bytes``),
    which :func:`read_validated` reads again.
    """
    raw = os.pread(fd, want, 0)
    length = os.fstat(fd).st_size
    # A regular file returns everything asked for up to EOF; be strict anyway.
    if len(raw) < min(length, want):
        raw = pread_exact(fd, 0, min(length, want))
    return raw, length


def _read_validated_once(
    fd: int, path: Optional[PathLike]
) -> tuple[Header, bytes, Optional[dict[str, Any]]]:
    """One pass of every reader check R1–R25 over an open file (see :func:`read_validated`)."""
    prefix, length = read_raw_header(fd, PREFIX_READ)
    header = parse_header(prefix, length, path)

    def read_at(offset: int, size: int) -> bytes:
        if offset + size <= len(prefix):
            return prefix[offset : offset + size]
        return pread_exact(fd, offset, size)

    attributes = check_metadata_and_padding(read_at, header, path)
    return header, prefix[: S.HEADER_LEN], attributes


#: How long a header and length that disagree, or a header whose CRC fails, are read again
#: before the file is reported invalid (spec §11.5: "the reference tools: 50 ms").
RACY_WINDOW = 0.05
#: The pause between two such reads.
RACY_PAUSE = 0.005
#: Reads after the first, at least, before such an error is reported.
MIN_REREADS = 2

T = TypeVar("T")


def reread_while_racing(
    read_once: Callable[[], T],
    before_retry: Optional[Callable[[], None]] = None,
    quiet: Optional[Callable[[], bool]] = None,
) -> T:
    """``read_once()``, read again for about 50 ms while it fails in a way a writer can cause.

    A writer rewrites the header while readers read (an ``r+`` commit, under which ``info``
    and ``lazy`` read without a lock; an appender's begin and commit, under every reader's
    shared lock), so a reader can see a header torn by the write (R5,
    ``header_checksum_mismatch``) or a length that disagrees with the header it read (R19
    ``truncated_payload``, R20 ``trailing_bytes``). Those three are read again, every 5 ms for
    50 ms and at least twice, before they are reported; every other error at once. This is
    the one place where local and remote readers make that decision.

    Args:
        read_once: reads and checks the header and length, raising the reader check's error.
        before_retry: called before each new read (a remote file refreshes its length).
        quiet: says whether no cooperating writer can be changing the file now (no ``r+``
            session, no appender or recovery: their locks are free). Then the file is read
            once more at once and that read's verdict is final: a file that is really
            invalid is reported without the 50 ms wait.
    """
    from ._errors import HeaderChecksumMismatchError, TrailingBytesError, TruncatedPayloadError

    racy = (HeaderChecksumMismatchError, TruncatedPayloadError, TrailingBytesError)
    deadline: Optional[float] = None
    rereads = 0
    while True:
        try:
            return read_once()
        except racy:
            if quiet is not None and quiet():
                # The writer that may have torn this read is gone (or there was none):
                # what the file holds now is what it holds.
                if before_retry is not None:
                    before_retry()
                return read_once()
            now = time.monotonic()
            if deadline is None:
                deadline = now + RACY_WINDOW
            elif now >= deadline and rereads >= MIN_REREADS:
                raise
        rereads += 1
        time.sleep(RACY_PAUSE)
        if before_retry is not None:
            before_retry()


def _no_appender(fd: int) -> bool:
    """No other open file holds the append lock: no appender or recovery is running."""
    from ._lock import append_lock_held

    return append_lock_held(fd) is False


def read_validated(
    fd: int, path: Optional[PathLike]
) -> tuple[Header, bytes, Optional[dict[str, Any]]]:
    """Apply every reader check R1–R25 to an open file whose caller holds a lock on it.

    The first 4096 bytes are read at once, then the length; metadata and padding beyond
    them (sizes bounded by R15 and R18) are read afterwards. A header whose CRC fails or that
    disagrees with the length is read again for about 50 ms before it is reported
    (:func:`reread_while_racing`) while an appender may be rewriting it; with the append lock
    free (and the caller's ``flock`` keeping ``r+`` writers out), once more at once.

    Returns:
        ``(header, raw_header_bytes, attributes)``.
    """
    return reread_while_racing(lambda: _read_validated_once(fd, path), quiet=lambda: _no_appender(fd))


def read_validated_unlocked(
    fd: int, path: Optional[PathLike]
) -> tuple[Header, bytes, Optional[dict[str, Any]]]:
    """:func:`read_validated` for a reader that holds no lock (``info``, ``lazy``).

    A header checksum mismatch seen without a lock may be an ``r+`` writer's commit caught
    half written (where the filesystem does not make a one-page ``pread`` and ``pwrite``
    atomic), as an appender's header may be under any reader's shared lock. The file is read
    again at once when no writer holds it (a shared ``flock`` can be taken, and released at
    once, and the append lock is free), else for about 50 ms.
    """
    from ._lock import try_lock_shared, unlock

    held = [False]

    def quiet() -> bool:
        if not try_lock_shared(fd):
            return False  # an r+ session (or a commit) holds the file
        held[0] = True  # kept for the read that follows: no r+ session starts under it
        return _no_appender(fd)

    def once() -> tuple[Header, bytes, Optional[dict[str, Any]]]:
        try:
            return _read_validated_once(fd, path)
        finally:
            if held[0]:
                # Released now: the caller may go on to lock or map this descriptor.
                held[0] = False
                unlock(fd, os.getpid())

    return reread_while_racing(once, quiet=quiet)
