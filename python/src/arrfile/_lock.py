"""Advisory locks between processes, and the fork safety of what holds them (spec §8).

The protocol is the one the Rust crates follow (spec §8, *Locking* and *Actors that meet*):

* an ``r+`` session holds an exclusive ``flock`` on its file for the whole session, and
  checks, once locked, that the path still names the file it opened;
* a new file's writer creates ``.<name>.arrnew-<unique>`` (``O_EXCL``), locks it
  exclusively, renames it to ``.<name>.arrtmp-<unique>`` and holds the lock until the file
  is renamed into place or removed, so that ``arrfile clean`` tells it from a killed
  writer's;
* a writer that replaces a file first takes a shared lock on the file at the final path
  (refused while an ``r+`` session holds it) and holds it across the rename;
* ``verify`` takes a shared lock for its pass;
* (format 1.1) an appender or a recoverer holds the shared ``flock`` (which keeps ``r+``
  sessions out and lets readers in) and the exclusive *append lock*, an open-file-description
  record lock over the whole file (``F_OFD_SETLK`` with ``F_WRLCK``); a replacing writer takes
  a record lock over the first byte of the file it replaces across its rename, so that it
  never replaces a file an appender is growing; exclusive (the file opened for writing, as
  any writer can), so that no other replacing writer renames over that file in between
  either: two that shared it could both check that the path names it, and the second would
  rename over the file that the first put there, which an appender or ``r+`` session may hold
  by then. Process-owned POSIX locks (``F_SETLK``, ``lockf``) are never used: a process loses
  them when it closes *any* descriptor of the file.

``flock`` locks belong to an open file description, which a forked child shares with its
parent: a child that unlocked or removed what its parent made would break the parent's
session. Every unlock and removal here is therefore tied to the process that took the lock
(:func:`owned`): in any other process it does nothing.
"""

from __future__ import annotations

import errno
import os
import secrets
import struct
import time
import warnings
from typing import Optional

from ._errors import LockedError, PathLike

try:  # POSIX only; elsewhere nothing is locked.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

SHARED = "shared"
EXCLUSIVE = "exclusive"

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)

#: How often a racing rename is looked at again before giving up (as the Rust crates do).
ATTEMPTS = 16

#: The marker of a new temporary file in its first instant, before its lock.
NEW_MARKER = ".arrnew-"
#: The marker of a locked temporary file (the name ``arrfile clean`` looks for).
TEMP_MARKER = ".arrtmp-"


def locked_error(path: PathLike, kind: str) -> LockedError:
    """The error for a lock that another process holds (the Rust crates' wording)."""
    wanted, held = (
        ("a shared lock", "an exclusive (writer's) lock")
        if kind == SHARED
        else ("an exclusive lock", "a shared or exclusive lock")
    )
    return LockedError(
        f"{os.fspath(path)}: locked by another process: it holds {held}, this open needs {wanted}",
        path=path,
        expected=f"{wanted} to be free",
        found=f"{held} held",
    )


def lock(fd: int, path: PathLike, kind: str, *, wait: bool = False, stacklevel: int = 3) -> bool:
    """Take a ``flock`` on an open file: ``kind`` is :data:`SHARED` or :data:`EXCLUSIVE`.

    Args:
        wait: block until the lock is free instead of failing at once.

    Returns:
        True when locked; False on a filesystem without ``flock`` (a warning is issued and the
        caller goes on unlocked, as before locks existed).

    Raises:
        LockedError: another open file (of this or another process) holds a conflicting lock
            and ``wait`` is false.
    """
    if fcntl is None:  # pragma: no cover
        return False
    op = fcntl.LOCK_SH if kind == SHARED else fcntl.LOCK_EX
    if not wait:
        op |= fcntl.LOCK_NB
    try:
        fcntl.flock(fd, op)
    except BlockingIOError as exc:
        raise locked_error(path, kind) from exc
    except OSError as exc:  # ENOLCK/ENOSYS/EOPNOTSUPP: a filesystem without flock
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):  # pragma: no cover - BlockingIOError
            raise locked_error(path, kind) from exc
        warnings.warn(
            f"{os.fspath(path)}: advisory lock not available on this filesystem ({exc}); "
            f"writers are not serialised",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
        return False
    return True


#: ``struct flock`` (Linux, 64-bit off_t): l_type, l_whence, l_start, l_len, l_pid, padding.
_FLOCK = "hhqqi4x"
_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", None) if fcntl is not None else None
_OFD_SETLKW = getattr(fcntl, "F_OFD_SETLKW", None) if fcntl is not None else None
_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", None) if fcntl is not None else None


def _flock_struct(kind: int, length: int = 0) -> bytes:
    """A ``struct flock`` (SEEK_SET, start 0, pid 0) of type ``kind``: the whole file
    (``length`` 0), or its first ``length`` bytes."""
    return struct.pack(_FLOCK, kind, os.SEEK_SET, 0, length, 0)


#: How long a replacing writer that was not asked to wait waits for another replacing
#: writer's lock (held for a rename) before it reports the file locked.
REPLACE_WAIT = 10.0


def _is_append_lock(answer: bytes) -> bool:
    """Whether a lock ``F_OFD_GETLK`` reported is the append lock (exclusive, whole file), not
    a replacing writer's (the first byte, or shared)."""
    ltype, _, start, length, _ = struct.unpack(_FLOCK, answer)
    return bool(ltype == fcntl.F_WRLCK and start == 0 and length == 0)


def append_locked_error(path: PathLike, kind: str) -> LockedError:
    """The error for an append lock that another appender, recoverer or replacing writer holds."""
    if kind == EXCLUSIVE:
        wanted, held = ("the append lock", "the append lock (an appender or a recovery) or a record lock (a writer replacing the file)")
    else:
        wanted, held = ("a record lock, to replace the file", "the append lock (an append or a recovery in progress)")
    return LockedError(
        f"{os.fspath(path)}: locked by another process: it holds {held}, this needs {wanted}",
        path=path,
        expected=f"{wanted} to be free",
        found=f"{held} held",
    )


def lock_append(fd: int, path: PathLike, kind: str, *, wait: bool = False, stacklevel: int = 3) -> bool:
    """Take the append lock (spec §11.5): an OFD record lock over the whole file.

    ``kind`` :data:`EXCLUSIVE` (``F_WRLCK``: appenders, recoverers; ``fd`` open for writing)
    or :data:`SHARED` (``F_RDLCK``; replacing writers take :func:`lock_replace`). The lock
    belongs to the open file description, like ``flock``'s: closing another descriptor of the
    file keeps it, and it goes when the last descriptor of this open file is closed.

    Returns:
        True when locked; False where OFD locks do not exist (not Linux, or a filesystem
        without them): a warning is issued and the caller goes on without it.

    Raises:
        LockedError: another open file holds a conflicting append lock and ``wait`` is false.
    """
    if fcntl is None:  # pragma: no cover
        return False
    cmd = _OFD_SETLKW if wait else _OFD_SETLK
    if cmd is None:  # pragma: no cover - macOS, BSD: no OFD locks
        warnings.warn(
            f"{os.fspath(path)}: open-file-description locks are not available on this system; "
            f"appenders are not serialised",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
        return False
    ltype = fcntl.F_WRLCK if kind == EXCLUSIVE else fcntl.F_RDLCK
    try:
        fcntl.fcntl(fd, cmd, _flock_struct(ltype))
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise append_locked_error(path, kind) from exc
        if exc.errno == errno.EINTR:  # pragma: no cover - a signal while waiting
            raise
        warnings.warn(
            f"{os.fspath(path)}: append lock not available on this filesystem ({exc}); "
            f"appenders are not serialised",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
        return False
    return True


def lock_replace(fd: int, path: PathLike, exclusive: bool, *, wait: bool = False, stacklevel: int = 3) -> None:
    """Take a replacing writer's record lock on the file it renames over: the first byte,
    ``F_WRLCK`` (``exclusive``; ``fd`` open for writing) or ``F_RDLCK``. The append lock
    excludes it and it excludes the append lock; exclusive, it excludes other replacing
    writers' too. Another replacing writer's lock is waited for (it is held for a rename)
    even when ``wait`` is false, for up to :data:`REPLACE_WAIT` seconds.

    Raises:
        LockedError: an appender or a recovery holds the append lock and ``wait`` is false.
    """
    if fcntl is None:  # pragma: no cover
        return
    cmd, getlk = _OFD_SETLKW if wait else _OFD_SETLK, _OFD_GETLK
    if cmd is None or getlk is None:  # pragma: no cover - macOS, BSD: no OFD locks
        warnings.warn(
            f"{os.fspath(path)}: open-file-description locks are not available on this system; "
            f"appenders are not serialised",
            RuntimeWarning,
            stacklevel=stacklevel,
        )
        return
    request = _flock_struct(fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK, 1)
    give_up = time.monotonic() + REPLACE_WAIT
    while True:
        try:
            fcntl.fcntl(fd, cmd, request)
            return
        except OSError as exc:
            if exc.errno == errno.EINTR:  # pragma: no cover - a signal while waiting
                continue
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                warnings.warn(
                    f"{os.fspath(path)}: append lock not available on this filesystem ({exc}); "
                    f"appenders are not serialised",
                    RuntimeWarning,
                    stacklevel=stacklevel,
                )
                return
            try:
                replacing = not _is_append_lock(fcntl.fcntl(fd, getlk, request))
            except OSError:
                replacing = False
            if not replacing:
                raise append_locked_error(path, SHARED) from exc
            if time.monotonic() >= give_up:
                held = f"another replacing writer's record lock, for over {REPLACE_WAIT:g} s"
                raise LockedError(
                    f"{os.fspath(path)}: locked by another process: it holds {held}, this needs a record lock, to replace the file",
                    path=path, expected="a record lock to replace the file to be free", found=f"{held} held",
                ) from exc
            time.sleep(0.001)


def unlock_append(fd: int, pid: int) -> None:
    """Release the append lock of an open file, only in the process ``pid`` that took it."""
    if fcntl is None or _OFD_SETLK is None or not owned(pid):  # pragma: no cover - fcntl
        return
    try:
        fcntl.fcntl(fd, _OFD_SETLK, _flock_struct(fcntl.F_UNLCK))
    except OSError:
        pass


def append_lock_held(fd: int) -> Optional[bool]:
    """Whether another open file holds the append lock (exclusive) on this file: an appender
    or a recovery is running. ``None`` where that cannot be asked (no OFD locks)."""
    if fcntl is None or _OFD_GETLK is None:  # pragma: no cover
        return None
    try:
        answer = fcntl.fcntl(fd, _OFD_GETLK, _flock_struct(fcntl.F_RDLCK))
    except OSError:
        return None
    return _is_append_lock(answer)  # a replacing writer's lock is not the append lock


def try_lock_shared(fd: int) -> bool:
    """A non-blocking shared lock: True if taken (no error either way)."""
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def owned(pid: int) -> bool:
    """Whether this process is the one (``pid``) that took a lock or made a file."""
    return os.getpid() == pid


def unlock(fd: int, pid: int) -> None:
    """Release the lock of an open file, only in the process ``pid`` that took it.

    A forked child shares its parent's open file descriptions: its unlock would release the
    parent's lock, so in any other process this does nothing.
    """
    if fcntl is None or not owned(pid):  # pragma: no cover - fcntl
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass


def names_this_file(path: PathLike, fd: int) -> bool:
    """Whether ``path`` still names the open file ``fd`` (same ``st_dev`` and ``st_ino``)."""
    try:
        at_path = os.stat(os.fspath(path))
        opened = os.fstat(fd)
    except OSError:
        return False
    return (at_path.st_dev, at_path.st_ino) == (opened.st_dev, opened.st_ino)


def create_locked_temp(final: str) -> tuple[int, str]:
    """A new temporary file beside ``final``, exclusively locked from the moment it has the
    name that ``arrfile clean`` looks for.

    ``O_EXCL`` creation and ``flock`` are two steps, and a cleaner that ran between them would
    find the file unlocked; so the file is created as ``.<name>.arrnew-<unique>`` (which the
    cleaner leaves alone unless it is old), locked, and only then renamed (the same inode and
    lock) to ``.<name>.arrtmp-<unique>``.

    Returns:
        ``(fd, temp_path)``: the open, locked descriptor (read-write) and the file's path.
    """
    directory, name = os.path.split(final)
    while True:
        unique = f"{os.getpid()}-{secrets.token_hex(8)}"
        new = os.path.join(directory, f".{name}{NEW_MARKER}{unique}")
        try:
            fd = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_BINARY, 0o666)
        except FileExistsError:  # pragma: no cover - 64 random bits
            continue
        break
    temp = os.path.join(directory, f".{name}{TEMP_MARKER}{unique}")
    try:
        lock(fd, new, EXCLUSIVE, stacklevel=4)
        # No other writer holds this name: the unique part is that of the O_EXCL file.
        os.rename(new, temp)
    except BaseException:
        os.close(fd)
        remove_quietly(new)
        raise
    return fd, temp


def remove_quietly(path: str) -> None:
    """Delete ``path`` if it exists."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def lock_replaced_file(final: str, *, wait: bool = False) -> Optional[int]:
    """Lock the file at ``final`` that a rename is about to replace.

    An ``r+`` session holds its file exclusively until it commits, and (format 1.1) an
    appender or a recovery holds the exclusive append lock: the shared ``flock`` and the
    replacing writer's record lock (:func:`lock_replace`) taken here are refused (or, with
    ``wait``, wait) while one does, so that no commit is orphaned by the rename; and another
    replacing writer waits until this one has renamed. Readers keep their mapping of the old
    file.

    Returns:
        The locked descriptor, to close after the rename; ``None`` when nothing is there (or
        nothing that can be opened: the rename reports what is wrong).

    Raises:
        LockedError: an in-place writer or an appender holds the file and ``wait`` is false.
    """
    for _ in range(ATTEMPTS):
        # Opened for writing (nothing is written) for the exclusive record lock.
        exclusive = True
        try:
            fd = os.open(final, os.O_RDWR | _O_CLOEXEC | _O_BINARY)
        except OSError:
            exclusive = False
            try:
                fd = os.open(final, os.O_RDONLY | _O_CLOEXEC | _O_BINARY)
            except OSError:
                return None
        try:
            lock(fd, final, SHARED, wait=wait, stacklevel=4)
            lock_replace(fd, final, exclusive, wait=wait, stacklevel=4)
        except BaseException:
            os.close(fd)
            raise
        # A writer that renamed another file here meanwhile: look again.
        if names_this_file(final, fd):
            return fd
        os.close(fd)
    return None


def close_quietly(fd: Optional[int]) -> None:
    """Close a descriptor, ignoring errors (a ``None`` is ignored)."""
    if fd is None:
        return
    try:
        os.close(fd)
    except OSError:
        pass
