"""Building the ``numpy.memmap`` that views a payload in place.

numpy cannot map zero bytes, and the spec forbids mapping past the payload
(§7.3), so an empty payload gets an *unmapped* ``numpy.memmap`` instance: an
ordinary zero-element array of the right dtype, shape and order whose class is
``numpy.memmap`` and whose ``filename``, ``offset`` and ``mode`` are set like a
real mapping's. ``flush()`` on it does nothing (there is nothing to flush).
"""

from __future__ import annotations

import os
from typing import IO, Any, Literal, cast

import numpy as np

from ._errors import PathLike


def make_memmap(
    fobj: IO[bytes],
    path: PathLike,
    dtype: np.dtype,
    shape: tuple[int, ...],
    order: str,
    data_offset: int,
    data_len: int,
    mode: str,
) -> np.memmap:
    """Map ``[data_offset, data_offset + data_len)`` of an open file as an array.

    Args:
        fobj: the open file (``rb`` for modes ``r``/``c``, ``r+b`` for ``r+``);
            the mapping is made from this descriptor, so it sees the same file
            that was checked even if the path is replaced meanwhile.
        path: the file's path, recorded as ``filename``.
        dtype: element dtype including byte order.
        shape: the array's shape (``()`` for 0-d).
        order: ``"C"`` or ``"F"``.
        data_offset: where the payload starts.
        data_len: payload length in bytes.
        mode: ``"r"``, ``"r+"`` or ``"c"`` (numpy.memmap modes).

    Returns:
        A ``numpy.memmap``; when ``data_len`` is 0 it is an unmapped instance
        (see the module docstring) that is read-only in mode ``r``.
    """
    map_order = cast(Literal["C", "F"], order)
    map_mode = cast(Literal["r", "r+", "c"], mode)
    if data_len == 0:
        empty: Any = np.ndarray.__new__(np.memmap, shape, dtype=dtype, order=map_order)
        empty.filename = os.path.abspath(os.fspath(path))
        empty.offset = data_offset
        empty.mode = mode
        if mode == "r":
            empty.flags.writeable = False
        return cast(np.memmap, empty)
    mapped: np.memmap = np.memmap(
        cast(Any, fobj), dtype=dtype, mode=map_mode, offset=data_offset, shape=shape, order=map_order
    )
    return mapped
