"""Untrusted bytes: mutated files make every reader raise a typed ArrfileError naming the file, never anything else."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arrfile
from helpers import rewrite_header

_BASE: dict[str, bytes] = {}


def base_file(tmp: Path) -> bytes:
    if "b" not in _BASE:
        p = tmp / "base.arr"
        arrfile.save(p, np.arange(12, dtype=np.float32).reshape(3, 4), {"dims": ["a", "b"]})
        _BASE["b"] = p.read_bytes()
    return _BASE["b"]


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 4200), st.integers(0, 255)), min_size=1, max_size=6),
       st.booleans(), st.integers(0, 4200))
def test_mutated_files_raise_typed_errors(tmp_path: Path, edits: list[tuple[int, int]], fix_crc: bool, cut: int) -> None:
    data = bytearray(base_file(tmp_path))
    for offset, value in edits:
        if offset < len(data):
            data[offset] = value
    if fix_crc and len(data) >= 640:
        rewrite_header(data)
    if cut % 7 == 0:
        data = data[:cut]
    p = tmp_path / "m.arr"
    p.write_bytes(bytes(data))
    for reader in (arrfile.info, arrfile.verify, arrfile.open, arrfile.lazy):
        try:
            reader(p)
        except arrfile.ArrfileError as exc:
            assert str(p) in str(exc) and exc.kind
            if exc.check is not None:
                assert "expected" in str(exc) and "found" in str(exc)


@pytest.mark.parametrize("field, value", [
    (128, 2**64 - 1), (136, 2**64 - 1), (48, 2**64 - 1), (56, 2**64 - 4096), (64, 2**64 - 1),
])
def test_huge_fields_are_refused_before_any_allocation(tmp_path: Path, field: int, value: int) -> None:
    data = bytearray(base_file(tmp_path))
    struct.pack_into("<Q", data, field, value)
    rewrite_header(data)
    p = tmp_path / "h.arr"
    p.write_bytes(bytes(data))
    with pytest.raises(arrfile.ArrfileError) as excinfo:
        arrfile.info(p)
    assert excinfo.value.check in {f"R{i}" for i in range(8, 21)}
