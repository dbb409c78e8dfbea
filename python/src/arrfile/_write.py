"""Writing new files: ``save`` and ``create`` (spec §7, §8 *New files*, §10.2).

Every new file is written to a temporary file ``.<final name>.arrtmp-<unique>``
in the destination directory, made durable (``fsync``), and renamed over the
final path with ``os.replace``, after which the directory is ``fsync``-ed. The
final path therefore holds either nothing (or the previous file) or the
complete new file. On any failure the temporary file is removed.

The temporary file is created as ``.<final name>.arrnew-<unique>``, locked
exclusively (``flock``) and renamed to its ``.arrtmp-`` name, and the lock is
held until it is renamed into place or removed: ``arrfile clean`` removes only
unlocked temporary files, those of writers that are gone. Before the rename, a
file at the final path is locked (shared) and the lock held across the rename,
so that a file an ``r+`` session holds is never replaced under it (spec §8,
*Actors that meet*). Removal and unlocks happen only in the process that made
the writer, never in a forked child.
"""

from __future__ import annotations

import json
import os
import sys
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union, cast

import numpy as np

from . import _spec as S
from ._crc import crc32, crc32_parallel
from ._errors import PathLike
from ._fileio import fsync_dir, pwrite_all
from ._header import MAX_JSON_NUMBER, Header, encode_header
from ._inplace import PayloadTarget, commit_fd
from ._lock import close_quietly, create_locked_temp, lock_replaced_file, owned, remove_quietly, unlock
from ._mapping import make_memmap

#: Payload bytes written per step by :func:`save`.
WRITE_CHUNK = 16 * 1024 * 1024


def _json_depth_check(value: Any, depth: int, where: str) -> None:
    """Refuse nesting deeper than 64 levels and non-string object keys."""
    if isinstance(value, Mapping):
        if depth > S.MAX_JSON_DEPTH:
            raise ValueError(f"attributes nest more than {S.MAX_JSON_DEPTH} levels deep (at {where})")
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"attribute keys must be str, found {type(key).__name__} key {key!r} at {where}")
            _json_depth_check(item, depth + 1, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        if depth > S.MAX_JSON_DEPTH:
            raise ValueError(f"attributes nest more than {S.MAX_JSON_DEPTH} levels deep (at {where})")
        for i, item in enumerate(value):
            _json_depth_check(item, depth + 1, f"{where}[{i}]")


def encode_attributes(attrs: Optional[Mapping[str, Any]]) -> bytes:
    """The metadata bytes for ``attrs`` (spec §7.1); ``b""`` for ``None``.

    The object is serialised compactly with keys sorted (equal attributes give
    equal bytes), as UTF-8 without escaping non-ASCII characters.

    Raises:
        TypeError: ``attrs`` is not a mapping, has non-string keys, or holds a
            value JSON cannot represent.
        ValueError: a key at the top level starts with the reserved
            ``arrfile.`` prefix, a float is NaN or infinite (not JSON), the
            nesting is deeper than 64 levels, or the result exceeds 16 MiB.
    """
    if attrs is None:
        return b""
    if not isinstance(attrs, Mapping):
        raise TypeError(f"attrs must be a mapping (a JSON object) or None, found {type(attrs).__name__}")
    for key in attrs:
        if isinstance(key, str) and key.startswith("arrfile."):
            raise ValueError(f"attribute key {key!r}: keys starting with 'arrfile.' are reserved by the spec")
    _json_depth_check(attrs, 1, "attrs")
    _json_number_check(attrs, "attrs")
    text = json.dumps(attrs, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    raw = text.encode("utf-8")
    if len(raw) > S.MAX_METADATA_LEN:
        raise ValueError(f"attributes encode to {len(raw)} bytes, more than the limit of {S.MAX_METADATA_LEN}")
    return raw


def _json_number_check(value: Any, where: str) -> None:
    """Refuse an integer beyond binary64's range (spec §7.1: no reader accepts one)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_JSON_NUMBER:
            raise ValueError(f"{where}: an integer of {len(str(abs(value)))} digits is beyond binary64's range, which the spec refuses (§7.1)")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _json_number_check(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _json_number_check(item, f"{where}[{index}]")


def data_offset_for(metadata_len: int, alignment: int) -> int:
    """The smallest multiple of ``alignment`` that is >= ``640 + metadata_len``."""
    end = S.HEADER_LEN + metadata_len
    return -(-end // alignment) * alignment


def check_alignment(alignment: int) -> int:
    """Validate a payload alignment: a power of two from 4096 to 1 MiB.

    The spec allows any power of two >= 4096; R18 (padding < 1 MiB) makes
    larger ones unusable in general, so they are refused.
    """
    alignment = int(alignment)
    if alignment < S.DATA_ALIGNMENT or alignment > S.MAX_PADDING or alignment & (alignment - 1):
        raise ValueError(f"alignment must be a power of two from {S.DATA_ALIGNMENT} to {S.MAX_PADDING}, got {alignment}")
    return alignment


def _normalise_shape(shape: Union[int, Sequence[int]], itemsize: int) -> tuple[int, ...]:
    """Shape as a tuple of non-negative ints within the spec's limits (ndim, R13)."""
    dims = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    if len(dims) > S.MAX_NDIM:
        raise ValueError(f"ndim {len(dims)} exceeds the limit of {S.MAX_NDIM}")
    if any(d < 0 or d >= 1 << 64 for d in dims):
        raise ValueError(f"dimensions must be in [0, 2^64), got {list(dims)}")
    size = itemsize
    for d in dims:
        if d:
            size *= d
    if size > S.SIZE_BOUND:
        raise ValueError(f"shape {list(dims)} x itemsize {itemsize} exceeds 2^62 bytes")
    return dims


def _replace_into(temp: str, final: str, wait: bool) -> None:
    """Rename ``temp`` over ``final`` holding a shared lock on the file it replaces.

    Raises:
        LockedError: an ``r+`` session (or another writer's lock) holds the file at
            ``final`` and ``wait`` is false.
    """
    replaced = lock_replaced_file(final, wait=wait)
    try:
        os.replace(temp, final)
    finally:
        close_quietly(replaced)


def _discard(pid: int, fd: int, temp: str) -> None:
    """Remove an unfinished writer's temporary file and release its lock, only in the
    process ``pid`` that created it (a forked child leaves its parent's file alone)."""
    if owned(pid):
        remove_quietly(temp)
        unlock(fd, pid)
    close_quietly(fd)


def _new_header(
    info: S.DtypeInfo, byte_order: str, order: str, shape: tuple[int, ...], metadata: bytes,
    data_offset: int, state: int, payload_crc: int,
) -> Header:
    """A header for a new 1.0 file."""
    count = 1
    for d in shape:
        count *= d
    return Header(
        version_major=S.VERSION_MAJOR,
        version_minor=S.VERSION_MINOR,
        required_features=0,
        optional_features=0,
        dtype_code=info.code,
        byte_order=1 if (byte_order == "big" and info.multibyte) else 0,
        order=1 if (order == "F" and len(shape) >= 2) else 0,
        checksum_state=state,
        payload_crc=payload_crc,
        metadata_crc=crc32(metadata),
        metadata_len=len(metadata),
        data_offset=data_offset,
        data_len=count * info.itemsize,
        shape=shape,
    )


def _write_prefix(fd: int, header: Header, metadata: bytes) -> None:
    """Write header, metadata and explicit zero padding up to data_offset."""
    pwrite_all(fd, encode_header(header), 0)
    if metadata:
        pwrite_all(fd, metadata, S.HEADER_LEN)
    pad = header.data_offset - header.metadata_end
    if pad:
        pwrite_all(fd, bytes(pad), header.metadata_end)


#: Bytes :func:`save` takes from its input at a time (one slab of whole rows when they fit).
SLAB_BYTES = 64 * 1024 * 1024


def _is_dask(x: Any) -> bool:
    """Whether ``x`` is a Dask collection with ``compute``."""
    return hasattr(x, "__dask_graph__") and hasattr(x, "compute")


def _axis0_breaks(x: Any, n: int) -> Optional[list[int]]:
    """Chunk boundaries of ``x`` along axis 0 (Dask, Zarr, h5py), or ``None`` when unchunked."""
    chunks = getattr(x, "chunks", None)
    if not chunks:
        return None
    first = chunks[0]
    if isinstance(first, (tuple, list)):  # Dask: explicit chunk lengths per axis
        breaks, pos = [0], 0
        for c in first:
            pos += int(c)
            breaks.append(pos)
        return breaks
    if isinstance(first, (int, np.integer)) and int(first) > 0:  # Zarr, h5py: a regular chunk shape
        step = int(first)
        return list(range(0, n, step)) + [n]
    return None


def _slab_indices(x: Any, shape: tuple[int, ...], itemsize: int, limit: int) -> Any:
    """Index tuples that cover ``x`` in C order, each selecting at most about ``limit`` bytes.

    Whole rows (axis 0) are grouped up to ``limit`` bytes, along the input's
    chunk boundaries when it has them (so that no chunk is computed or
    decompressed twice, unless a single band of chunks exceeds ``limit``); a
    row larger than ``limit`` is split along the next axis, recursively.
    """
    if not shape:
        yield ()
        return
    n = shape[0]
    row = itemsize
    for d in shape[1:]:
        row *= d
    if row > limit:
        for i in range(n):
            for sub in _slab_indices(None, shape[1:], itemsize, limit):
                yield (i,) + sub
        return
    step = max(1, limit // max(row, 1))
    breaks = _axis0_breaks(x, n) if x is not None else None
    if breaks is None or breaks[-1] != n:
        for i in range(0, n, step):
            yield (slice(i, min(i + step, n)),)
        return
    start = 0
    for lo, hi in zip(breaks, breaks[1:]):
        if hi - start > step and lo > start:  # close the slab before this band
            yield from _split(start, lo, step)
            start = lo
    if start < n:
        yield from _split(start, n, step)


def _split(lo: int, hi: int, step: int) -> Any:
    """``slice`` objects covering ``[lo, hi)`` in pieces of at most ``step``."""
    for i in range(lo, hi, step):
        yield (slice(i, min(i + step, hi)),)


def _computed_parts(source: Any, index: tuple[Any, ...], breaks: Optional[list[int]]) -> Any:
    """The slab ``source[index]`` as numpy-convertible parts, in C order.

    A Dask slab that spans several bands of chunks along axis 0 is computed in
    one ``dask.compute`` call (its chunks in parallel) but returned band by
    band, so that the bands are never concatenated into one more slab-sized copy.
    """
    if not _is_dask(source):
        yield source[index]
        return
    first = index[0] if index else None
    if breaks is None or not isinstance(first, slice):
        yield source[index].compute()
        return
    lo, hi = first.start, first.stop
    cuts = [lo] + [b for b in breaks if lo < b < hi] + [hi]
    if len(cuts) == 2:
        yield source[index].compute()
        return
    from dask.base import compute

    parts = list(compute(*[source[(slice(a, b),) + index[1:]] for a, b in zip(cuts, cuts[1:])]))  # type: ignore[no-untyped-call,unused-ignore]
    while parts:
        yield parts.pop(0)


def _distributed_client(x: Any) -> Any:
    """The active dask.distributed client when ``x`` is a Dask array and one is running, else ``None``."""
    if not _is_dask(x) or "distributed" not in sys.modules:
        return None
    try:
        from distributed import default_client

        return default_client()  # type: ignore[no-untyped-call,unused-ignore]
    except (ImportError, ValueError):
        return None


def save(
    path: PathLike,
    array: Any,
    attrs: Optional[Mapping[str, Any]] = None,
    *,
    alignment: int = S.DATA_ALIGNMENT,
    slab_bytes: int = SLAB_BYTES,
    wait: bool = False,
) -> None:
    """Write ``array`` to a new arrfile at ``path``, atomically, in constant memory.

    ``array`` may be a numpy array (or memmap), an h5py dataset, a Zarr array,
    a Dask array, or any object with ``shape``, ``dtype`` and numpy-style
    slicing; anything else goes through ``numpy.asarray`` (lists, scalars).
    The payload is streamed in slabs of at most about ``slab_bytes`` (whole
    rows, along the input's chunk boundaries when it is chunked), each written
    and fed to the CRC-32 on the way, so the whole array is never in memory.
    A Dask array is computed slab by slab with its current scheduler; when a
    ``dask.distributed`` client is active its workers write their blocks into
    the new file in parallel instead (``da.store`` into :attr:`ArrayWriter.target`),
    and the driver computes the CRC when they are done.

    Layout: dtype from the array (bf16/fp8 need ml_dtypes arrays); byte order as
    the array has it (a ``>f4`` array is stored big-endian with ``byte_order``
    1, a native array on a little-endian host little-endian; one-byte types
    always 0); order F when a numpy array is Fortran-contiguous and not
    C-contiguous (ndim >= 2), else C; attributes as compact sorted JSON;
    ``data_offset`` the smallest multiple of ``alignment`` >= 640 + metadata
    length; checksum state *valid* with the payload CRC-32. ``bool`` elements
    are written as bytes 0/1 whatever their in-memory bytes are.

    Args:
        path: the destination; an existing file there is replaced atomically.
        array: the data (see above).
        attrs: a JSON-serialisable mapping, or ``None`` for no metadata
            (``{}`` writes an empty object).
        alignment: power of two from 4096 to 1 MiB.
        slab_bytes: the most bytes taken from ``array`` at a time (at least one element).
        wait: when a file at ``path`` is held by an ``r+`` session (exclusive
            lock), wait for it to be released instead of raising.

    Raises:
        LockedError: a file at ``path`` is locked by another process (an
            ``r+`` session in progress) and ``wait`` is false; nothing is
            written (the temporary file is removed).
    """
    alignment = check_alignment(alignment)
    if slab_bytes < 1:
        raise ValueError(f"slab_bytes must be >= 1, got {slab_bytes}")
    source: Any = array
    if isinstance(array, np.ndarray):
        pass
    elif not (hasattr(array, "shape") and hasattr(array, "dtype") and hasattr(array, "__getitem__")):
        source = np.asarray(array)
    dtype = np.dtype(source.dtype)
    info, byte_order = S.spec_dtype_of(dtype)
    shape = _normalise_shape(tuple(int(d) for d in source.shape), info.itemsize)
    order = "C"
    if isinstance(source, np.ndarray) and source.ndim >= 2 and source.flags.f_contiguous and not source.flags.c_contiguous:
        order, source = "F", source.T  # the transpose of an F-contiguous array is C-contiguous
    metadata = encode_attributes(attrs)
    data_offset = data_offset_for(len(metadata), alignment)

    client = _distributed_client(source)
    if client is not None:
        _save_on_cluster(path, source, dtype, shape, attrs, alignment, wait)
        return

    header = _new_header(info, byte_order, order, shape, metadata, data_offset, S.STATE_BEING_MODIFIED, 0)
    final = os.path.abspath(os.fspath(path))
    fd, temp = create_locked_temp(final)
    pid = os.getpid()
    try:
        try:
            _write_prefix(fd, header, metadata)
            crc = 0
            offset = data_offset
            if header.data_len:
                walk_shape = tuple(int(d) for d in source.shape)
                breaks = _axis0_breaks(source, walk_shape[0]) if (_is_dask(source) and walk_shape) else None
                for index in _slab_indices(source, walk_shape, info.itemsize, slab_bytes):
                    for part in _computed_parts(source, index, breaks):
                        block = np.ascontiguousarray(np.asarray(part))
                        del part
                        if block.dtype != dtype:
                            block = block.astype(dtype)
                        raw = block.reshape(-1).view(np.uint8)
                        if info.name == "bool":
                            raw = (raw != 0).view(np.uint8)
                        crc = crc32_parallel(raw, crc)
                        pwrite_all(fd, raw, offset)
                        offset += raw.size
                        del block, raw
            if offset != header.file_len:
                raise ValueError(
                    f"{final}: the input yielded {offset - data_offset} payload bytes, expected "
                    f"{header.data_len} (shape {list(shape)} x itemsize {info.itemsize})"
                )
            os.ftruncate(fd, header.file_len)
            final_header = _new_header(info, byte_order, order, shape, metadata, data_offset, S.STATE_VALID, crc)
            pwrite_all(fd, encode_header(final_header), 0)
            os.fsync(fd)
            _replace_into(temp, final, wait)
        except BaseException:
            if owned(pid):  # a forked child (Dask, a slab callback) leaves it to its parent
                remove_quietly(temp)
            raise
        fsync_dir(final)
    finally:
        # The lock goes with the descriptor (nothing else has this open file).
        os.close(fd)


def _save_on_cluster(
    path: PathLike, x: Any, dtype: np.dtype, shape: tuple[int, ...],
    attrs: Optional[Mapping[str, Any]], alignment: int, wait: bool,
) -> None:
    """``save`` of a Dask array through the workers: each writes its blocks, the driver commits."""
    import dask.array as da

    with ArrayWriter(path, dtype, shape, "C", attrs, alignment, wait=wait) as writer:
        if writer.target.data_len:
            da.store(x, cast(Any, writer.target), lock=False)


class ArrayWriter:
    """A new arrfile being filled in place; returned by :func:`create`.

    Attributes:
        path: the final path (absolute); nothing is there until :meth:`finish`.
        temp_path: the temporary file being written,
            ``.<final name>.arrtmp-<unique>`` in the same directory.
        array: a writable ``numpy.memmap`` of the temporary file's payload
            (zero-filled at first); for an empty payload an unmapped memmap
            instance (see :func:`arrfile.open`).
        target: a picklable :class:`PayloadTarget` for the temporary file, for
            other processes (Dask workers) to write regions.

    The temporary file's header is in checksum state *being modified* until
    :meth:`finish`, which flushes the payload, checks the whole file again,
    records the payload CRC-32 (state *valid*), ``fsync``-s, renames it over
    the final path and ``fsync``-s the directory. :meth:`abort` (or leaving a
    ``with`` block by an exception, or garbage collection of an unfinished
    writer) deletes the temporary file. After :meth:`finish` the array is
    read-only.

    The temporary file is exclusively locked (``flock``) from its creation until
    it is renamed into place or removed, so that ``arrfile clean`` never removes
    it. A forked child that inherits the writer neither removes the file nor
    releases the lock, whether by :meth:`abort`, a ``with`` block it leaves, or
    its finalizers at exit; :meth:`finish` refuses to run in it.
    """

    def __init__(
        self,
        path: PathLike,
        dtype: Any,
        shape: Union[int, Sequence[int]],
        order: str = "C",
        attrs: Optional[Mapping[str, Any]] = None,
        alignment: int = S.DATA_ALIGNMENT,
        *,
        wait: bool = False,
    ) -> None:
        """Create the temporary file and map its payload; see :func:`create`."""
        if order not in ("C", "F"):
            raise ValueError(f"order must be 'C' or 'F', got {order!r}")
        alignment = check_alignment(alignment)
        info, byte_order = S.spec_dtype_of(dtype)
        np_dtype = S.numpy_dtype(info, byte_order)
        dims = _normalise_shape(shape, info.itemsize)
        metadata = encode_attributes(attrs)
        data_offset = data_offset_for(len(metadata), alignment)
        header = _new_header(info, byte_order, order, dims, metadata, data_offset, S.STATE_BEING_MODIFIED, 0)
        self.path: str = os.path.abspath(os.fspath(path))
        self._done = False
        self._wait = wait
        self._pid = os.getpid()
        # Locked until finish() renames it or abort() removes it; the descriptor is kept open
        # for that (the map holds a duplicate of it, which alone would keep the lock as long as
        # the array lives, so it is released explicitly).
        self._fd, self.temp_path = create_locked_temp(self.path)
        self._finalizer = weakref.finalize(self, _discard, self._pid, self._fd, self.temp_path)
        try:
            fd = self._fd
            _write_prefix(fd, header, metadata)
            os.ftruncate(fd, header.file_len)
            map_order = "F" if header.order == 1 else "C"
            self.array: np.memmap = make_memmap(
                fd, self.temp_path, np_dtype, dims, map_order, data_offset, header.data_len, "r+"
            )
        except BaseException:
            self._finalizer()
            raise
        self.target = PayloadTarget(
            path=self.temp_path,
            dtype_name=info.name,
            byte_order=byte_order if info.multibyte else "little",
            shape=dims,
            order="F" if header.order == 1 else "C",
            data_offset=data_offset,
            data_len=header.data_len,
        )

    @property
    def finished(self) -> bool:
        """Whether :meth:`finish` or :meth:`abort` has run."""
        return self._done

    def finish(self) -> str:
        """Commit the payload CRC and rename the file into place.

        Returns:
            The final path.

        A file already at the final path is locked (shared) before the
        rename and until it is done: while an ``r+`` session holds that file,
        this raises :class:`LockedError` (or waits, when the writer was made
        with ``wait=True``), so that the session's commit is never orphaned.

        Raises:
            RuntimeError: the writer was already finished or aborted, or this
                is not the process that created it (a forked child).
            LockedError: an ``r+`` session holds the file at the final path
                and ``wait`` is false.
            OSError, ArrfileError: the commit or the rename failed; the
                temporary file has been removed and nothing is at the final
                path (or the previous file still is).
        """
        if self._done:
            raise RuntimeError(f"{self.path}: writer already finished or aborted")
        if not owned(self._pid):
            raise RuntimeError(
                f"{self.path}: writer created by process {self._pid}, finish() called in process "
                f"{os.getpid()} (a forked child); finish it in the process that created it"
            )
        try:
            if isinstance(self.array, np.memmap):
                self.array.flush()
            # A fresh open (not the descriptor the map was made from) so that on
            # network filesystems the CRC is computed after close-to-open revalidation.
            with open(self.temp_path, "r+b") as fobj:
                commit_fd(fobj, self.temp_path, payload_durable_first=False)
            _replace_into(self.temp_path, self.path, self._wait)
        except BaseException:
            self.abort()
            raise
        self._finalizer.detach()
        self._done = True
        self.array.flags.writeable = False
        fsync_dir(self.path)
        # Renamed: the file is now the final one, which the writer must no longer hold.
        unlock(self._fd, self._pid)
        close_quietly(self._fd)
        return self.path

    def abort(self) -> None:
        """Discard the file being written: delete the temporary file and release its lock.

        In a forked child this only marks the writer done there: the parent's file stays.
        """
        self._done = True
        if self.array is not None and self.array.flags.writeable:
            self.array.flags.writeable = False
        self._finalizer()

    def __enter__(self) -> "ArrayWriter":
        """Use as ``with arrfile.create(...) as w:``; finishes on a clean exit."""
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Finish on success, abort on an exception."""
        if exc_type is not None:
            if not self._done:
                self.abort()
        elif not self._done:
            self.finish()

    def __repr__(self) -> str:
        """Short description."""
        state = "finished" if self._done else "open"
        return f"ArrayWriter({self.path!r}, {state}, shape={self.target.shape}, dtype={self.target.dtype_name})"


def create(
    path: PathLike,
    dtype: Any,
    shape: Union[int, Sequence[int]],
    order: str = "C",
    attrs: Optional[Mapping[str, Any]] = None,
    *,
    alignment: int = S.DATA_ALIGNMENT,
    wait: bool = False,
) -> ArrayWriter:
    """Start a new arrfile to be filled in place; call ``.finish()`` when done.

    Args:
        path: the final path.
        dtype: a spec name (``"f32"``, ``"bf16"``, ``"i8"`` = int8 — spec names
            win over numpy's spellings) or any numpy dtype (``np.float32``,
            ``">f8"``); a big-endian numpy dtype gives a big-endian file.
        shape: an int or a sequence of ints (``()`` for 0-d).
        order: ``"C"`` or ``"F"`` (stored as C when ndim <= 1).
        attrs: JSON-serialisable mapping or ``None``.
        alignment: power of two from 4096 to 1 MiB.
        wait: at ``finish()``, wait for an ``r+`` session holding the file at
            ``path`` to end instead of raising :class:`LockedError`.

    Returns:
        An :class:`ArrayWriter`: fill ``.array`` (or have workers write through
        ``.target``), then call ``.finish()``; or use it as a context manager.
    """
    return ArrayWriter(path, dtype, shape, order, attrs, alignment, wait=wait)
