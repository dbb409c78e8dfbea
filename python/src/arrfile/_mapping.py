"""The array ``arrfile.open`` returns: a ``numpy.memmap`` subclass that views a payload in place.

:class:`MappedArray` adds three things to ``numpy.memmap``:

* ``close()`` and the context-manager protocol. numpy cannot unmap memory that
  an array still points to (numpy#13510: unmapping under a live array would
  crash the process on the next access), so ``close()`` releases what arrfile
  holds (the ``r+`` session and its lock; see :mod:`arrfile._inplace`) and
  marks the array closed; the mapping itself goes when the last array
  referring to it is garbage-collected. On POSIX systems a mapped file can be
  deleted or replaced at any time (the mapping keeps the old inode), so it can
  be right after ``close()``; Windows refuses to delete a mapped file, and
  there :class:`arrfile.LazyArray` (whose ``close()`` unmaps at once, since it
  only hands out copies) is the handle to use.
* Pickling by reference. A read-only map, or any view of it, pickles as the
  path, the layout it was checked against and the view's offset, shape and
  strides (a few hundred bytes), and unpickles by opening the file again with
  every reader check; ``numpy.memmap`` itself pickles a full copy that
  unpickles as an unmapped array (numpy#2049, dask#11850). ``r+`` and
  copy-on-write maps refuse to pickle (a reference would lose private changes
  or let another process write outside the ``r+`` session); the error points
  to ``arrfile.lazy`` and ``np.array(a)``.
* Results of computations (``a + 1``, ``a.sum(axis=0)``, fancy indexing) are
  plain ``numpy.ndarray``, as they are for ``numpy.memmap`` itself.

numpy cannot map zero bytes, and the spec forbids mapping past the payload
(§7.3), so an empty payload gets an *unmapped* instance: an ordinary
zero-element array of the right dtype, shape and order whose class is
:class:`MappedArray` and whose ``filename``, ``offset`` and ``mode`` are set
like a real mapping's. ``flush()`` on it does nothing (there is nothing to flush).
"""

from __future__ import annotations

import mmap
import os
import weakref
from typing import IO, Any, Literal, Optional, Union, cast

import numpy as np

from ._errors import ArrfileError, PathLike

_NUMPY2 = int(np.__version__.split(".")[0]) >= 2
_ACCESS = {"r": mmap.ACCESS_READ, "r+": mmap.ACCESS_WRITE, "c": mmap.ACCESS_COPY}


class _Ref:
    """What a map and its views share: the file, the mode, the layout, the map's start."""

    __slots__ = ("path", "mode", "layout", "delta", "closed", "lock_fd", "pid", "__weakref__")

    def __init__(self, path: str, mode: str, layout: tuple[Any, ...], delta: int) -> None:
        self.path = path
        self.mode = mode
        self.layout = layout
        self.delta = delta  # where the payload starts inside the mmap object
        self.closed = False
        # A reader's (modes r, c) descriptor holding its shared lock, and the process that
        # took it; closed when the map and every view of it are gone.
        self.lock_fd: Optional[int] = None
        self.pid = os.getpid()

    def hold_lock(self, fd: int) -> None:
        """Keep ``fd`` (which holds a shared lock) until this reference is garbage-collected."""
        from ._lock import close_quietly

        self.lock_fd = fd
        weakref.finalize(self, close_quietly, fd)

    def release_lock(self) -> None:
        """Release a reader's shared lock now (only in the process that took it)."""
        from ._lock import unlock

        if self.lock_fd is not None:
            unlock(self.lock_fd, self.pid)


class MappedArray(np.memmap):
    """A ``numpy.memmap`` of an arrfile payload, with ``close()``, ``with`` and pickling by reference.

    Returned by :func:`arrfile.open`; see the module documentation of
    ``arrfile._mapping`` for what ``close()`` can and cannot release.
    """

    _arrfile: Optional[_Ref]
    _mmap: Optional[mmap.mmap]

    def __array_finalize__(self, obj: Any) -> None:
        """Views of the map keep its file reference; anything else loses it."""
        super().__array_finalize__(obj)
        ref = getattr(obj, "_arrfile", None)
        self._arrfile = ref if (ref is not None and self._mmap is not None) else None

    def __array_wrap__(self, arr: Any, context: Any = None, return_scalar: bool = False) -> Any:
        """Results that do not share the map's memory are plain ``ndarray`` (as for ``numpy.memmap``)."""
        if _NUMPY2:
            out = np.ndarray.__array_wrap__(self, arr, context, return_scalar)
        else:  # pragma: no cover - numpy 1.x has no return_scalar
            out = np.ndarray.__array_wrap__(self, arr, context)
        if out is self or not isinstance(out, np.ndarray):
            return out
        if return_scalar:
            return out[()]
        if getattr(out, "_mmap", None) is None:
            return out.view(np.ndarray)
        return out

    def __getitem__(self, index: Any) -> Any:
        """Views stay :class:`MappedArray`; copies (fancy indexing) are plain ``ndarray``."""
        res = np.ndarray.__getitem__(self, index)
        if isinstance(res, MappedArray) and res._mmap is None and res._arrfile is None:
            return res.view(np.ndarray)
        return res

    # -- closing -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called on this map (or a view of it)."""
        return self._arrfile is not None and self._arrfile.closed

    def close(self) -> None:
        """Release what arrfile holds for this map.

        * modes ``r`` and ``c``: the reader's shared advisory lock is released
          (an ``r+`` session may then start and change the payload under a
          closed map).
        * mode ``r+``: the payload is flushed, and the session's advisory lock
          and file are released **without** a commit (the file stays in state
          *being modified*, which is honest); call :func:`arrfile.commit` first
          to record the checksum, or leave a ``with`` block without an exception.
        * every mode: the map is made read-only and marked closed.

        The memory stays mapped while this array or any view of it is alive:
        numpy cannot unmap memory an array points to (numpy#13510). On POSIX
        the file can be deleted or replaced at once all the same.
        """
        ref = self._arrfile
        if ref is None or ref.closed:
            return
        if ref.mode == "r+":
            from ._inplace import release

            release(self)
        else:
            ref.release_lock()
        ref.closed = True
        if self.flags.writeable and ref.mode != "c":
            self.flags.writeable = False

    def __enter__(self) -> "MappedArray":
        """``with arrfile.open(p) as a:``."""
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Close; in mode ``r+`` commit first when the block ended without an exception."""
        ref = self._arrfile
        if ref is not None and not ref.closed and ref.mode == "r+" and exc_type is None:
            from ._inplace import commit

            commit(self)
        self.close()

    # -- pickling ------------------------------------------------------------

    def __reduce__(self) -> Any:
        """Pickle a read-only map (or view) as a reference to the file, never its payload."""
        ref = self._arrfile
        if ref is None or self._mmap is None:  # not mapped: a computed array, or an empty payload
            return np.asarray(self).view(np.ndarray).__reduce__()
        if ref.mode != "r":
            raise TypeError(
                f"{ref.path}: a mode {ref.mode!r} map cannot be pickled without copying its payload "
                f"(a reference would {'lose the private changes' if ref.mode == 'c' else 'let another process write outside this r+ session'}); "
                f"share the file with arrfile.lazy(path) (or arrfile.payload_target(path) for writers), "
                f"or pickle a copy with numpy.array(a)"
            )
        base = _buffer_address(self._mmap) + ref.delta
        here = int(self.__array_interface__["data"][0])
        return (_rebuild_view, (ref.path, ref.layout, here - base, self.shape, self.strides, self.dtype))

    def __reduce_ex__(self, protocol: Any) -> Any:
        """See :meth:`__reduce__` (``ndarray`` defines ``__reduce_ex__``, which would win)."""
        return self.__reduce__()


def _buffer_address(buffer: Any) -> int:
    """The address of the first byte of a buffer-protocol object."""
    return int(np.frombuffer(buffer, np.uint8, count=1).__array_interface__["data"][0])


def _reopen(path: str, layout: tuple[Any, ...]) -> MappedArray:
    """Open ``path`` read-only and check it still has ``layout`` (or grew from it by appends)."""
    from ._read import open as arr_open

    from ._header import grown_from

    root = cast(MappedArray, arr_open(path))
    found = root._arrfile.layout if root._arrfile is not None else None
    # A file grown by appends (1.1) holds the mapped array as its first rows, unchanged.
    if found is None or not grown_from(layout, found):
        raise ArrfileError(
            f"{path}: changed: expected the layout the pickled array was mapped with {layout}, found {found}",
            path=path,
            expected=layout,
            found=found,
        )
    return root


def _rebuild_view(
    path: str, layout: tuple[Any, ...], byte_offset: int, shape: tuple[int, ...],
    strides: tuple[int, ...], dtype: np.dtype,
) -> MappedArray:
    """Unpickle a view: open the file anew (every reader check) and view the same bytes."""
    root = _reopen(path, layout)
    ref = root._arrfile
    assert ref is not None and root._mmap is not None
    view: Any = np.ndarray.__new__(
        MappedArray, shape, dtype=dtype, buffer=root._mmap, offset=ref.delta + byte_offset, strides=strides
    )
    view._mmap = root._mmap
    view.filename = root.filename
    view.offset = root.offset
    view.mode = root.mode
    view._arrfile = ref
    return cast(MappedArray, view)


def make_memmap(
    fobj: Union[IO[bytes], int],
    path: PathLike,
    dtype: np.dtype,
    shape: tuple[int, ...],
    order: str,
    data_offset: int,
    data_len: int,
    mode: str,
    layout: tuple[Any, ...] = (),
) -> MappedArray:
    """Map ``[data_offset, data_offset + data_len)`` of an open file as an array.

    Args:
        fobj: the open file or its descriptor (read-only for modes ``r``/``c``,
            read-write for ``r+``); the mapping is made from this descriptor, so
            it sees the same file that was checked even if the path is replaced
            meanwhile.
        path: the file's path, recorded as ``filename``.
        dtype: element dtype including byte order.
        shape: the array's shape (``()`` for 0-d).
        order: ``"C"`` or ``"F"``.
        data_offset: where the payload starts.
        data_len: payload length in bytes.
        mode: ``"r"``, ``"r+"`` or ``"c"`` (numpy.memmap modes).
        layout: what a pickled reference checks when it reopens the file.

    Returns:
        A :class:`MappedArray`; when ``data_len`` is 0 it is an unmapped
        instance (see the module docstring) that is read-only in mode ``r``.
    """
    map_order = cast(Literal["C", "F"], order)
    filename = os.path.abspath(os.fspath(path))
    array: Any
    if data_len == 0:
        array = np.ndarray.__new__(MappedArray, shape, dtype=dtype, order=map_order)
        array._mmap = None
        delta = 0
        if mode == "r":
            array.flags.writeable = False
    else:
        fd = fobj if isinstance(fobj, int) else fobj.fileno()
        start = data_offset - data_offset % mmap.ALLOCATIONGRANULARITY
        delta = data_offset - start
        mm = mmap.mmap(fd, data_len + delta, access=_ACCESS[mode], offset=start)
        array = np.ndarray.__new__(MappedArray, shape, dtype=dtype, buffer=mm, offset=delta, order=map_order)
        array._mmap = mm
    array.filename = filename
    array.offset = data_offset
    array.mode = mode
    array._arrfile = _Ref(filename, mode, layout, delta)
    return cast(MappedArray, array)
