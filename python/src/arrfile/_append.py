"""Arrays that grow (format 1.1, spec §11): ``append``, ``appender`` and ``recover``.

Rows are appended along the **outer axis** (axis 0 in C order, the last axis in F order:
the slowest-varying one, so that new elements follow the old ones in the payload). The old
rows are never rewritten nor read again; the cost is O(appended bytes).

The transaction (spec §11.2) of an :class:`Appender`:

0. open the file read-write; take the shared ``flock`` (which keeps ``r+`` sessions out and
   lets readers in) and the exclusive *append lock*, an OFD record lock over the whole file
   (which keeps other appenders, recoverers and replacing writers out); check that the path
   still names the opened file; read and check the header (1.1 rules). A file whose bit 0 is
   already set belongs to a dead appender (this one holds the append lock): it is recovered
   first.
1. before the first row: write the header *mid-append* (required bit 0 set,
   ``append_base_len = data_len``, every other field unchanged) and ``fsync``;
2. write the rows after the committed payload with ``pwrite``, hashing them as they go
   (CRC-32 of the appended bytes alone); ``fdatasync`` before the commit;
3. commit: one ``pwrite`` of the 640-byte header of the grown array (outer dimension,
   ``data_len``, the checksum combined from the old CRC and the rows' CRC with
   ``crc32_combine``, bit 0 cleared, offset 72 zero), then ``fsync``.

Until step 3 is durable, 1.1 readers see the old array and 1.0 readers refuse the file
(R6). A kill leaves bit 0 set; :func:`recover` (or the next appender, or an ``r+`` open)
rolls the file back: cut it to the committed length, ``fsync``, clear the bit, ``fsync``.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Iterable, Optional

import numpy as np

from . import _spec as S
from ._crc import crc32_combine, crc32_parallel
from ._errors import (
    AppendMismatchError,
    ArrfileError,
    NotAppendableError,
    PartialRowError,
    PathLike,
    ReplacedError,
    SizeOverflowError,
)
from ._fileio import pwrite_all, read_validated
from ._header import Header, begin_append_header, committed_append_header, end_append_header, parse_header
from ._lock import EXCLUSIVE, SHARED, close_quietly, lock, lock_append, names_this_file, owned, unlock, unlock_append

_O_RDWR = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
#: Opens of a path whose file keeps being replaced before an appender gives up looking again.
REOPEN_ATTEMPTS = 16
#: Bytes taken from an input array at a time (whole rows; a larger row is taken whole).
SLAB_BYTES = 16 * 1024 * 1024


def roll_back(fd: int, raw_header: bytes, header: Header) -> int:
    """Recovery (spec §11.3) on an open, locked file whose header is ``header``.

    1. cut the file to ``data_offset + data_len`` and ``fsync``;
    2. write the header with bit 0 cleared and offset 72 zero, and ``fsync``.

    The order matters (clearing the bit first would leave trailing bytes, R20); each step is
    idempotent. The result is byte for byte the file before the append began.

    Returns:
        The bytes cut (the uncommitted rows).
    """
    length = os.fstat(fd).st_size
    os.ftruncate(fd, header.file_len)
    os.fsync(fd)
    pwrite_all(fd, end_append_header(raw_header, header), 0)
    os.fsync(fd)
    return max(0, length - header.file_len)


def _open_locked(path: PathLike, wait: bool) -> int:
    """Open ``path`` read-write holding the shared ``flock`` and the exclusive append lock.

    Once locked, the path must still name the opened file (a writer may have renamed another
    file over it while this open waited); else it is opened again.

    Raises:
        LockedError: ``wait`` false and an ``r+`` session (exclusive ``flock``), an appender,
            a recovery or a replacing writer (append lock) holds the file.
    """
    name = os.fspath(path)
    for attempt in range(REOPEN_ATTEMPTS):
        fd = os.open(name, _O_RDWR)
        try:
            lock(fd, path, SHARED, wait=wait, stacklevel=5)
            lock_append(fd, path, EXCLUSIVE, wait=wait, stacklevel=5)
        except BaseException:
            os.close(fd)
            raise
        if names_this_file(name, fd) or attempt == REOPEN_ATTEMPTS - 1:
            return fd
        os.close(fd)  # releases both locks: nothing else has this open file
    raise AssertionError("unreachable")  # pragma: no cover


def _release(fd: int, pid: int) -> None:
    """Release both locks (only in the process ``pid`` that took them) and close ``fd``."""
    unlock_append(fd, pid)
    unlock(fd, pid)
    close_quietly(fd)


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` did.

    Attributes:
        path: the file.
        recovered: whether an interrupted append was rolled back (bit 0 was set). False: the
            file had no append to recover and was not written.
        cut_bytes: the uncommitted bytes cut from the end of the file (0 when the append had
            written none, or a previous recovery was interrupted after cutting them).
        shape: the committed array's shape, which the file holds now.
    """

    path: str
    recovered: bool
    cut_bytes: int
    shape: tuple[int, ...]


def recover(path: PathLike, *, wait: bool = False) -> Recovery:
    """Roll back an interrupted append (spec §11.3); idempotent.

    Takes the shared ``flock`` and the exclusive append lock, so it never runs while an
    appender lives (readers are not disturbed: they never map past the committed payload).
    If required bit 0 is set, the file is cut to ``data_offset + data_len`` and made durable,
    then the header is written with bit 0 cleared and made durable: the file is byte for byte
    what it was before the append began. Rows that were not committed are never kept. A file
    without bit 0 is left untouched.

    Args:
        wait: wait for an appender, a recovery, an ``r+`` session or a replacing writer
            holding the file, instead of raising :class:`LockedError`.

    Returns:
        A :class:`Recovery`: whether anything was done, how many bytes were cut, the shape.

    Raises:
        LockedError: ``wait`` false and another process holds the file (a live appender).
        ArrfileError: the file fails a reader check (1.1 rules).
    """
    pid = os.getpid()
    fd = _open_locked(path, wait)
    try:
        header, raw, _ = read_validated(fd, path)
        cut = roll_back(fd, raw, header) if header.append_in_progress else None
    finally:
        _release(fd, pid)
    return Recovery(os.fspath(path), cut is not None, cut or 0, header.shape)


class _State:
    """What an :class:`Appender` and its finalizer share (the finalizer must not hold the appender)."""

    def __init__(self, fd: int, pid: int, raw: bytes, header: Header) -> None:
        self.fd = fd
        self.pid = pid
        self.raw = raw  # the committed header's bytes (bit 0 clear)
        self.header = header  # the committed header
        self.begun = False  # the header mid-append is on disk
        self.closed = False


def _abandon(state: _State) -> None:
    """Finalizer of an appender dropped without ``close``: roll back, release, close (best effort).

    In a forked child (any process but the one that opened it) nothing is rolled back or
    released: the child shares its parent's open file and locks.
    """
    if state.closed:
        return
    state.closed = True
    if owned(state.pid) and state.begun:
        try:
            roll_back(state.fd, state.raw, state.header)
        except OSError:  # pragma: no cover - best effort; bit 0 stays set for recovery
            pass
    _release(state.fd, state.pid)


def _is_array_like(x: Any) -> bool:
    """A numpy array or anything with ``shape``, ``dtype`` and slicing (memmaps, h5py, Zarr, Dask)."""
    return isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "__getitem__"))


def _fmt_shape(shape: tuple[Any, ...]) -> str:
    """``(3,)``, ``(k, 3)``: a shape as Python writes it."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Appender:
    """Rows appended to an existing arrfile along its outer axis (format 1.1, spec §11).

    Made by :func:`arrfile.appender`; use it as a context manager::

        with arrfile.appender("log.arr") as w:
            for batch in source:
                w.write(batch)          # (k, *trailing) rows, or one row of the trailing shape
        # committed on a clean exit; rolled back (file byte for byte as before) on an exception

    While it is open it holds the shared ``flock`` and the exclusive append lock: ``r+``
    sessions, other appenders, recoverers and replacing writers (``save`` over the file) are
    refused (``LockedError``) or wait; readers keep reading the last committed array.

    Rows: in C order, an array of shape ``(k, *trailing)``; in F order ``(*trailing, k)``,
    ``trailing`` being the file's other dimensions (:attr:`trailing_shape`). An array of
    exactly the trailing shape (one dimension less than the file) is one row. Arrays (numpy,
    memmaps, h5py, Zarr, Dask: anything with ``shape``, ``dtype`` and slicing) must have the
    file's dtype; another byte order is converted to the file's. Lists and scalars are
    converted to the file's dtype (refused when that would change the kind, e.g. floats into
    an integer file). ``bool`` rows are written as bytes 0/1.

    The header mid-append is written at the first row, not at the open: an appender that
    writes nothing leaves the file untouched. :meth:`commit` makes the rows written so far
    part of the array and the appender stays open for more (each commit is one header write
    and two ``fsync``); leaving the ``with`` block commits what is pending. :meth:`rollback`
    discards the rows written since the last commit.

    Attributes:
        path: the file (absolute).
        recovered: the bytes cut by the recovery of a dead appender's interrupted append at
            open, or ``None`` when there was none.
    """

    def __init__(self, path: PathLike, *, wait: bool = False) -> None:
        """Open and lock ``path`` (see :func:`arrfile.appender`)."""
        self.path = os.path.abspath(os.fspath(path))
        pid = os.getpid()
        fd = _open_locked(path, wait)
        try:
            header, raw, _ = read_validated(fd, path)
            self.recovered: Optional[int] = None
            if header.append_in_progress:  # a dead appender's: we hold the append lock
                self.recovered = roll_back(fd, raw, header)
                header, raw, _ = read_validated(fd, path)
            if header.ndim == 0:
                raise NotAppendableError(
                    f"{self.path}: not_appendable: expected an array with at least one dimension "
                    f"to append along, found a 0-d array (spec §11.1)",
                    path=self.path, expected="ndim >= 1", found="ndim 0",
                )
        except BaseException:
            _release(fd, pid)
            raise
        self._state = _State(fd, pid, raw, header)
        self._finalizer = weakref.finalize(self, _abandon, self._state)
        self._lock = threading.RLock()
        self._pending_bytes = 0
        self._pending_crc = 0
        self._pending_zero_rows = 0  # rows of 0 bytes (a trailing dimension is 0)
        self._rows_committed = 0
        self._dtype: Optional[np.dtype] = None

    # -- description ----------------------------------------------------------

    @property
    def header(self) -> Header:
        """The committed header (the array as readers see it)."""
        return self._state.header

    @property
    def shape(self) -> tuple[int, ...]:
        """The committed shape (rows written but not committed are not in it)."""
        return self._state.header.shape

    @property
    def order(self) -> str:
        """``"C"`` or ``"F"``."""
        return self._state.header.order_name

    @property
    def outer_axis(self) -> int:
        """The axis rows are appended along: 0 in C order, the last in F order."""
        axis = self._state.header.outer_axis
        assert axis is not None  # 0-d files are refused at open
        return axis

    @property
    def trailing_shape(self) -> tuple[int, ...]:
        """The shape of one row: the file's dimensions other than the outer axis."""
        return self._state.header.trailing_shape

    @property
    def row_len(self) -> int:
        """Bytes per row."""
        return self._state.header.row_len

    @property
    def dtype(self) -> np.dtype:
        """The file's numpy dtype, with its byte order (bf16/fp8 need ``ml_dtypes``)."""
        if self._dtype is None:
            h = self._state.header
            self._dtype = S.numpy_dtype(h.dtype_info, h.byte_order_name, self.path)
        return self._dtype

    @property
    def rows_pending(self) -> int:
        """Whole rows written since the last commit (not yet part of the array)."""
        row_len = self.row_len
        return self._pending_bytes // row_len if row_len else self._pending_zero_rows

    @property
    def rows_written(self) -> int:
        """Rows written through this appender, committed or pending."""
        return self._rows_committed + self.rows_pending

    @property
    def rows_committed(self) -> int:
        """Rows this appender has committed."""
        return self._rows_committed

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` (or the end of a ``with`` block) has run."""
        return self._state.closed

    # -- writing --------------------------------------------------------------

    def _check_usable(self, what: str) -> None:
        """Refuse to ``what`` a closed appender, or in a process that did not open it."""
        if self._state.closed:
            raise ValueError(f"{self.path}: cannot {what}: the appender is closed")
        if not owned(self._state.pid):
            raise ArrfileError(
                f"{self.path}: cannot {what} in process {os.getpid()}: expected the process that "
                f"opened the appender ({self._state.pid}), found a forked child",
                path=self.path, expected=f"process {self._state.pid}", found=f"process {os.getpid()}",
            )

    def _mismatch(self, what: str, expected: Any, found: Any, hint: str = "") -> AppendMismatchError:
        """The error for rows that do not fit the file."""
        return AppendMismatchError(
            f"{self.path}: append_mismatch: {what}: expected {expected}, found {found}{hint}",
            path=self.path, expected=expected, found=found,
        )

    def _check_dtype(self, dtype: np.dtype) -> None:
        """Refuse rows of another element type (another byte order is converted)."""
        h = self._state.header
        try:
            info, _ = S.spec_dtype_of(dtype)
        except TypeError:
            info = None
        if info is None or info.code != h.dtype_code:
            found = f"{dtype} ({info.name})" if info is not None else f"{dtype} (not an arrfile dtype)"
            raise self._mismatch(
                "rows of another dtype", f"{h.dtype_info.name} ({self.dtype})", found,
                f"; convert them with rows.astype({str(self.dtype)!r})",
            )

    def _reserve(self, rows: int) -> None:
        """Refuse, before anything is written, a grown array beyond the size bound (§6, §11.1)."""
        h = self._state.header
        outer = h.outer_len
        assert outer is not None
        new_outer = outer + self.rows_pending + rows
        shape = h.with_outer_len(new_outer)
        size = h.dtype_info.itemsize
        for dim in shape:
            if dim:
                size *= dim
        if size > S.SIZE_BOUND or new_outer >= 1 << 64:
            raise SizeOverflowError(
                f"{self.path}: size_overflow: appending {rows} rows: expected the grown array "
                f"within 2^62 bytes (product of non-zero dimensions x itemsize), found shape "
                f"{list(shape)} x itemsize {h.dtype_info.itemsize}; nothing was written",
                path=self.path, expected="<= 2^62 bytes", found=f"shape {list(shape)}",
            )

    def _begin(self) -> None:
        """Step 1: the header mid-append, durable, before the first byte past the payload."""
        st = self._state
        pwrite_all(st.fd, begin_append_header(st.raw, st.header), 0)
        os.fsync(st.fd)
        st.begun = True

    def _put(self, raw: Any, rows: int) -> None:
        """Step 2: ``raw`` (payload bytes of whole rows, or part of one) after what is written."""
        st = self._state
        if not st.begun:
            self._begin()
        size = len(raw)
        if size:
            pwrite_all(st.fd, raw, st.header.file_len + self._pending_bytes)
            self._pending_crc = crc32_parallel(raw, self._pending_crc)
            self._pending_bytes += size
        elif not self.row_len:
            self._pending_zero_rows += rows

    def _row_source(self, rows: Any) -> tuple[Any, int, bool]:
        """``(source, count, single)``: the rows as an array-like of the file's dtype (up to
        byte order), how many, and whether it is one row of the trailing shape."""
        h = self._state.header
        if _is_array_like(rows):
            source = rows
            self._check_dtype(np.dtype(source.dtype))
        else:
            found = np.asarray(rows)
            if found.dtype != self.dtype and not np.can_cast(found.dtype, self.dtype, "same_kind"):
                raise self._mismatch(
                    "values that do not convert to the file's dtype without changing kind",
                    f"{h.dtype_info.name} ({self.dtype})", f"{found.dtype}",
                    f"; convert them with numpy.asarray(rows).astype({str(self.dtype)!r})",
                )
            source = np.asarray(found, dtype=self.dtype)
        shape = tuple(int(d) for d in source.shape)
        trailing = h.trailing_shape
        f_order = h.order == 1
        count, single, found_trailing = 0, False, None
        if len(shape) == h.ndim:
            count = shape[-1] if f_order else shape[0]
            found_trailing = shape[:-1] if f_order else shape[1:]
            single = False
        elif len(shape) == h.ndim - 1:  # one row, unambiguous: a stack of rows has ndim dims
            count, found_trailing, single = 1, shape, True
        if found_trailing != trailing:
            stack = _fmt_shape(tuple(trailing) + ("k",)) if f_order else _fmt_shape(("k",) + tuple(trailing))
            raise self._mismatch(
                f"rows that do not fit a file of shape {_fmt_shape(h.shape)} ({h.order_name} order)",
                f"{stack} (k rows of trailing shape {_fmt_shape(trailing)}) or {_fmt_shape(trailing)} (one row)",
                f"shape {_fmt_shape(shape)}",
            )
        return source, count, single

    def _file_bytes(self, block: np.ndarray) -> np.ndarray:
        """A block of rows as payload bytes: the file's byte order and order, bool as 0/1."""
        if block.dtype != self.dtype:
            block = block.astype(self.dtype)
        if self._state.header.order == 1:
            raw = np.asfortranarray(block).T.reshape(-1).view(np.uint8)
        else:
            raw = np.ascontiguousarray(block).reshape(-1).view(np.uint8)
        if self._state.header.dtype_info.name == "bool":
            raw = (raw != 0).view(np.uint8)
        return raw

    def write(self, rows: Any) -> int:
        """Append rows (not yet committed; see :meth:`commit`).

        Args:
            rows: in C order an array of shape ``(k, *trailing_shape)``, in F order
                ``(*trailing_shape, k)``; or one row, of shape ``trailing_shape``. The
                file's dtype (any byte order) for arrays; lists and scalars are converted.
                Large inputs are taken in slabs of about 16 MiB (whole rows).

        Returns:
            The number of rows written.

        Raises:
            AppendMismatchError: another dtype or another trailing shape (the message says
                what differs); nothing is written.
            SizeOverflowError: the grown array would exceed 2^62 bytes; nothing is written.
            PartialRowError: raw bytes written by :meth:`write_bytes` end inside a row.
        """
        with self._lock:
            self._check_usable("write")
            source, count, single = self._row_source(rows)
            if count == 0:
                return 0
            row_len = self.row_len
            if row_len and self._pending_bytes % row_len:
                raise PartialRowError(
                    f"{self.path}: partial_row: expected rows to start at a row boundary, found "
                    f"{self._pending_bytes % row_len} bytes of a partial row written by write_bytes; "
                    f"complete it with write_bytes first",
                    path=self.path, expected=0, found=self._pending_bytes % row_len,
                )
            self._reserve(count)
            if single:
                self._put(self._file_bytes(np.asarray(source)), 1)
                return 1
            f_order = self._state.header.order == 1
            step = max(1, SLAB_BYTES // max(row_len, 1))
            for start in range(0, count, step):
                stop = min(start + step, count)
                index = (Ellipsis, slice(start, stop)) if f_order else (slice(start, stop),)
                self._put(self._file_bytes(np.asarray(source[index])), stop - start)
            return count

    def write_bytes(self, data: Any) -> None:
        """Append raw payload bytes: the file's dtype, byte order and order, rows in sequence.

        A row may span calls; :meth:`commit` needs a whole number of rows. For a file whose
        rows have 0 bytes (a trailing dimension is 0), use :meth:`write`.
        """
        with self._lock:
            self._check_usable("write")
            view = memoryview(data).cast("B")
            if not len(view):
                return
            if not self.row_len:
                raise self._mismatch("bytes for rows of 0 bytes", "no bytes (use write() with an array of k rows)", f"{len(view)} bytes")
            whole = (self._pending_bytes + len(view)) // self.row_len - self.rows_pending
            self._reserve(whole)
            self._put(view, whole)

    def commit(self) -> tuple[int, ...]:
        """Make the rows written so far part of the array (spec §11.2, step 3).

        The rows are made durable (``fdatasync``), then one 640-byte header write gives the
        grown shape, ``data_len`` and checksum (state *valid*: the CRC combined from the old
        CRC and the new rows' without reading the old rows; *absent* and *being modified*
        stay as they were), with bit 0 cleared; then ``fsync``. The appender stays open for
        more rows. Without rows written, nothing is written.

        Returns:
            The committed shape.

        Raises:
            PartialRowError: the bytes written end inside a row; nothing is committed and the
                appender stays open.
            ReplacedError: the path no longer names the file (a program that ignores locks
                replaced it); the rows were rolled back and the appender closed.
        """
        with self._lock:
            self._check_usable("commit")
            st = self._state
            if not st.begun:
                return st.header.shape
            row_len = self.row_len
            if row_len and self._pending_bytes % row_len:
                rest = self._pending_bytes % row_len
                raise PartialRowError(
                    f"{self.path}: partial_row: cannot commit: expected whole rows of {row_len} "
                    f"bytes, found {self._pending_bytes} bytes ({self.rows_pending} rows and "
                    f"{rest} bytes); nothing was committed",
                    path=self.path, expected=f"a multiple of {row_len} bytes", found=self._pending_bytes,
                )
            if self._pending_bytes:
                os.fdatasync(st.fd)
            if not names_this_file(self.path, st.fd):
                self._replaced("the rows were rolled back in the replaced file")
            h = st.header
            rows = self.rows_pending
            outer = h.outer_len
            assert outer is not None
            crc = crc32_combine(h.payload_crc, self._pending_crc, self._pending_bytes) if h.checksum_state == S.STATE_VALID else 0
            raw = committed_append_header(st.raw, h, outer + rows, h.checksum_state, crc)
            pwrite_all(st.fd, raw, 0)
            os.fsync(st.fd)
            st.begun = False
            st.raw = raw
            st.header = parse_header(raw, h.data_offset + (outer + rows) * row_len, self.path)
            self._rows_committed += rows
            self._pending_bytes = self._pending_crc = self._pending_zero_rows = 0
            if not names_this_file(self.path, st.fd):
                self._replaced("the rows were committed only in the replaced file", roll_back_first=False)
            return st.header.shape

    def _replaced(self, what: str, *, roll_back_first: bool = True) -> None:
        """Close (rolling back pending rows) and raise :class:`ReplacedError`."""
        if roll_back_first:
            try:
                self.rollback()
            except OSError:  # pragma: no cover - best effort: bit 0 stays for recovery
                pass
        self.close()
        raise ReplacedError(
            f"{self.path}: replaced: expected the appender's file at its path, found another "
            f"file (or none): a program that ignores locks replaced it; {what}, nothing was "
            f"appended at the path",
            path=self.path, expected="the appender's file at its path", found="another file",
        )

    def rollback(self) -> int:
        """Discard the rows written since the last commit (spec §11.3 on this file).

        Returns:
            The number of whole rows discarded.
        """
        with self._lock:
            self._check_usable("roll back")
            st = self._state
            rows = self.rows_pending
            if st.begun:
                roll_back(st.fd, st.raw, st.header)
                st.begun = False
            self._pending_bytes = self._pending_crc = self._pending_zero_rows = 0
            return rows

    def close(self) -> None:
        """Roll back what is not committed, release the locks and close the file.

        In a forked child nothing is rolled back or released (the parent's appender goes on).
        """
        with self._lock:
            st = self._state
            if st.closed:
                return
            try:
                if st.begun and owned(st.pid):
                    roll_back(st.fd, st.raw, st.header)
                    st.begun = False
            finally:
                st.closed = True
                self._finalizer.detach()
                _release(st.fd, st.pid)

    def __enter__(self) -> "Appender":
        """``with arrfile.appender(p) as w:``."""
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Commit on a clean exit; roll back on an exception (best effort) and close."""
        if self._state.closed:
            return
        if exc_type is None:
            try:
                self.commit()
            finally:
                self.close()
            return
        try:
            self.close()
        except Exception:  # pragma: no cover - keep the caller's exception; bit 0 stays set
            pass

    def __repr__(self) -> str:
        """Short description."""
        state = "closed" if self.closed else f"{self.rows_pending} rows pending"
        return f"Appender({self.path!r}, shape={self.shape}, {state})"


def appender(path: PathLike, *, wait: bool = False) -> Appender:
    """Open an existing arrfile to append rows along its outer axis (format 1.1, spec §11).

    ``with arrfile.appender(path) as w: w.write(rows)`` commits on a clean exit and rolls
    back on an exception; see :class:`Appender` for the rows it accepts, :meth:`Appender.commit`
    and :meth:`Appender.rollback`. An interrupted append a dead appender left is recovered
    first (``w.recovered``).

    Args:
        path: an existing local arrfile with at least one dimension.
        wait: wait for an ``r+`` session, another appender, a recovery or a replacing writer
            holding the file, instead of raising :class:`LockedError`.

    Raises:
        LockedError: ``wait`` false and another process holds the file.
        NotAppendableError: a 0-d array.
        ArrfileError: the file fails a reader check.
    """
    return Appender(path, wait=wait)


def _items(data: Any) -> Iterable[Any]:
    """``append``'s argument as a sequence of row arrays."""
    if isinstance(data, (list, tuple)) and all(_is_array_like(x) for x in data):
        return data  # no arrays at all when empty
    if not _is_array_like(data) and hasattr(data, "__next__"):  # a generator or iterator of arrays
        return data  # type: ignore[no-any-return]
    return (data,)


def append(path: PathLike, data: Any, *, wait: bool = False) -> tuple[int, ...]:
    """Append rows to an arrfile along its outer axis and commit them (format 1.1, spec §11).

    Args:
        path: an existing local arrfile with at least one dimension.
        data: rows (see :class:`Appender`: ``(k, *trailing)`` in C order, ``(*trailing, k)``
            in F order, or one row of the trailing shape), or a list, tuple or iterator of
            such arrays (numpy arrays or array-likes; an empty list appends nothing),
            appended in order in one transaction. A list of plain numbers or lists is one
            array.
        wait: wait for another process holding the file instead of raising.

    Returns:
        The file's new shape.

    Raises:
        AppendMismatchError: rows of another dtype or trailing shape; the file is unchanged.
        LockedError, NotAppendableError, SizeOverflowError, ArrfileError: as :func:`appender`.
    """
    with Appender(path, wait=wait) as w:
        for item in _items(data):
            w.write(item)
    return w.shape


__all__ = ["Appender", "Recovery", "append", "appender", "recover", "roll_back"]
