"""save -> open round trips for every dtype, shapes, orders, byte orders and attributes."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import arrfile
from helpers import header_bytes, header_crc_ok, payload_crc_on_disk, u32, u64

NATIVE = {
    "bool": np.bool_, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
    "u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64,
    "f16": np.float16, "f32": np.float32, "f64": np.float64,
    "c64": np.complex64, "c128": np.complex128,
}
ML = {"bf16": ml_dtypes.bfloat16, "f8_e4m3fn": ml_dtypes.float8_e4m3fn, "f8_e5m2": ml_dtypes.float8_e5m2}
ALL = {**NATIVE, **ML}
CODES = {d.name: d.code for d in arrfile.DTYPES}


def sample(dtype: Any, shape: tuple[int, ...], order: str = "C") -> np.ndarray:
    """Deterministic non-trivial values of ``dtype``."""
    count = int(np.prod(shape)) if shape else 1
    base = np.arange(count, dtype=np.float64) - count / 3
    dt = np.dtype(dtype)
    if dt.kind == "b":
        data = (np.arange(count) % 3 == 0)
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        data = (np.arange(count, dtype=np.int64) * 7919 + 3) % min(info.max, 2**31 - 1)
        if dt.kind == "i":
            data = data - data.max(initial=0) // 2
        data = data.astype(dt)
        if count >= 2:
            data[0], data[1] = info.min, info.max
    elif dt.kind == "c":
        data = base * 0.5 + 1j * (base * -0.25)
    else:
        data = base * 0.5
    return np.asarray(data).astype(dt).reshape(shape, order=order)


def check_file(path: Path, original: np.ndarray, dtype_name: str, order: str, byte_order: str,
               attrs: Any = None) -> np.memmap:
    """Assert the file at ``path`` describes and holds ``original``."""
    info = arrfile.info(path)
    assert info["dtype"] == dtype_name
    assert info["shape"] == list(original.shape)
    assert info["order"] == order
    assert info["byte_order"] == byte_order
    assert info["attributes"] == attrs
    assert info["version"] == "1.0"
    assert info["checksum_state"] == "valid"
    assert info["data_len"] == original.size * original.dtype.itemsize
    assert info["data_offset"] % 4096 == 0 and info["data_offset"] >= 640 + info["metadata_len"]
    assert info["data_offset"] - (640 + info["metadata_len"]) < 4096
    assert path.stat().st_size == info["data_offset"] + info["data_len"]
    head = header_bytes(path)
    assert head[:8] == arrfile.MAGIC and header_crc_ok(head)
    assert int.from_bytes(head[32:34], "little") == CODES[dtype_name]
    assert head[37] == 1 and u32(head, 40) == payload_crc_on_disk(path)
    assert head[38:40] == bytes(2) and head[72:128] == bytes(56)
    assert arrfile.verify(path).ok
    loaded = arrfile.open(path)
    assert isinstance(loaded, np.memmap)
    assert loaded.shape == original.shape
    assert loaded.dtype == original.dtype or loaded.dtype.newbyteorder("=") == original.dtype.newbyteorder("=")
    assert np.array_equal(np.asarray(loaded), original)  # samples hold no NaN
    # bit-exact comparison of the values (through native byte order)
    a = np.ascontiguousarray(np.asarray(loaded).astype(loaded.dtype.newbyteorder("=")))
    b = np.ascontiguousarray(np.asarray(original).astype(original.dtype.newbyteorder("=")))
    assert a.tobytes() == b.tobytes()
    return loaded


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (7,), (4, 5), (2, 3, 4)], ids=str)
def test_roundtrip_c_order(name: str, shape: tuple[int, ...], tmp_path: Path) -> None:
    original = sample(ALL[name], shape)
    path = tmp_path / "a.arr"
    arrfile.save(path, original)
    loaded = check_file(path, original, name, "C", "little" if (np.dtype(ALL[name]).itemsize == 1 or sys.byteorder == "little") else "big")
    if original.size == 0:
        assert loaded.size == 0 and loaded.offset == 4096 and path.stat().st_size == 4096
    if shape == ():
        assert loaded.ndim == 0 and path.stat().st_size == 4096 + np.dtype(ALL[name]).itemsize


@pytest.mark.parametrize("name", sorted(ALL))
def test_roundtrip_fortran_order(name: str, tmp_path: Path) -> None:
    original = np.asfortranarray(sample(ALL[name], (3, 4, 2)))
    assert original.flags.f_contiguous and not original.flags.c_contiguous
    path = tmp_path / "f.arr"
    arrfile.save(path, original)
    loaded = check_file(path, original, name, "F", "little")
    assert loaded.flags.f_contiguous and not loaded.flags.c_contiguous
    # the payload is the array's memory in Fortran order
    payload = path.read_bytes()[4096:]
    assert payload == original.T.tobytes()


@pytest.mark.parametrize("name", sorted(n for n in ALL if np.dtype(ALL[n]).itemsize > 1))
def test_roundtrip_big_endian_keeps_byte_order(name: str, tmp_path: Path) -> None:
    original = sample(ALL[name], (5, 3)).astype(np.dtype(ALL[name]).newbyteorder(">"))
    path = tmp_path / "be.arr"
    arrfile.save(path, original)
    loaded = check_file(path, original, name, "C", "big")
    assert loaded.dtype.byteorder == ">" or (sys.byteorder == "big" and loaded.dtype.byteorder == "=")
    assert path.read_bytes()[4096:] == original.tobytes()  # stored as-is, big-endian
    assert header_bytes(path)[34] == 1


def test_one_byte_types_always_write_byte_order_zero(tmp_path: Path) -> None:
    path = tmp_path / "u8.arr"
    arrfile.save(path, np.arange(5, dtype=np.dtype("u1").newbyteorder(">")))
    assert header_bytes(path)[34] == 0


def test_ndim_le_1_writes_order_c(tmp_path: Path) -> None:
    path = tmp_path / "v.arr"
    arrfile.save(path, np.asfortranarray(np.arange(6.0)))
    assert header_bytes(path)[35] == 0
    arrfile.save(path, np.ones((1, 5), order="F"))  # both C- and F-contiguous: C
    assert header_bytes(path)[35] == 0


def test_non_contiguous_array_is_written_in_c_order(tmp_path: Path) -> None:
    base = np.arange(60, dtype=np.int32).reshape(6, 10)
    view = base[::2, 1::3]
    path = tmp_path / "nc.arr"
    arrfile.save(path, view)
    check_file(path, np.ascontiguousarray(view), "i32", "C", "little")


def test_ndim_64(tmp_path: Path) -> None:
    original = np.arange(6, dtype=np.uint8).reshape((1,) * 62 + (2, 3))
    path = tmp_path / "d64.arr"
    arrfile.save(path, original)
    check_file(path, original, "u8", "C", "little")


def test_attributes_round_trip_and_encoding(tmp_path: Path) -> None:
    attrs = {"units": "kelvin", "b": [1, 2.5, None, True], "µ": {"z": 1, "a": "ü"}, "empty": {}}
    path = tmp_path / "m.arr"
    arrfile.save(path, np.zeros(3, np.float32), attrs)
    info = arrfile.info(path)
    assert info["attributes"] == attrs
    raw = path.read_bytes()[640:640 + info["metadata_len"]]
    assert raw == '{"b":[1,2.5,null,true],"empty":{},"units":"kelvin","µ":{"a":"ü","z":1}}'.encode()
    head = header_bytes(path)
    assert u32(head, 44) == zlib.crc32(raw) and u64(head, 48) == len(raw)


def test_empty_object_vs_none(tmp_path: Path) -> None:
    a, b = tmp_path / "a.arr", tmp_path / "b.arr"
    arrfile.save(a, np.zeros(2), None)
    arrfile.save(b, np.zeros(2), {})
    assert arrfile.info(a)["attributes"] is None and arrfile.info(a)["metadata_len"] == 0
    assert u32(header_bytes(a), 44) == 0
    assert arrfile.info(b)["attributes"] == {} and arrfile.info(b)["metadata_len"] == 2


def test_large_metadata_pushes_data_offset(tmp_path: Path) -> None:
    path = tmp_path / "big.arr"
    arrfile.save(path, np.arange(4, dtype=np.uint8), {"note": "x" * 5000})
    info = arrfile.info(path)
    assert info["data_offset"] == 8192
    assert np.array_equal(arrfile.open(path), np.arange(4, dtype=np.uint8))


@pytest.mark.parametrize("alignment", [4096, 16384, 65536, 1 << 20])
def test_alignment(alignment: int, tmp_path: Path) -> None:
    path = tmp_path / "al.arr"
    arrfile.save(path, np.arange(10.0), {"k": "v"}, alignment=alignment)
    assert arrfile.info(path)["data_offset"] == alignment
    assert arrfile.verify(path).ok


@pytest.mark.parametrize("alignment", [0, 512, 4095, 6144, 1 << 21])
def test_bad_alignment_is_refused(alignment: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="alignment"):
        arrfile.save(tmp_path / "x.arr", np.zeros(2), alignment=alignment)
    assert list(tmp_path.iterdir()) == []


def test_bool_bytes_are_normalised(tmp_path: Path) -> None:
    weird = np.array([0, 1, 2, 255], dtype=np.uint8).view(np.bool_)
    path = tmp_path / "b.arr"
    arrfile.save(path, weird)
    assert path.read_bytes()[4096:] == bytes([0, 1, 1, 1])
    assert arrfile.verify(path).invalid_bool_bytes == 0


def test_verify_reports_bad_bool_bytes(tmp_path: Path) -> None:
    path = tmp_path / "b.arr"
    arrfile.save(path, np.array([True, False, True]))
    data = bytearray(path.read_bytes())
    data[4096 + 1] = 7
    path.write_bytes(bytes(data))
    # re-commit the CRC so the checksum matches the odd byte
    mm = arrfile.open(path, "r+")
    arrfile.commit(mm)
    result = arrfile.verify(path)
    assert result.outcome == "valid" and result.invalid_bool_bytes == 1


@pytest.mark.parametrize("bad", [np.array(["a"]), np.array([object()]), np.array([1], dtype="M8[s]"),
                                 np.zeros(1, dtype=[("a", "i4")]), np.zeros(1, dtype=np.longdouble)
                                 if np.dtype(np.longdouble).itemsize > 8 else np.array(["x"])])
def test_unsupported_dtypes_are_refused(bad: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cannot be stored"):
        arrfile.save(tmp_path / "x.arr", bad)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("attrs, error", [
    ({"arrfile.version": 1}, ValueError),
    ({"x": float("nan")}, ValueError),
    ({"x": float("inf")}, ValueError),
    ({1: "int key"}, TypeError),
    ([1, 2], TypeError),
    ({"x": object()}, TypeError),
])
def test_bad_attributes_are_refused(attrs: Any, error: type, tmp_path: Path) -> None:
    with pytest.raises(error):
        arrfile.save(tmp_path / "x.arr", np.zeros(2), attrs)
    assert list(tmp_path.iterdir()) == []


def _nested(depth: int) -> dict[str, Any]:
    """An attribute object nested ``depth`` levels deep (the top object is level 1)."""
    value: Any = 0
    for _ in range(depth - 1):
        value = [value]
    return {"deep": value}


def test_nesting_depth_limit(tmp_path: Path) -> None:
    ok = tmp_path / "ok.arr"
    arrfile.save(ok, np.zeros(1), _nested(64))
    assert arrfile.info(ok)["attributes"] == _nested(64)
    with pytest.raises(ValueError, match="64 levels"):
        arrfile.save(tmp_path / "deep.arr", np.zeros(1), _nested(65))


def test_save_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "r.arr"
    arrfile.save(path, np.zeros(3))
    old = arrfile.open(path)
    arrfile.save(path, np.ones((2, 2), np.int16))
    assert np.array_equal(arrfile.open(path), np.ones((2, 2), np.int16))
    assert np.array_equal(old, np.zeros(3))  # the old mapping still sees the old inode
    assert [p.name for p in tmp_path.iterdir()] == ["r.arr"]


def test_save_accepts_lists_and_scalars(tmp_path: Path) -> None:
    path = tmp_path / "l.arr"
    arrfile.save(path, [[1, 2], [3, 4]])
    assert arrfile.info(path)["dtype"] == "i64" and arrfile.info(path)["shape"] == [2, 2]
    arrfile.save(path, 3.5)
    assert arrfile.info(path)["shape"] == [] and float(arrfile.open(path)) == 3.5


def test_missing_ml_dtypes_gives_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "bf.arr"
    arrfile.save(path, np.arange(4, dtype=np.float32).astype(ml_dtypes.bfloat16))
    monkeypatch.setattr(arrfile._spec, "_ml_dtypes", lambda: None)
    assert arrfile.info(path)["dtype"] == "bf16"  # describing needs no ml_dtypes
    assert arrfile.verify(path).ok
    with pytest.raises(arrfile.DtypeUnavailableError, match=r"'bf16'.*pip install ml_dtypes") as excinfo:
        arrfile.open(path)
    assert str(path) in str(excinfo.value) and excinfo.value.kind == "dtype_unavailable"
    with pytest.raises(arrfile.DtypeUnavailableError, match="f8_e5m2"):
        arrfile.create(tmp_path / "n.arr", "f8_e5m2", (2,))
    assert not list(tmp_path.glob(".*arrtmp*"))
