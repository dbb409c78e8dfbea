"""CRC-32/ISO-HDLC (spec §0) at memory speed, on every core.

Three things live here:

* the fastest available implementation of the spec's CRC-32 for payloads
  (``BACKEND``): ``isal.isal_zlib.crc32`` when the ``isal`` package is
  installed (``pip install arrfile[fast]``), else ``zlib_ng.zlib_ng.crc32``,
  else the standard library's ``zlib.crc32``. All three compute the same
  function and release the GIL on large buffers. Measured on 8 MiB parts
  (``benches/python_compare.py``, ``benches/RESULTS.md``): isal about 12 GB/s,
  zlib-ng about 8 GB/s, zlib about 2 GB/s on one core. For the 640-byte
  header the standard library's ``zlib.crc32`` is used (isal's call overhead
  makes it slower there; see :func:`crc32_small`);
* :func:`crc32_combine`, the CRC of a concatenation from the CRCs of its parts,
  written in Python as polynomial arithmetic over GF(2) (the method of zlib
  1.2.12's ``crc32_combine``): multiplying the first CRC by ``x^(8·len2)``
  modulo the CRC polynomial shifts it past the second part;
* :func:`crc32_parallel`, which splits a large buffer into 8 MiB parts that
  threads take in turn from a shared counter, then combines the parts' CRCs in
  order (the design of the Rust crate's ``crc32_parallel``).
"""

from __future__ import annotations

import itertools
import os
import threading
import zlib
from typing import Any, Callable, Optional

#: A CRC-32 function with zlib's signature: ``crc32(data, value=0) -> int``.
Crc32 = Callable[..., int]


def _pick_backend() -> tuple[str, Crc32]:
    """The fastest importable CRC-32 implementation, honouring ``ARRFILE_CRC``.

    ``ARRFILE_CRC=zlib`` (or ``isal``, ``zlib_ng``) forces a backend, for tests
    and benchmarks; an unknown or unavailable name falls back to the default order.
    """
    candidates: dict[str, Optional[Crc32]] = {}
    try:
        from zlib_ng import zlib_ng

        candidates["zlib_ng"] = zlib_ng.crc32
    except ImportError:
        candidates["zlib_ng"] = None
    try:
        from isal import isal_zlib

        candidates["isal"] = isal_zlib.crc32
    except ImportError:
        candidates["isal"] = None
    candidates["zlib"] = zlib.crc32
    forced = os.environ.get("ARRFILE_CRC")
    if forced and candidates.get(forced) is not None:
        func = candidates[forced]
        assert func is not None
        return forced, func
    for name in ("isal", "zlib_ng", "zlib"):
        func = candidates[name]
        if func is not None and func(b"123456789") == 0xCBF43926:
            return name, func
    return "zlib", zlib.crc32  # pragma: no cover - zlib always qualifies


BACKEND_NAME, BACKEND = _pick_backend()

#: The reflected CRC-32/ISO-HDLC polynomial.
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """Product of two polynomials over GF(2) modulo the CRC polynomial (reflected bit order)."""
    m = 1 << 31
    p = 0
    for _ in range(32):
        if a & m:
            p ^= b
            if not a & (m - 1):
                break
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return p


def _x2n_table() -> tuple[int, ...]:
    """``x^(2^k)`` modulo the polynomial for k = 0..31."""
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))
    return tuple(table)


_X2N = _x2n_table()


def _x8nmodp(nbytes: int) -> int:
    """``x^(8·nbytes)`` modulo the polynomial: the operator that shifts a CRC past ``nbytes`` bytes."""
    p = 1 << 31  # x^0
    k = 3  # 8 = 2^3
    n = nbytes
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of ``A + B`` from ``crc1 = crc32(A)``, ``crc2 = crc32(B)`` and ``len2 = len(B)``.

    Raises:
        ValueError: ``len2`` is negative.
    """
    if len2 < 0:
        raise ValueError(f"len2 must be >= 0, got {len2}")
    return _multmodp(_x8nmodp(len2), crc1 & 0xFFFFFFFF) ^ (crc2 & 0xFFFFFFFF)


def crc32_combine_op(len2: int) -> int:
    """The operator of :func:`crc32_combine` for parts of ``len2`` bytes, to reuse with :func:`crc32_combine_with`."""
    return _x8nmodp(len2)


def crc32_combine_with(op: int, crc1: int, crc2: int) -> int:
    """:func:`crc32_combine` with a precomputed operator (``crc32_combine_op(len2)``)."""
    return _multmodp(op, crc1 & 0xFFFFFFFF) ^ (crc2 & 0xFFFFFFFF)


#: Bytes a thread takes at a time.
PIECE = 8 << 20
#: Buffers smaller than this are hashed on the calling thread alone.
MIN_PARALLEL = 32 << 20


def default_threads() -> int:
    """The cores this process may run on (``os.sched_getaffinity`` where it exists)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))  # type: ignore[attr-defined,unused-ignore]
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def crc32(data: Any, value: int = 0) -> int:
    """CRC-32 of a bytes-like object with the fastest backend (one thread)."""
    return BACKEND(data, value)


#: CRC-32 for small buffers (the header): the standard library's, whose call costs least.
crc32_small: Crc32 = zlib.crc32


def crc32_parallel(
    data: Any, value: int = 0, *, threads: Optional[int] = None, piece: int = PIECE,
    func: Optional[Crc32] = None,
) -> int:
    """CRC-32 of a bytes-like object, computed on up to ``threads`` threads.

    Equal to ``zlib.crc32(data, value)``. The calling thread works too; the
    others start only for buffers of at least 32 MiB (a smaller buffer takes
    less time to hash than threads take to start).

    Args:
        data: any object with the buffer protocol (bytes, memoryview, mmap, numpy array).
        value: the running CRC to continue from, as in ``zlib.crc32``.
        threads: how many threads; default: every core this process may use.
        piece: bytes per part a thread takes at a time.
        func: the CRC-32 function (default: the fastest backend).
    """
    fn = BACKEND if func is None else func
    view = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else memoryview(data)
    total = len(view)
    nthreads = default_threads() if threads is None else max(1, int(threads))
    if nthreads == 1 or total < max(MIN_PARALLEL, 2 * piece):
        return fn(view, value)
    starts = range(0, total, piece)
    results: list[Optional[int]] = [None] * len(starts)
    counter = itertools.count()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while True:
                index = next(counter)
                if index >= len(starts):
                    return
                start = starts[index]
                results[index] = fn(view[start : start + piece])
        except BaseException as exc:  # pragma: no cover - re-raised below
            errors.append(exc)

    helpers = [threading.Thread(target=work, daemon=True) for _ in range(min(nthreads, len(starts)) - 1)]
    for helper in helpers:
        helper.start()
    work()
    for helper in helpers:
        helper.join()
    if errors:
        raise errors[0]
    crc = value & 0xFFFFFFFF
    full_op = crc32_combine_op(piece)
    for index, start in enumerate(starts):
        part = results[index]
        if part is None:  # pragma: no cover - a helper died; redo its part
            part = fn(view[start : start + piece])
        length = min(piece, total - start)
        op = full_op if length == piece else crc32_combine_op(length)
        crc = crc32_combine_with(op, crc, part)
    return crc


__all__ = [
    "BACKEND",
    "BACKEND_NAME",
    "PIECE",
    "crc32",
    "crc32_combine",
    "crc32_combine_op",
    "crc32_combine_with",
    "crc32_parallel",
    "crc32_small",
    "default_threads",
]
