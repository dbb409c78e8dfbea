"""In-place modification: the *being modified* protocol of spec §8.

``open(path, "r+")`` calls :func:`begin` before it hands out the writable map:
the header gets ``checksum_state = 2`` and ``payload_crc = 0`` with a new header
CRC, and is made durable. :func:`commit` makes the payload durable, computes
its CRC-32 (streamed, never the whole file in memory), writes ``checksum_state
= 1`` with that CRC and makes the header durable.

While a ``r+`` map is out, this process holds an exclusive advisory lock
(``flock``) on the file, so that a second in-place writer using this library on
the same host (or on a filesystem that propagates ``flock``) fails fast instead
of interleaving the protocol, and readers (which hold a shared lock while they
map) and replacing writers (which lock the file they replace) stay out. The lock
is released by :func:`commit`, ``close()`` or when the map is garbage-collected,
only in the process that opened the session (never in a forked child). Once
locked, the path must still name the opened file; :func:`commit` raises
:class:`ReplacedError` when a program that ignores locks renamed another file
over it.

:class:`PayloadTarget` lets other processes (Dask workers) write regions of a
payload whose file is in state *being modified*: it refuses any other state,
so a worker can never write under a header that claims a valid checksum.
"""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass
from typing import IO, Any, Optional, Union

import numpy as np

from . import _spec as S
from ._errors import ArrfileError, NotBeingModifiedError, PathLike, ReplacedError
from ._fileio import crc32_range, pwrite_all, read_raw_header, read_validated, read_validated_unlocked
from ._append import roll_back
from ._header import parse_header, patch_checksum
from ._mapping import make_memmap

from ._lock import EXCLUSIVE, owned
from ._lock import lock as _lock
from ._lock import names_this_file
from ._lock import unlock as _unlock_fd


class TargetMismatchError(ArrfileError):
    """A payload target does not describe the file now at its path."""

    kind = "target_mismatch"


def lock_exclusive(fobj: IO[bytes], path: PathLike, *, wait: bool = False) -> None:
    """Take an exclusive advisory lock on an open file (non-blocking unless ``wait``).

    Raises:
        LockedError: another open file description holds a lock ("locked by another process").
    """
    _lock(fobj.fileno(), path, EXCLUSIVE, wait=wait, stacklevel=4)


def unlock(fobj: IO[bytes], pid: Optional[int] = None) -> None:
    """Release an advisory lock taken by :func:`lock_exclusive` in process ``pid`` (default:
    this one); in any other process (a forked child) nothing is released."""
    if fobj.closed:
        return
    _unlock_fd(fobj.fileno(), os.getpid() if pid is None else pid)


def _replaced_error(path: PathLike) -> ReplacedError:
    """The error of a commit into a file that is no longer at its path."""
    return ReplacedError(
        f"{os.fspath(path)}: replaced: the file was replaced at its path while this r+ session "
        f"had it open (by a program that ignores locks); expected the committed changes to be "
        f"at the path, found another file (or none) there: the changes are only in the old file, and "
        f"nothing was committed at the path",
        path=path,
        expected="the file of the r+ session at its path",
        found="another file",
    )


class _Session:
    """One ``r+`` open: the locked file and the map handed out for it."""

    def __init__(self, fobj: IO[bytes], path: PathLike) -> None:
        """Remember the locked open file, its path and the process that locked it."""
        self.fobj = fobj
        self.path = os.path.abspath(os.fspath(path))
        self.pid = os.getpid()
        self.closed = False
        self.array_ref: Optional[weakref.ReferenceType[Any]] = None

    def identity(self) -> tuple[int, int]:
        """``(st_dev, st_ino)`` of the open file."""
        st = os.fstat(self.fobj.fileno())
        return st.st_dev, st.st_ino

    def close(self) -> None:
        """Release the advisory lock and close the file.

        The lock is released explicitly: the map holds a duplicate of the
        descriptor (same open file description), so closing ours alone would
        keep the ``flock`` for as long as the map lives.

        In a forked child (any process but the one that opened the session) nothing is
        released: the child shares the parent's open file, and its unlock would release the
        parent's lock. Its own descriptor is closed, which releases nothing while the parent
        has the file open.
        """
        if not self.closed:
            self.closed = True
            unlock(self.fobj, self.pid)
            self.fobj.close()

    def check_owner(self, what: str) -> None:
        """Refuse to ``what`` (commit) a session in a process other than the one that opened it."""
        if not owned(self.pid):
            raise ArrfileError(
                f"{self.path}: cannot {what} in process {os.getpid()}: expected the process that "
                f"opened the r+ session ({self.pid}), found a forked child; commit in the parent",
                path=self.path,
                expected=f"process {self.pid}",
                found=f"process {os.getpid()}",
            )


_SESSIONS: dict[int, _Session] = {}
_SESSIONS_LOCK = threading.Lock()


def _forget(key: int, session: _Session) -> None:
    """Finalizer of a ``r+`` map: drop its session and release the lock."""
    with _SESSIONS_LOCK:
        if _SESSIONS.get(key) is session:
            del _SESSIONS[key]
    session.close()


def begin(fobj: IO[bytes], raw_header: bytes, path: PathLike) -> bytes:
    """Protocol step 1: write state 2 with payload_crc 0 and make it durable.

    Returns:
        The header bytes now on disk.
    """
    patched = patch_checksum(raw_header, S.STATE_BEING_MODIFIED, 0)
    pwrite_all(fobj.fileno(), patched, 0)
    os.fsync(fobj.fileno())
    return patched


#: Opens of a path whose file keeps being replaced before an r+ writer gives up looking again.
REOPEN_ATTEMPTS = 16


def open_for_update(path: PathLike, *, wait: bool = False) -> np.memmap:
    """Open ``path`` in mode ``r+`` following the *being modified* protocol.

    The exclusive lock is taken first; then the path must still name the opened file (a
    writer may have renamed a new file over it while this open waited): else it is opened
    again, up to :data:`REOPEN_ATTEMPTS` times. Only then is the header read and validated.
    A file whose append was interrupted (format 1.1, required bit 0) is recovered first
    (spec §11.3): no appender can be alive under the exclusive lock.
    """
    name = os.fspath(path)
    attempts = 0
    while True:
        fobj = open(name, "r+b")
        try:
            lock_exclusive(fobj, path, wait=wait)
        except BaseException:
            fobj.close()
            raise
        attempts += 1
        if names_this_file(name, fobj.fileno()) or attempts >= REOPEN_ATTEMPTS:
            break
        fobj.close()  # releases its lock: nothing else has this open file
    try:
        header, raw, _ = read_validated(fobj.fileno(), path)
        if header.append_in_progress:
            # 1.1 (spec §11.5): under the exclusive lock no appender lives (it would hold the
            # shared one): roll the interrupted append back before changing anything.
            roll_back(fobj.fileno(), raw, header)
            header, raw, _ = read_validated(fobj.fileno(), path)
        dtype = S.numpy_dtype(header.dtype_info, header.byte_order_name, name)
        begin(fobj, raw, path)
        array = make_memmap(
            fobj, path, dtype, header.shape, header.order_name, header.data_offset, header.data_len, "r+",
            header.layout,
        )
    except BaseException:
        fobj.close()
        raise
    session = _Session(fobj, path)
    session.array_ref = weakref.ref(array)
    with _SESSIONS_LOCK:
        _SESSIONS[id(array)] = session
    weakref.finalize(array, _forget, id(array), session)
    return array


def _session_of_array(array: np.ndarray) -> tuple[Optional[_Session], Optional[np.ndarray]]:
    """The session of a ``r+`` map, found from the map or any view of it."""
    candidate: Any = array
    with _SESSIONS_LOCK:
        while candidate is not None:
            session = _SESSIONS.get(id(candidate))
            if (session is not None and session.array_ref is not None
                    and session.array_ref() is candidate and not session.closed):
                return session, candidate
            candidate = getattr(candidate, "base", None)
    return None, None


def _session_of_path(path: PathLike) -> tuple[Optional[_Session], Optional[np.ndarray]]:
    """The session of this process that has the file at ``path`` open, if any."""
    st = os.stat(os.fspath(path))
    with _SESSIONS_LOCK:
        sessions = list(_SESSIONS.items())
    for _key, session in sessions:
        if session.closed or not owned(session.pid):
            continue
        if session.identity() == (st.st_dev, st.st_ino):
            base = session.array_ref() if session.array_ref is not None else None
            return session, base
    return None, None


def commit_fd(fobj: IO[bytes], path: PathLike, *, payload_durable_first: bool = True) -> int:
    """Protocol step 3 on an open file: durable payload, CRC, state 1, durable header.

    The whole file is checked again (R1–R25) before the header is rewritten. The caller
    holds the exclusive lock; an interrupted append (bit 0) is rolled back first.

    Args:
        fobj: the file, open for reading and writing.
        path: its path, for errors.
        payload_durable_first: ``fsync`` the payload before the header claims
            its CRC (spec §8, for a file others can see). A new file's
            temporary file, which nobody opens until it is renamed over the
            final path, needs only the one ``fsync`` after the header write,
            before the rename: :meth:`ArrayWriter.finish` passes ``False``.

    Returns:
        The payload CRC-32 now recorded in the header.
    """
    fd = fobj.fileno()
    if payload_durable_first:
        os.fsync(fd)
    header, raw, _ = read_validated(fd, path)
    if header.append_in_progress:  # an interrupted append (1.1): roll it back first (§11.5)
        roll_back(fd, raw, header)
        header, raw, _ = read_validated(fd, path)
    crc = crc32_range(fd, header.data_offset, header.data_len)
    pwrite_all(fd, patch_checksum(raw, S.STATE_VALID, crc), 0)
    os.fsync(fd)
    return crc


def _commit_fresh(session: _Session) -> int:
    """Commit through a freshly opened descriptor of the session's file.

    A new open makes network filesystems revalidate their cache (close-to-open
    consistency), so the CRC covers what other clients (workers) wrote, not
    pages this client cached before they did. The session keeps the lock.

    The path must name the session's file before the CRC is computed and still after the
    header is written; a file renamed over the path by a program that ignores locks raises
    :class:`ReplacedError` (the changes are only in the old file), never a success.
    """
    session.check_owner("commit")
    try:
        fresh = open(session.path, "r+b")
    except FileNotFoundError:
        raise _replaced_error(session.path) from None
    with fresh:
        st = os.fstat(fresh.fileno())
        if (st.st_dev, st.st_ino) != session.identity():
            raise _replaced_error(session.path)
        crc = commit_fd(fresh, session.path)
        if not names_this_file(session.path, session.fobj.fileno()):
            raise _replaced_error(session.path)
        return crc


def release(array: np.ndarray) -> None:
    """End an ``r+`` session without a commit: flush, make read-only, release the lock.

    The file stays in state *being modified* (not verifiable, but honest).
    Does nothing for an array that is not (a view of) an open ``r+`` map.
    """
    session, base = _session_of_array(array)
    if session is None:
        return
    if isinstance(base, np.memmap):
        base.flush()
        base.flags.writeable = False
    with _SESSIONS_LOCK:
        for key, value in list(_SESSIONS.items()):
            if value is session:
                del _SESSIONS[key]
    session.close()


def commit(target: Union[np.ndarray, PathLike]) -> int:
    """Commit in-place changes: flush, compute the payload CRC, write state *valid*.

    Args:
        target: the array returned by ``arrfile.open(path, "r+")`` (or any view
            of it), or the path of a file in state *being modified* (for
            example one whose payload other processes wrote through
            :class:`PayloadTarget`).

    Returns:
        The payload CRC-32 recorded in the header.

    After a commit of an ``r+`` map, the map is made read-only and its lock
    released; open the file with ``r+`` again to make further changes.
    Writing through views created before the commit would make the recorded
    CRC stale: don't.

    Raises:
        LockedError: given a path that another in-place writer has open.
        ArrfileError: the file no longer passes the reader checks.
        TypeError: given an array that is not an arrfile ``r+`` map.
    """
    if isinstance(target, np.ndarray):
        session, base = _session_of_array(target)
        if session is None:
            raise TypeError(
                "commit() needs the array returned by arrfile.open(path, 'r+') (or a view "
                "of it), or a path; this array is not an open arrfile r+ map"
            )
        if isinstance(target, np.memmap):
            target.flush()
    else:
        session, base = _session_of_path(target)
    if session is not None:
        if isinstance(base, np.memmap):
            base.flush()
        crc = _commit_fresh(session)
        if base is not None:
            base.flags.writeable = False
        if isinstance(target, np.ndarray) and target.flags.writeable:
            target.flags.writeable = False
        with _SESSIONS_LOCK:
            for key, value in list(_SESSIONS.items()):
                if value is session:
                    del _SESSIONS[key]
        session.close()
        return crc
    path = os.fspath(target)  # type: ignore[arg-type]
    with open(path, "r+b") as fobj:
        lock_exclusive(fobj, path)
        try:
            return commit_fd(fobj, path)
        finally:
            unlock(fobj)  # closing would release it too


@dataclass(frozen=True)
class PayloadTarget:
    """Where to write the payload of a file in state *being modified*.

    A small picklable description (path, dtype, shape, order, offset) that a
    Dask worker, or any other process, can use to map the payload for writing.
    Every use re-reads the header and refuses unless the file is in state
    *being modified* and still has this description.

    Use ``target[region] = block`` (which maps, writes, flushes with
    ``msync`` and unmaps), or :meth:`memmap` for a writable map. Works with
    ``dask.array.store(x, target, lock=False)``.
    """

    path: str
    dtype_name: str
    byte_order: str
    shape: tuple[int, ...]
    order: str
    data_offset: int
    data_len: int

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the payload, with its byte order."""
        return S.numpy_dtype(S.DTYPE_BY_NAME[self.dtype_name], self.byte_order, self.path)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def _check(self, fobj: IO[bytes]) -> None:
        """Refuse a file that is not in state 2 or does not match this target."""
        raw, length = read_raw_header(fobj.fileno())
        header = parse_header(raw, length, self.path)
        if header.checksum_state != S.STATE_BEING_MODIFIED:
            raise NotBeingModifiedError(
                f"{self.path}: not_being_modified: expected checksum state being_modified "
                f"before writing the payload, found {header.checksum_state_name}",
                path=self.path,
                expected="being_modified",
                found=header.checksum_state_name,
            )
        found = (header.dtype_info.name, header.byte_order_name if header.dtype_info.multibyte else self.byte_order,
                 header.shape, header.order_name, header.data_offset, header.data_len)
        expected = (self.dtype_name, self.byte_order, self.shape, self.order, self.data_offset, self.data_len)
        if found != expected:
            raise TargetMismatchError(
                f"{self.path}: target_mismatch: expected (dtype, byte order, shape, order, "
                f"data_offset, data_len) {expected}, found {found}",
                path=self.path,
                expected=expected,
                found=found,
            )

    def memmap(self) -> np.memmap:
        """A writable map of the payload (mode ``r+``); flush it when done."""
        with open(self.path, "r+b") as fobj:
            self._check(fobj)
            return make_memmap(fobj, self.path, self.dtype, self.shape, self.order, self.data_offset, self.data_len, "r+")

    def __setitem__(self, index: Any, value: Any) -> None:
        """Write ``value`` into ``payload[index]`` and flush it to the file."""
        array = self.memmap()
        array[index] = value
        array.flush()
        del array


def payload_target(path: PathLike) -> PayloadTarget:
    """A :class:`PayloadTarget` for an existing file in state *being modified*.

    Typically the driver opens the file with ``arrfile.open(path, "r+")``
    (which sets that state), hands the target to workers, and calls
    ``arrfile.commit`` on its map when they are done.
    """
    with open(os.fspath(path), "rb") as fobj:
        header, _, _ = read_validated_unlocked(fobj.fileno(), path)
    target = PayloadTarget(
        path=os.path.abspath(os.fspath(path)),
        dtype_name=header.dtype_info.name,
        byte_order=header.byte_order_name if header.dtype_info.multibyte else "little",
        shape=header.shape,
        order=header.order_name,
        data_offset=header.data_offset,
        data_len=header.data_len,
    )
    if header.checksum_state != S.STATE_BEING_MODIFIED:
        raise NotBeingModifiedError(
            f"{os.fspath(path)}: not_being_modified: expected checksum state being_modified "
            f"(open the file with mode 'r+' first), found {header.checksum_state_name}",
            path=path,
            expected="being_modified",
            found=header.checksum_state_name,
        )
    return target
