"""Reading arrfiles through fsspec: ``https://``, ``s3://``, ``file://`` and every other fsspec URL.

fsspec is optional (``pip install arrfile[remote]``); it is imported only when a URL is given.

* The header, the attributes and the padding are fetched with at most two range
  requests: the first ``min(length, 64 KiB)`` bytes (which hold everything up to
  ``data_offset`` for files with less than about 60 KiB of attributes), and the
  rest up to ``data_offset`` only when it is longer (bounded by R15 and R18
  before it is fetched). fsspec learns the length first (an HTTP ``HEAD``).
  Every reader check R1–R24 is applied, in order, to these bytes and that length.
* ``verify`` streams the payload in 16 MiB range requests through the CRC; the
  payload is never held whole.
* :class:`RemoteRegionReader` reads ``array[index]`` for basic indices (integers,
  slices, ``...``): the selected run of outer rows (axis 0 in C order, the last
  axis in F order) is fetched as byte ranges, consecutive rows in one request
  (rows less than 64 KiB apart too), then the rest of the index is applied in memory.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

import numpy as np

from ._crc import crc32_parallel
from ._errors import ArrfileError
from ._fileio import reread_while_racing
from ._header import Header, check_metadata_and_padding, parse_header

#: Bytes fetched by the first range request.
REMOTE_PREFIX = 64 * 1024
#: Unselected bytes between two selected rows that are fetched rather than split into two requests.
GAP_BYTES = 64 * 1024
#: Bytes per range request when the payload is streamed (verify).
REMOTE_CHUNK = 16 * 1024 * 1024


def is_url(path: Any) -> bool:
    """Whether ``path`` is an fsspec URL (``scheme://...``) rather than a local path."""
    if not isinstance(path, str):
        return False
    head, sep, _ = path.partition("://")
    return bool(sep) and head.replace("+", "").replace("-", "").replace(".", "").isalnum() and len(head) > 1


class RemoteError(ArrfileError):
    """A remote file could not be read as required (no range support, short read)."""

    kind = "remote_error"


class RemoteFile:
    """One remote file opened through fsspec, read by byte ranges only."""

    def __init__(self, url: str, storage_options: Optional[dict[str, Any]] = None) -> None:
        """Open ``url`` (one metadata request, e.g. HTTP ``HEAD``, to learn its length)."""
        try:
            import fsspec  # type: ignore[import-untyped,unused-ignore]
        except ImportError as exc:  # pragma: no cover - exercised only without fsspec
            raise ImportError(
                f"{url}: reading a URL needs fsspec (and aiohttp for http/https): pip install 'arrfile[remote]'"
            ) from exc
        self.url = url
        self._lock = threading.Lock()
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        self.fs = fs
        self.fpath = path
        self._file = fs.open(path, "rb", cache_type="none")
        size = getattr(self._file, "size", None)
        if size is None:  # fsspec streams (no ranges) when the server gives no length, or a length 0
            try:
                size = fs.size(path)
            except Exception:  # pragma: no cover - the error below says what is missing
                size = None
            if size != 0:
                size = None
        if size is None:
            self.close()
            raise RemoteError(
                f"{url}: remote_error: expected a server that reports the file's length and serves byte "
                f"ranges, found no length (streaming only); arrfile never downloads a payload whole",
                path=url, expected="range support", found="no length",
            )
        self.size = int(size)

    def refresh_size(self) -> None:
        """Open the file again to learn its length anew (a file that grew by an append)."""
        try:
            self.fs.invalidate_cache(self.fpath)
        except Exception:  # pragma: no cover - not every filesystem caches
            pass
        try:
            fresh = self.fs.open(self.fpath, "rb", cache_type="none")
        except Exception:  # pragma: no cover - keep the file and length known before
            return
        size = getattr(fresh, "size", None)
        if size is None:  # pragma: no cover - the first open had a length
            fresh.close()
            return
        with self._lock:
            old, self._file = self._file, fresh
            self.size = int(size)
        try:
            old.close()
        except Exception:  # pragma: no cover - best effort
            pass

    def read_at(self, offset: int, size: int) -> bytes:
        """Exactly ``size`` bytes at ``offset``: one range request."""
        if size == 0:
            return b""
        with self._lock:
            try:
                self._file.seek(offset)
                data = self._file.read(size)
            except ValueError as exc:  # fsspec: the server does not honour Range
                raise RemoteError(
                    f"{self.url}: remote_error: expected byte-range support, found: {exc}",
                    path=self.url, expected="range support", found=str(exc),
                ) from exc
        if len(data) != size:
            raise RemoteError(
                f"{self.url}: remote_error: bytes [{offset}, {offset + size}): expected {size} bytes, "
                f"found {len(data)} (the file changed or the server cut the response)",
                path=self.url, expected=size, found=len(data),
            )
        return bytes(data)

    def close(self) -> None:
        """Close the fsspec file."""
        try:
            self._file.close()
        except Exception:  # pragma: no cover - best effort
            pass

    def __enter__(self) -> "RemoteFile":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_validated_remote(remote: RemoteFile) -> tuple[Header, Optional[dict[str, Any]]]:
    """Apply R1–R25 to a remote file with at most two range requests.

    A header whose CRC fails or that disagrees with the length (a writer may be changing the
    file: an append beginning or committing) is fetched again, with the length after it, for
    about 50 ms before it is reported (:func:`arrfile._fileio.reread_while_racing`).
    """
    attempts = [0]

    def once() -> tuple[Header, Optional[dict[str, Any]]]:
        attempts[0] += 1
        if attempts[0] == 1:
            return _read_validated_remote_once(remote, remote.size)
        # Again: the header first, then the length (spec §11.5).
        prefix = remote.read_at(0, min(remote.size, REMOTE_PREFIX))
        remote.refresh_size()
        return _read_validated_remote_once(remote, remote.size, prefix)

    return reread_while_racing(once)


def _read_validated_remote_once(
    remote: RemoteFile, size: int, prefix: Optional[bytes] = None,
) -> tuple[Header, Optional[dict[str, Any]]]:
    """One pass of R1–R25 over a remote file's prefix (fetched unless given) and ``size``."""
    if prefix is None:
        prefix = remote.read_at(0, min(size, REMOTE_PREFIX))
    header = parse_header(prefix, size, remote.url)
    rest: dict[str, bytes] = {}

    def read_at(offset: int, size: int) -> bytes:
        end = offset + size
        if end <= len(prefix):
            return prefix[offset:end]
        if "tail" not in rest:  # everything from the prefix's end to data_offset, once
            rest["tail"] = remote.read_at(len(prefix), header.data_offset - len(prefix))
        joined = prefix + rest["tail"]
        return joined[offset:end]

    attributes = check_metadata_and_padding(read_at, header, remote.url)
    return header, attributes


def read_header_remote(url: str, storage_options: Optional[dict[str, Any]] = None) -> tuple[Header, Optional[dict[str, Any]]]:
    """Header and attributes of a remote file (R1–R24)."""
    with RemoteFile(url, storage_options) as remote:
        return read_validated_remote(remote)


def crc32_remote(remote: RemoteFile, offset: int, length: int, chunk: int = REMOTE_CHUNK) -> int:
    """CRC-32 of a remote byte range, fetched in ``chunk``-sized range requests."""
    crc = 0
    end = offset + length
    while offset < end:
        n = min(chunk, end - offset)
        crc = crc32_parallel(remote.read_at(offset, n), crc)
        offset += n
    return crc


def count_bad_bool_remote(remote: RemoteFile, offset: int, length: int, chunk: int = REMOTE_CHUNK) -> int:
    """Bytes other than 0/1 in a remote range (a second pass; bool payloads only)."""
    bad = 0
    end = offset + length
    while offset < end:
        n = min(chunk, end - offset)
        bad += int(np.count_nonzero(np.frombuffer(remote.read_at(offset, n), np.uint8) > 1))
        offset += n
    return bad


def _normalise_index(index: Any, shape: tuple[int, ...]) -> tuple[Any, ...]:
    """A basic index as a tuple of one int or slice per axis (``...`` expanded).

    Raises:
        TypeError: for anything but integers, slices and ``...`` (fancy indexing).
        IndexError: for too many indices or an integer out of range.
    """
    if not isinstance(index, tuple):
        index = (index,)
    if any(i is None for i in index):
        raise TypeError("remote arrfile arrays take integers, slices and ... (use numpy on the result for newaxis)")
    n_ellipsis = sum(1 for i in index if i is Ellipsis)
    if n_ellipsis > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_ellipsis:
        at = next(k for k, i in enumerate(index) if i is Ellipsis)
        fill = len(shape) - (len(index) - 1)
        index = index[:at] + (slice(None),) * max(fill, 0) + index[at + 1 :]
    if len(index) > len(shape):
        raise IndexError(f"too many indices for an array of {len(shape)} dimensions: {len(index)}")
    index = index + (slice(None),) * (len(shape) - len(index))
    out: list[Any] = []
    for axis, (i, n) in enumerate(zip(index, shape)):
        if isinstance(i, slice):
            out.append(i)
        elif isinstance(i, (int, np.integer)) and not isinstance(i, bool):
            j = int(i)
            if not -n <= j < n:
                raise IndexError(f"index {j} is out of bounds for axis {axis} with size {n}")
            out.append(j % n)
        else:
            raise TypeError(
                f"remote arrfile arrays take integers, slices and ... ; found {type(i).__name__} "
                f"(read a slice, then index the numpy result)"
            )
    return tuple(out)


def read_region(remote: RemoteFile, header: Header, dtype: np.dtype, index: Any) -> np.ndarray:
    """``array[index]`` of a remote file, reading only the outer rows the index selects.

    Consecutive selected outer rows (axis 0 in C order, the last axis in F
    order) are fetched in one range request; a stepped selection fetches one
    range per selected row.
    """
    shape = header.shape
    if not shape:
        idx = _normalise_index(index, shape)
        raw = remote.read_at(header.data_offset, header.data_len)
        return np.array(np.frombuffer(raw, dtype=dtype).reshape(())[idx])
    idx = _normalise_index(index, shape)
    fortran = header.order == 1
    if 0 in shape:
        # No elements, nothing to read; another axis may still be 2^62 long (R13 counts only
        # the non-zero dimensions), so its rows are not listed one by one.
        return np.array(np.zeros(shape, dtype=dtype, order="F" if fortran else "C")[idx])
    outer = len(shape) - 1 if fortran else 0
    inner_shape = shape[:-1] if fortran else shape[1:]
    row_bytes = dtype.itemsize
    for d in inner_shape:
        row_bytes *= d
    sel = idx[outer]
    rows = [sel] if isinstance(sel, int) else list(range(*sel.indices(shape[outer])))
    # Consecutive rows form one range; rows separated by less than GAP_BYTES are fetched
    # together with the gap (one request instead of many small ones).
    max_gap = GAP_BYTES // row_bytes if row_bytes else 0
    runs: list[list[int]] = []
    for r in sorted(set(rows)):
        if runs and r - runs[-1][1] <= max_gap:
            runs[-1][1] = r + 1
        else:
            runs.append([r, r + 1])
    blocks: list[tuple[int, np.ndarray]] = []
    for a, b in runs:
        raw = remote.read_at(header.data_offset + a * row_bytes, (b - a) * row_bytes) if row_bytes else b""
        block = np.frombuffer(raw, dtype=dtype)
        block = block.reshape(inner_shape + (b - a,), order="F") if fortran else block.reshape((b - a,) + inner_shape)
        blocks.append((a, block))
    if len(blocks) == 1 and rows == list(range(runs[0][0], runs[0][1])):
        gathered = blocks[0][1]
    elif not rows or row_bytes == 0:
        empty_shape = list(shape)
        empty_shape[outer] = len(rows)
        gathered = np.zeros(empty_shape, dtype=dtype)
    else:
        def row(r: int) -> np.ndarray:
            for a, block in blocks:
                if a <= r < a + block.shape[outer]:
                    return block[..., r - a] if fortran else block[r - a]
            raise AssertionError(r)  # pragma: no cover

        gathered = np.stack([row(r) for r in rows], axis=outer)
    rest = list(idx)
    rest[outer] = 0 if isinstance(sel, int) else slice(None)
    return np.array(gathered[tuple(rest)])


__all__ = [
    "REMOTE_CHUNK",
    "REMOTE_PREFIX",
    "RemoteError",
    "RemoteFile",
    "crc32_remote",
    "is_url",
    "read_header_remote",
    "read_region",
    "read_validated_remote",
]

