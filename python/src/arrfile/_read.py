"""Reading: ``open``, ``info``, ``verify`` and the picklable ``LazyArray``."""

from __future__ import annotations

import builtins
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from . import _spec as S
from ._errors import ArrfileError, LockedError, PathLike
from ._fileio import count_bad_bool_bytes, crc32_range, read_validated, read_validated_unlocked
from ._header import Header, grown_from
from ._inplace import open_for_update
from ._lock import SHARED, append_lock_held, lock
from ._mapping import MappedArray, make_memmap
from ._remote import (
    RemoteFile,
    count_bad_bool_remote,
    crc32_remote,
    is_url,
    read_header_remote,
    read_region,
    read_validated_remote,
)

_MODES = ("r", "r+", "c")
#: Attempts, 5 ms apart, to lock a file whose writer holds it with a header in state valid.
_VERIFY_LOCK_TRIES = 10
#: Serialises the first map or remote open of LazyArrays, so concurrent threads open once.
_OPEN_LOCK = threading.RLock()
_O_RDONLY = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def open(path: PathLike, mode: str = "r", *, wait: bool = False) -> np.memmap:  # noqa: A001 - mirrors numpy/builtins
    """Open an arrfile and return its payload as a ``numpy.memmap``.

    Every reader check R1–R24 of spec §9 is applied, in order, before anything
    is mapped; the payload itself is not read (opening is O(1) in its size).

    Args:
        path: the file.
        mode: ``"r"`` read-only; ``"c"`` copy-on-write (changes stay in memory,
            the file is never written); ``"r+"`` in-place update following the
            *being modified* protocol of spec §8: before the writable map is
            returned the header is set to checksum state 2 (``payload_crc`` 0)
            and made durable. Call :func:`arrfile.commit` afterwards to record
            the new payload CRC (state 1). An ``r+`` map holds an exclusive
            advisory lock on the file until it is committed, closed or
            garbage-collected (in the process that opened it: a forked child
            never releases it); once locked, the path must still name the
            opened file (else it is opened again). Modes ``"r"`` and ``"c"``
            hold a shared advisory lock while the file is mapped (until
            ``close()`` or garbage collection of the map and its views), so
            that no cooperating in-place writer changes the payload under them.
        wait: wait for a conflicting lock of another open (an ``r+`` session;
            for ``"r+"`` also a reader) to be released instead of raising
            :class:`LockedError`.

    Returns:
        An :class:`arrfile.MappedArray` (a ``numpy.memmap`` subclass with
        ``close()``, ``with`` and pickling by reference) with the header's dtype (with its byte order, e.g.
        ``>f4``), shape and order (``order="F"`` arrays are Fortran-contiguous).
        A 0-d file gives a 0-d memmap. A file with an empty payload (a zero
        dimension) gives an *unmapped* ``numpy.memmap`` instance with the right
        dtype, shape and order, no elements, and ``filename``/``offset``/``mode``
        set (numpy cannot map zero bytes); it is read-only in mode ``"r"``.

    Raises:
        ArrfileError: the subclass for the first reader check that fails.
        DtypeUnavailableError: bf16/fp8 file and ``ml_dtypes`` not installed.
        LockedError: ``wait`` false and another open holds a conflicting lock:
            an ``r+`` session (any mode), or for ``"r+"`` a reader, a verifier
            or a writer replacing the file.
        ValueError: an unknown mode.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if is_url(path):
        raise ValueError(
            f"{path}: open() maps local files; for a URL use arrfile.lazy(url) (slices read as byte "
            f"ranges), arrfile.info(url) or arrfile.verify(url)"
        )
    if mode == "r+":
        return open_for_update(path, wait=wait)
    fd = os.open(path, _O_RDONLY)
    try:
        # Held while the file is mapped: no cooperating writer starts an r+ session under it.
        lock(fd, path, SHARED, wait=wait)
        header, _, _ = read_validated(fd, path)
        dtype = S.numpy_dtype(header.dtype_info, header.byte_order_name, os.fspath(path))
        array = make_memmap(
            fd, path, dtype, header.shape, header.order_name, header.data_offset, header.data_len, mode,
            header.layout,
        )
    except BaseException:
        os.close(fd)
        raise
    ref = array._arrfile
    if ref is None:  # pragma: no cover - make_memmap always sets it
        os.close(fd)
    else:
        ref.hold_lock(fd)
    return array


def read_header(path: PathLike) -> tuple[Header, Optional[dict[str, Any]]]:
    """Apply R1–R25 to ``path`` (a local path or an fsspec URL) and return its header and attributes."""
    if is_url(path):
        return read_header_remote(str(path))
    with builtins.open(os.fspath(path), "rb") as fobj:
        header, _, attributes = read_validated_unlocked(fobj.fileno(), path)
    return header, attributes


def _info_dict(
    header: Header, attributes: Optional[dict[str, Any]], path: PathLike,
    length: Optional[int] = None, running: Optional[bool] = None,
) -> dict[str, Any]:
    """The description of a checked file as a plain dict."""
    return {
        "path": str(path) if is_url(path) else os.fspath(path),
        "dtype": header.dtype_info.name,
        "itemsize": header.dtype_info.itemsize,
        "shape": list(header.shape),
        "ndim": header.ndim,
        "order": header.order_name,
        "byte_order": header.byte_order_name,
        "data_offset": header.data_offset,
        "data_len": header.data_len,
        "metadata_len": header.metadata_len,
        "file_len": header.file_len,
        "version": f"{header.version_major}.{header.version_minor}",
        "required_features": header.required_features,
        "optional_features": header.optional_features,
        "checksum_state": header.checksum_state_name,
        "payload_crc": header.payload_crc,
        "header_crc": header.header_crc,
        "metadata_crc": header.metadata_crc,
        "attributes": attributes,
        "append_in_progress": header.append_in_progress,
        "uncommitted_len": None if length is None else max(0, length - header.file_len),
        "append_running": running,
    }


def info(path: PathLike) -> dict[str, Any]:
    """Describe an arrfile without mapping or reading its payload.

    All reader checks R1–R24 apply. Works for every dtype, with or without
    ``ml_dtypes``.

    Returns:
        A dict with keys ``dtype`` (spec name, e.g. ``"f32"``), ``itemsize``,
        ``shape`` (list), ``ndim``, ``order`` (``"C"``/``"F"``), ``byte_order``
        (``"little"``/``"big"``, as stored), ``data_offset``, ``data_len``,
        ``metadata_len``, ``file_len``, ``version`` (``"1.0"``; the file's own
        minor version), ``required_features``, ``optional_features``,
        ``checksum_state`` (``"absent"``/``"valid"``/``"being_modified"``),
        ``payload_crc``, ``header_crc``, ``metadata_crc``, ``attributes`` (dict
        or ``None``) and ``path``; and for format 1.1's appends (spec §11):
        ``append_in_progress`` (required bit 0: an append is running or was
        interrupted; the other fields describe the committed array, and
        ``file_len`` is its end), ``uncommitted_len`` (bytes after the committed
        payload; ``None`` for a URL) and ``append_running`` (whether an appender
        or a recovery holds the file's append lock now; ``None`` for a URL or
        where it cannot be asked). Bit 0 set and ``append_running`` false: the
        append was interrupted; ``arrfile.recover(path)`` rolls it back.
    """
    if is_url(path):
        header, attributes = read_header(path)
        return _info_dict(header, attributes, path)
    with builtins.open(os.fspath(path), "rb") as fobj:
        header, _, attributes = read_validated_unlocked(fobj.fileno(), path)
        length = os.fstat(fobj.fileno()).st_size
        running = append_lock_held(fobj.fileno())
    return _info_dict(header, attributes, path, length, running)


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of verifying a payload (spec §8).

    Attributes:
        path: the file verified.
        outcome: ``"valid"``, ``"payload_checksum_mismatch"`` or ``"not_verifiable"``.
        checksum_state: the header's state name.
        expected: the CRC-32 recorded in the header (state *valid* only).
        found: the CRC-32 computed from the payload (state *valid* only).
        invalid_bool_bytes: for ``bool`` payloads that were read, the number
            of bytes other than 0x00/0x01 (spec §8 lets a verifier report
            them); ``None`` when not checked. They do not change ``outcome``.
    """

    path: str
    outcome: str
    checksum_state: str
    expected: Optional[int] = None
    found: Optional[int] = None
    invalid_bool_bytes: Optional[int] = None

    @property
    def ok(self) -> bool:
        """True only for outcome ``"valid"`` (a checksum was recorded and matches)."""
        return self.outcome == "valid"

    @property
    def corrupt(self) -> bool:
        """True for outcome ``"payload_checksum_mismatch"``."""
        return self.outcome == "payload_checksum_mismatch"


def verify(path: PathLike, *, wait: bool = False) -> VerifyResult:
    """Verify the payload checksum of an arrfile (a local path or an fsspec URL).

    The file must pass every reader check (else :class:`ArrfileError` is
    raised). In state *valid* the payload is hashed and compared: a local file
    is mapped and hashed in place on every core; a URL is streamed in 16 MiB
    range requests. In states *absent* and *being modified* nothing can be
    verified and the payload is not read.

    A local file is verified under a shared advisory lock, taken before its
    header is read and held for the whole pass, so that no cooperating writer
    (an ``r+`` session, a commit) changes it meanwhile and the verdict is never
    a false "corrupt". While a writer holds the file, its header is read
    without the lock: an ``r+`` session in progress has state *being
    modified*, and the outcome is ``"not_verifiable"`` at once; a header in
    state *valid* (a writer committing, or a new file being renamed into place)
    is waited for a little (about 50 ms) before :class:`LockedError` is raised.
    Remote files are not locked.

    Args:
        wait: wait for a writer's lock to be released, however long, instead
            of raising.

    Raises:
        LockedError: a writer holds a file whose header says *valid* for more
            than about 50 ms, and ``wait`` is false (the Rust ``verify`` raises
            at once).
    """
    if is_url(path):
        return _verify_remote(str(path))
    with builtins.open(os.fspath(path), "rb") as fobj:
        fd = fobj.fileno()
        for attempt in range(_VERIFY_LOCK_TRIES):
            try:
                lock(fd, path, SHARED, wait=wait)
                break
            except LockedError:
                unlocked, _, _ = read_validated_unlocked(fd, path)
                if unlocked.checksum_state != S.STATE_VALID:
                    return VerifyResult(os.fspath(path), "not_verifiable", unlocked.checksum_state_name)
                if attempt == _VERIFY_LOCK_TRIES - 1:
                    raise
                time.sleep(0.005)
        header, _, _ = read_validated(fd, path)
        state = header.checksum_state_name
        if header.checksum_state != S.STATE_VALID:
            return VerifyResult(os.fspath(path), "not_verifiable", state)
        found = crc32_range(fd, header.data_offset, header.data_len)
        bad_bool = None
        if header.dtype_info.name == "bool":
            bad_bool = count_bad_bool_bytes(fd, header.data_offset, header.data_len)
    outcome = "valid" if found == header.payload_crc else "payload_checksum_mismatch"
    return VerifyResult(os.fspath(path), outcome, state, header.payload_crc, found, bad_bool)


def _verify_remote(url: str) -> VerifyResult:
    """:func:`verify` of a URL."""
    with RemoteFile(url) as remote:
        header, _ = read_validated_remote(remote)
        state = header.checksum_state_name
        if header.checksum_state != S.STATE_VALID:
            return VerifyResult(url, "not_verifiable", state)
        found = crc32_remote(remote, header.data_offset, header.data_len)
        bad_bool = None
        if header.dtype_info.name == "bool":
            bad_bool = count_bad_bool_remote(remote, header.data_offset, header.data_len)
    outcome = "valid" if found == header.payload_crc else "payload_checksum_mismatch"
    return VerifyResult(url, outcome, state, header.payload_crc, found, bad_bool)


class LazyArray:
    """A picklable, array-like reference to an arrfile, for Dask and other schedulers.

    ``dask.array.from_array(arrfile.open(p))`` works, but Dask copies a numpy
    array given to ``from_array`` and ships the copy to the workers. A
    ``LazyArray`` instead pickles as the path plus the header it was checked
    against; each process maps the file itself on first use (read-only) and
    checks that the layout (dtype, byte order, order, shape, offsets,
    metadata) is unchanged, or grown by appends (format 1.1: it then reads the
    rows it was made with, which never change); checksum-state changes by an in-place writer are
    allowed, and such a reader sees whatever the writer has written. Indexing returns an in-memory copy
    of the selected region as a numpy array.

    Use: ``dask.array.from_array(arrfile.lazy(p), chunks=...)``. On a cluster
    the path must name the same file on every node (shared filesystem).
    """

    def __init__(self, path: PathLike) -> None:
        """Check the file at ``path`` (R1–R24) and remember its description."""
        self.remote = is_url(path)
        self.path = str(path) if self.remote else os.path.abspath(os.fspath(path))
        self._array: Optional[MappedArray] = None
        self._remote: Optional[RemoteFile] = None
        if self.remote:  # keep the checked remote file for this process's reads
            remote = RemoteFile(self.path)
            try:
                header, attributes = read_validated_remote(remote)
            except BaseException:
                remote.close()
                raise
            self._remote = remote
        else:
            header, attributes = read_header(self.path)
        self._header = header
        self.attrs: Optional[dict[str, Any]] = attributes
        self.shape: tuple[int, ...] = header.shape
        self.dtype: np.dtype = S.numpy_dtype(header.dtype_info, header.byte_order_name, self.path)
        self.ndim: int = header.ndim
        self.size: int = int(np.prod(header.shape, dtype=object)) if header.shape else 1

    def _mapped(self) -> MappedArray:
        """This process's read-only map, made on first use."""
        with _OPEN_LOCK:
            return self._mapped_locked()

    def _mapped_locked(self) -> MappedArray:
        """:meth:`_mapped` under the lock."""
        if self._array is None:
            with builtins.open(self.path, "rb") as fobj:
                header, _, _ = read_validated_unlocked(fobj.fileno(), self.path)
                if not grown_from(self._header.layout, header.layout):
                    raise ArrfileError(
                        f"{self.path}: changed: expected the layout seen when the LazyArray "
                        f"was made {self._header.layout}, found {header.layout}",
                        path=self.path,
                        expected=self._header.layout,
                        found=header.layout,
                    )
                # The array this LazyArray describes: a file grown by appends since holds it
                # as its first rows (spec §11.5), which never change.
                mine = self._header
                self._array = make_memmap(
                    fobj, self.path, self.dtype, mine.shape, mine.order_name,
                    mine.data_offset, mine.data_len, "r", mine.layout,
                )
        return self._array

    def _remote_file(self) -> RemoteFile:
        """This process's remote file, opened and checked again (R1–R24) on first use."""
        with _OPEN_LOCK:  # Dask's threads may ask at once: open and check once
            return self._remote_file_locked()

    def _remote_file_locked(self) -> RemoteFile:
        """:meth:`_remote_file` under the lock."""
        if self._remote is None:
            remote = RemoteFile(self.path)
            try:
                header, _ = read_validated_remote(remote)
                if not grown_from(self._header.layout, header.layout):
                    raise ArrfileError(
                        f"{self.path}: changed: expected the layout seen when the LazyArray "
                        f"was made {self._header.layout}, found {header.layout}",
                        path=self.path, expected=self._header.layout, found=header.layout,
                    )
            except BaseException:
                remote.close()
                raise
            self._remote = remote
        return self._remote

    def __getitem__(self, index: Any) -> np.ndarray:
        """An in-memory copy of ``array[index]``.

        For a URL only integers, slices and ``...`` are accepted, and only the
        selected rows are fetched (consecutive rows in one range request).
        """
        if self.remote:
            return read_region(self._remote_file(), self._header, self.dtype, index)
        return np.array(self._mapped()[index])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """The whole array, in memory."""
        data = self[...] if self.remote else np.array(self._mapped())
        return data if dtype is None else data.astype(dtype)

    def __len__(self) -> int:
        """Length of the first axis."""
        if not self.shape:
            raise TypeError("len() of a 0-d arrfile")
        return self.shape[0]

    def close(self) -> None:
        """Unmap the file now. Safe: indexing only ever handed out copies.

        A later access maps the file again (with every reader check).
        """
        remote, self._remote = self._remote, None
        if remote is not None:
            remote.close()
        array, self._array = self._array, None
        if array is not None and array._mmap is not None:
            mm = array._mmap
            del array
            try:
                mm.close()
            except BufferError:  # pragma: no cover - someone holds a view of the private map
                pass

    def __enter__(self) -> "LazyArray":
        """``with arrfile.lazy(p) as x:``; the map is closed at the end."""
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Close the map."""
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the path and header, never the map."""
        state = self.__dict__.copy()
        state["_array"] = None
        state["_remote"] = None
        return state

    def __dask_tokenize__(self) -> Any:
        """A cheap deterministic token: path, header and file identity."""
        if self.remote:
            return ("arrfile.LazyArray", self.path, self._header)
        st = os.stat(self.path)
        return ("arrfile.LazyArray", self.path, self._header, st.st_ino, st.st_mtime_ns)

    def __repr__(self) -> str:
        """Short description."""
        return f"LazyArray({self.path!r}, shape={self.shape}, dtype={self.dtype})"


def lazy(path: PathLike) -> LazyArray:
    """A :class:`LazyArray` for ``path`` (checked now, mapped per process on use)."""
    return LazyArray(path)
