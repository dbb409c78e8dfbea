"""The CRC layer: every backend computes the spec's CRC-32; combine and the parallel split agree with zlib."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arrfile
from arrfile import _crc
from arrfile._fileio import crc32_range


def _backends() -> dict[str, _crc.Crc32]:
    from isal import isal_zlib
    from zlib_ng import zlib_ng

    return {"zlib": zlib.crc32, "isal": isal_zlib.crc32, "zlib_ng": zlib_ng.crc32}


def test_fast_backend_is_installed_and_chosen() -> None:
    """run_tests.sh installs arrfile[fast]; the fastest measured backend (isal) must win."""
    assert _crc.BACKEND_NAME == "isal"
    assert _crc.crc32_small(b"123456789") == 0xCBF43926


@pytest.mark.parametrize("name", ["zlib", "isal", "zlib_ng"])
def test_every_backend_computes_the_spec_crc(name: str) -> None:
    fn = _backends()[name]
    assert fn(b"123456789") == 0xCBF43926
    assert fn(b"") == 0
    data = np.random.default_rng(1).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    assert fn(data) == zlib.crc32(data)
    assert fn(data[1000:], fn(data[:1000])) == zlib.crc32(data)


@pytest.mark.parametrize("name", ["zlib", "isal", "zlib_ng"])
def test_backend_forced_by_environment(name: str) -> None:
    code = "from arrfile import _crc; print(_crc.BACKEND_NAME)"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ARRFILE_CRC": name},
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == name


def test_combine_known_values() -> None:
    assert _crc.crc32_combine(zlib.crc32(b"1234"), zlib.crc32(b"56789"), 5) == 0xCBF43926
    assert _crc.crc32_combine(0, zlib.crc32(b"123456789"), 9) == 0xCBF43926
    assert _crc.crc32_combine(0xCBF43926, 0, 0) == 0xCBF43926  # zero-length second part
    with pytest.raises(ValueError):
        _crc.crc32_combine(0, 0, -1)


@settings(max_examples=200, deadline=None, database=None)
@given(st.binary(max_size=3000), st.lists(st.integers(min_value=0, max_value=3000), max_size=6))
def test_combine_of_random_splits_equals_whole_crc(data: bytes, cuts: list[int]) -> None:
    # Repeated cut points, and cuts at 0 or at the end, give zero-length parts.
    points = [0] + sorted(min(c, len(data)) for c in cuts) + [len(data)]
    parts = [data[a:b] for a, b in zip(points, points[1:])]
    crc = 0
    for part in parts:
        crc = _crc.crc32_combine(crc, zlib.crc32(part), len(part))
    assert crc == zlib.crc32(data)


@settings(max_examples=100, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(min_value=0, max_value=2**32 - 1),
       st.integers(min_value=0, max_value=2**62))
def test_combine_op_matches_combine(crc1: int, crc2: int, len2: int) -> None:
    assert _crc.crc32_combine_with(_crc.crc32_combine_op(len2), crc1, crc2) == _crc.crc32_combine(crc1, crc2, len2)


def test_combine_over_long_zero_run_matches_zlib() -> None:
    zeros = bytes(5_000_000)
    assert _crc.crc32_combine(0xDEADBEEF, zlib.crc32(zeros), len(zeros)) == zlib.crc32(zeros, 0xDEADBEEF)


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("piece", [1, 7, 4096, 1 << 20])
def test_parallel_equals_whole_buffer(threads: int, piece: int) -> None:
    rng = np.random.default_rng(threads * 100 + piece)
    size = int(rng.integers(0, 3 << 20)) if piece > 7 else 5000
    data = rng.integers(0, 256, size, dtype=np.uint8)
    old = _crc.MIN_PARALLEL
    _crc.MIN_PARALLEL = 0  # force the threaded path on small buffers
    try:
        assert _crc.crc32_parallel(data, threads=threads, piece=piece) == zlib.crc32(data)
        assert _crc.crc32_parallel(data, 0x1234, threads=threads, piece=piece) == zlib.crc32(data, 0x1234)
        assert _crc.crc32_parallel(b"", threads=threads, piece=piece) == 0
    finally:
        _crc.MIN_PARALLEL = old


def test_parallel_with_random_part_sizes_and_backends() -> None:
    rng = random.Random(7)
    data = np.random.default_rng(7).integers(0, 256, 2 << 20, dtype=np.uint8)
    old = _crc.MIN_PARALLEL
    _crc.MIN_PARALLEL = 0
    try:
        for fn in _backends().values():
            for _ in range(5):
                piece = rng.randrange(1, 1 << 20)
                assert _crc.crc32_parallel(data, threads=rng.randrange(1, 5), piece=piece, func=fn) == zlib.crc32(data)
    finally:
        _crc.MIN_PARALLEL = old


def test_parallel_on_a_large_buffer_uses_threads_and_agrees() -> None:
    data = np.random.default_rng(3).integers(0, 256, (40 << 20) + 3, dtype=np.uint8)
    assert _crc.crc32_parallel(data, threads=2) == zlib.crc32(data)
    assert _crc.crc32_parallel(memoryview(data)[5:], threads=2) == zlib.crc32(memoryview(data)[5:])


def test_crc32_range_of_a_file_matches(tmp_path: Path) -> None:
    data = np.random.default_rng(5).integers(0, 256, (33 << 20) + 17, dtype=np.uint8).tobytes()
    p = tmp_path / "blob"
    p.write_bytes(data)
    fd = os.open(p, os.O_RDONLY)
    try:
        for offset, length in [(0, len(data)), (4096, len(data) - 4096), (12345, 1 << 20), (7, 0), (65536 + 3, 99)]:
            assert crc32_range(fd, offset, length) == zlib.crc32(data[offset:offset + length])
    finally:
        os.close(fd)


def test_verify_save_commit_finish_agree_with_zlib(tmp_path: Path) -> None:
    a = np.random.default_rng(9).standard_normal((3000, 3000)).astype(np.float32)  # 36 MB: threaded path
    p = tmp_path / "a.arr"
    arrfile.save(p, a)
    expected = zlib.crc32(a.tobytes())
    assert arrfile.info(p)["payload_crc"] == expected
    result = arrfile.verify(p)
    assert result.ok and result.found == expected
    with arrfile.create(tmp_path / "b.arr", "f32", a.shape) as w:
        w.array[:] = a
    assert arrfile.info(tmp_path / "b.arr")["payload_crc"] == expected
    m = arrfile.open(p, "r+")
    m[0, 0] = 1.5
    crc = arrfile.commit(m)
    b = a.copy()
    b[0, 0] = 1.5
    assert crc == zlib.crc32(b.tobytes()) == arrfile.verify(p).found
