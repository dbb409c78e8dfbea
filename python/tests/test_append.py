"""Format 1.1: arrays that grow (spec §11): append, appender, recover, and the readers around them."""

from __future__ import annotations

import os
import pickle
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import arrfile
from arrfile import _append
from conftest import FIXTURES
from helpers import header_bytes, rewrite_header, u32, u64


def saved(path: Path, array: np.ndarray) -> bytes:
    """``save`` ``array`` at ``path`` and return the file's bytes."""
    arrfile.save(path, array)
    return path.read_bytes()


def same_as_saved(tmp_path: Path, path: Path, whole: np.ndarray) -> None:
    """The file at ``path`` is byte for byte ``save`` of ``whole`` (same header, CRC, payload)."""
    reference = tmp_path / "reference.arr"
    arrfile.save(reference, whole)
    assert path.read_bytes() == reference.read_bytes()


# --------------------------------------------------------------------------- round trips

DTYPES = ["<f4", ">f8", "<i2", ">u4", "|i1", "|b1", "<c16", ">c8", "<f2"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_many_small_appends_equal_one_save(tmp_path: Path, dtype: str, order: str) -> None:
    rng = np.random.default_rng(7)
    trailing = (3, 2)

    def block(k: int) -> np.ndarray:
        shape = (*trailing, k) if order == "F" else (k, *trailing)
        raw = rng.integers(0, 100, size=shape)
        data = (raw % 2).astype(dtype) if dtype == "|b1" else raw.astype(dtype)
        return np.asfortranarray(data) if order == "F" else data

    axis = 2 if order == "F" else 0
    parts = [block(4)]
    path = tmp_path / "g.arr"
    arrfile.save(path, parts[0])
    assert arrfile.info(path)["order"] == order
    for k in (1, 0, 2, 5, 1, 3):
        parts.append(block(k))
        new_shape = arrfile.append(path, parts[-1])
        assert new_shape == np.concatenate(parts, axis=axis).shape
    whole = np.concatenate(parts, axis=axis).astype(dtype)  # concatenate gives native byte order
    same_as_saved(tmp_path, path, np.asfortranarray(whole) if order == "F" else whole)
    a = arrfile.open(path)
    assert a.dtype == np.dtype(dtype) and np.array_equal(a, whole)
    assert arrfile.verify(path).ok


def test_bf16_and_fp8_append(tmp_path: Path) -> None:
    import ml_dtypes

    for dtype in (np.dtype(ml_dtypes.bfloat16).newbyteorder(">"), np.dtype(ml_dtypes.float8_e4m3fn)):
        base = np.arange(6, dtype=np.float32).reshape(2, 3).astype(dtype)
        more = (np.arange(9, dtype=np.float32).reshape(3, 3) / 4).astype(dtype)
        path = tmp_path / "ml.arr"
        arrfile.save(path, base)
        arrfile.append(path, more)
        same_as_saved(tmp_path, path, np.concatenate([base, more]).astype(dtype))


def test_one_row_of_the_trailing_shape_and_scalars_into_a_1d_file(tmp_path: Path) -> None:
    path = tmp_path / "r.arr"
    arrfile.save(path, np.zeros((1, 3), np.int32))
    with arrfile.appender(path) as w:
        assert w.write(np.array([1, 2, 3], np.int32)) == 1  # ndim - 1: one row
        assert w.write(np.array([[4, 5, 6], [7, 8, 9]], np.int32)) == 2
        assert w.write([10, 11, 12]) == 1  # a list: converted to the file's dtype
        assert w.rows_written == 4 and w.rows_pending == 4 and w.shape == (1, 3)
    assert arrfile.open(path).tolist() == [[0, 0, 0], [1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
    line = tmp_path / "line.arr"
    arrfile.save(line, np.array([1.5], np.float64))
    arrfile.append(line, np.float64(2.5))  # a 0-d array: one row of a 1-d file
    arrfile.append(line, 3.5)
    arrfile.append(line, [np.float64(4.5), np.array([5.5, 6.5])])  # a list of arrays: in order
    same_as_saved(tmp_path, line, np.array([1.5, 2.5, 3.5, 4.5, 5.5, 6.5]))


def test_rows_in_another_byte_order_are_converted_to_the_files(tmp_path: Path) -> None:
    path = tmp_path / "be.arr"
    base = np.arange(4, dtype=">f4").reshape(2, 2)
    arrfile.save(path, base)
    more = np.array([[5, 6]], dtype="<f4")
    arrfile.append(path, more)
    assert arrfile.info(path)["byte_order"] == "big"
    assert path.read_bytes()[4096 + 16:] == np.array([5, 6], ">f4").tobytes()
    same_as_saved(tmp_path, path, np.concatenate([base, more]).astype(">f4"))


def test_bool_rows_are_written_as_0_and_1(tmp_path: Path) -> None:
    path = tmp_path / "b.arr"
    arrfile.save(path, np.array([True, False]))
    odd = np.frombuffer(bytes([0, 7, 1]), dtype=np.bool_)  # a byte 7 read as True
    arrfile.append(path, odd)
    assert path.read_bytes()[4096:] == bytes([1, 0, 0, 1, 1])
    assert arrfile.verify(path).invalid_bool_bytes == 0


def test_rows_of_zero_bytes_grow_the_outer_dimension(tmp_path: Path) -> None:
    path = tmp_path / "z.arr"
    arrfile.save(path, np.zeros((3, 0), np.float32))
    assert arrfile.append(path, np.zeros((2, 0), np.float32)) == (5, 0)
    same_as_saved(tmp_path, path, np.zeros((5, 0), np.float32))
    fz = tmp_path / "fz.arr"
    arrfile.save(fz, np.asfortranarray(np.zeros((0, 2, 3), np.int8)))
    assert arrfile.info(fz)["order"] == "C"  # also C-contiguous: written as C (SPEC_NOTES 8)
    arrfile.append(fz, np.zeros((4, 2, 3), np.int8))
    same_as_saved(tmp_path, fz, np.zeros((4, 2, 3), np.int8))


def test_an_empty_file_grows_from_zero_rows(tmp_path: Path) -> None:
    path = tmp_path / "e.arr"
    arrfile.save(path, np.zeros((0, 4), np.uint16))
    arrfile.append(path, np.arange(8, dtype=np.uint16).reshape(2, 4))
    same_as_saved(tmp_path, path, np.arange(8, dtype=np.uint16).reshape(2, 4))


def test_appending_nothing_leaves_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "n.arr"
    before = saved(path, np.ones((2, 2)))
    mtime = path.stat().st_mtime_ns
    assert arrfile.append(path, np.zeros((0, 2))) == (2, 2)
    assert arrfile.append(path, []) == (2, 2)  # no arrays at all
    with arrfile.appender(path) as w:
        assert w.commit() == (2, 2)
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime


def test_commit_is_a_checkpoint_and_the_appender_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "c.arr"
    arrfile.save(path, np.zeros((1, 2), np.int64))
    with arrfile.appender(path) as w:
        w.write(np.ones((2, 2), np.int64))
        assert w.commit() == (3, 2)
        assert arrfile.open(path).shape == (3, 2) and arrfile.verify(path).ok
        w.write(np.full((1, 2), 2, np.int64))
        assert w.rows_committed == 2 and w.rows_pending == 1 and w.rows_written == 3
        assert w.rollback() == 1
        w.write(np.full((1, 2), 3, np.int64))
    assert arrfile.open(path).tolist() == [[0, 0], [1, 1], [1, 1], [3, 3]]
    same_as_saved(tmp_path, path, np.array([[0, 0], [1, 1], [1, 1], [3, 3]], np.int64))


def test_an_exception_rolls_back_to_the_file_before(tmp_path: Path) -> None:
    path = tmp_path / "x.arr"
    before = saved(path, np.arange(6.0).reshape(3, 2))
    with pytest.raises(RuntimeError, match="boom"):
        with arrfile.appender(path) as w:
            w.write(np.ones((4, 2)))
            assert arrfile.info(path)["append_in_progress"]
            raise RuntimeError("boom")
    assert path.read_bytes() == before
    # append() of a list whose second array is wrong: all or nothing.
    with pytest.raises(arrfile.AppendMismatchError):
        arrfile.append(path, [np.ones((1, 2)), np.ones((1, 3))])
    assert path.read_bytes() == before


def test_an_appender_dropped_without_commit_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "d.arr"
    before = saved(path, np.arange(4, dtype=np.uint8))
    w = arrfile.appender(path)
    w.write(np.arange(3, dtype=np.uint8))
    assert len(path.read_bytes()) == len(before) + 3
    del w
    assert path.read_bytes() == before
    w2 = arrfile.appender(path)
    w2.write(np.arange(3, dtype=np.uint8))
    w2.close()  # close without commit: rolled back too
    assert path.read_bytes() == before and w2.closed
    with pytest.raises(ValueError, match="closed"):
        w2.write(np.arange(3, dtype=np.uint8))


def test_raw_bytes_may_split_rows_but_commit_needs_whole_rows(tmp_path: Path) -> None:
    path = tmp_path / "raw.arr"
    arrfile.save(path, np.zeros((1, 3), "<u2"))  # rows of 6 bytes
    rows = np.arange(1, 7, dtype="<u2").reshape(2, 3).tobytes()
    with arrfile.appender(path) as w:
        w.write_bytes(rows[:4])
        w.write_bytes(rows[4:9])
        assert w.rows_pending == 1
        with pytest.raises(arrfile.PartialRowError) as excinfo:
            w.commit()
        assert "3 bytes" in str(excinfo.value) and excinfo.value.kind == "partial_row"
        assert arrfile.open(path).shape == (1, 3)  # nothing committed
        with pytest.raises(arrfile.PartialRowError):
            w.write(np.zeros((1, 3), "<u2"))  # a typed row cannot start mid-row
        w.write_bytes(rows[9:])
    assert arrfile.open(path).tolist() == [[0, 0, 0], [1, 2, 3], [4, 5, 6]]
    assert arrfile.verify(path).ok


def test_large_inputs_are_taken_in_slabs_of_whole_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_append, "SLAB_BYTES", 100)  # 8 rows of 12 bytes per slab
    path = tmp_path / "s.arr"
    arrfile.save(path, np.zeros((1, 3), np.float32))
    src = tmp_path / "src.arr"
    more = np.arange(300, dtype=np.float32).reshape(100, 3)
    arrfile.save(src, more)
    arrfile.append(path, arrfile.open(src))  # a map: taken slab by slab
    arrfile.append(path, arrfile.lazy(src))  # any array-like with shape, dtype and slicing
    fpath = tmp_path / "f.arr"
    arrfile.save(fpath, np.asfortranarray(np.zeros((3, 2, 2), np.float32)))
    fmore = np.asfortranarray(np.arange(60, dtype=np.float32).reshape(3, 2, 10))
    arrfile.append(fpath, fmore[:, :, ::2])  # a non-contiguous view
    same_as_saved(tmp_path, path, np.concatenate([np.zeros((1, 3), np.float32), more, more]))
    same_as_saved(tmp_path, fpath, np.asfortranarray(np.concatenate([np.zeros((3, 2, 2), np.float32), fmore[:, :, ::2]], axis=2)))


# --------------------------------------------------------------------------- checksum states


def set_state(path: Path, state: int) -> None:
    """Give the file checksum state ``state`` (0 or 2) with payload_crc 0."""
    data = bytearray(path.read_bytes())
    data[37] = state
    data[40:44] = bytes(4)
    rewrite_header(data)
    path.write_bytes(bytes(data))


def test_a_valid_crc_is_combined_without_reading_the_old_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v.arr"
    arrfile.save(path, np.arange(1000, dtype=np.int32))
    data = bytearray(path.read_bytes())
    data[4096] ^= 1  # the old rows no longer match their CRC (nobody re-reads them)
    path.write_bytes(bytes(data))
    old_crc = arrfile.info(path)["payload_crc"]
    read_calls: list[Any] = []
    real_pread = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, off: (read_calls.append((n, off)), real_pread(fd, n, off))[1])
    arrfile.append(path, np.arange(5, dtype=np.int32))
    monkeypatch.undo()
    assert all(off + n <= 4096 for n, off in read_calls), read_calls  # header and padding only
    new = np.arange(5, dtype=np.int32).tobytes()
    info = arrfile.info(path)
    assert info["checksum_state"] == "valid"
    assert info["payload_crc"] == arrfile._crc.crc32_combine(old_crc, zlib.crc32(new), len(new))
    assert arrfile.verify(path).corrupt  # the old rows' damage is still found


@pytest.mark.parametrize("state, name", [(0, "absent"), (2, "being_modified")])
def test_absent_and_being_modified_stay_as_they_were(tmp_path: Path, state: int, name: str) -> None:
    path = tmp_path / "s.arr"
    arrfile.save(path, np.arange(4, dtype=np.uint8))
    set_state(path, state)
    arrfile.append(path, np.arange(3, dtype=np.uint8))
    info = arrfile.info(path)
    assert (info["checksum_state"], info["payload_crc"], info["shape"]) == (name, 0, [7])
    assert arrfile.verify(path).outcome == "not_verifiable"
    assert arrfile.commit(path) == zlib.crc32(bytes([0, 1, 2, 3, 0, 1, 2]))  # r+-style commit: a full CRC
    assert arrfile.verify(path).ok


def test_header_mid_append_keeps_the_committed_array_and_its_crc(tmp_path: Path) -> None:
    path = tmp_path / "m.arr"
    before = saved(path, np.arange(6, dtype=np.float32).reshape(2, 3))
    with arrfile.appender(path) as w:
        w.write(np.ones((2, 3), np.float32))
        head = header_bytes(path)
        # Only required_features, append_base_len and header_crc differ from before.
        changed = [i for i in range(640) if head[i] != before[i]]
        assert set(changed) <= set(range(12, 24)) | set(range(72, 80)), changed
        assert u64(head, 16) == 1 and u64(head, 72) == u64(head, 64) == 24
        assert u32(head, 40) == u32(before, 40)  # the base CRC
        info = arrfile.info(path)
        assert info["append_in_progress"] and info["append_running"] is True
        assert info["shape"] == [2, 3] and info["uncommitted_len"] == 24
        assert arrfile.open(path).shape == (2, 3) and arrfile.verify(path).ok
        assert np.array(arrfile.lazy(path)).shape == (2, 3)
    info = arrfile.info(path)
    assert not info["append_in_progress"] and info["append_running"] is False and info["uncommitted_len"] == 0
    assert u64(header_bytes(path), 72) == 0 and u64(header_bytes(path), 16) == 0


# --------------------------------------------------------------------------- errors


def test_wrong_dtype_says_what_differs(tmp_path: Path) -> None:
    path = tmp_path / "w.arr"
    before = saved(path, np.zeros((2, 3), np.float32))
    with pytest.raises(arrfile.AppendMismatchError) as excinfo:
        arrfile.append(path, np.zeros((1, 3), np.float64))
    err = excinfo.value
    assert isinstance(err, ValueError) and isinstance(err, arrfile.ArrfileError) and err.kind == "append_mismatch"
    assert "f32" in str(err.expected) and "f64" in str(err.found) and "astype" in str(err)
    with pytest.raises(arrfile.AppendMismatchError, match="not an arrfile dtype"):
        arrfile.append(path, np.zeros((1, 3), "U1"))
    with pytest.raises(arrfile.AppendMismatchError, match="without changing kind"):
        arrfile.append(tmp_path / "w.arr", [["a", "b", "c"]])
    ints = tmp_path / "i.arr"
    arrfile.save(ints, np.zeros(2, np.int16))
    with pytest.raises(arrfile.AppendMismatchError, match="without changing kind"):
        arrfile.append(ints, [1.5])  # floats into an integer file: refused, not truncated
    assert path.read_bytes() == before


def test_wrong_trailing_shape_says_what_differs(tmp_path: Path) -> None:
    path = tmp_path / "t.arr"
    before = saved(path, np.zeros((2, 3), np.float32))
    with pytest.raises(arrfile.AppendMismatchError) as excinfo:
        arrfile.append(path, np.zeros((1, 4), np.float32))
    message = str(excinfo.value)
    assert "(k, 3)" in message and "(3,)" in message and "(1, 4)" in message, message
    for bad in (np.zeros((1, 3, 1), np.float32), np.float32(1.0), np.zeros(4, np.float32)):
        with pytest.raises(arrfile.AppendMismatchError):
            arrfile.append(path, bad)
    fpath = tmp_path / "f.arr"
    arrfile.save(fpath, np.asfortranarray(np.zeros((3, 2), np.float32)))
    with pytest.raises(arrfile.AppendMismatchError, match=r"\(3, k\)"):
        arrfile.append(fpath, np.zeros((2, 3), np.float32))  # F order: rows are (3, k)
    assert path.read_bytes() == before


def test_a_0d_array_cannot_grow(tmp_path: Path) -> None:
    path = tmp_path / "0.arr"
    before = saved(path, np.array(5.0))
    with pytest.raises(arrfile.NotAppendableError) as excinfo:
        arrfile.appender(path)
    assert excinfo.value.kind == "not_appendable" and "0-d" in str(excinfo.value)
    assert path.read_bytes() == before
    # The locks were released: an r+ session can start.
    arrfile.commit(arrfile.open(path, "r+"))


def test_a_second_appender_is_locked_out(tmp_path: Path) -> None:
    path = tmp_path / "l.arr"
    arrfile.save(path, np.zeros(3))
    w = arrfile.appender(path)
    with pytest.raises(arrfile.LockedError) as excinfo:
        arrfile.appender(path)  # another open file: the OFD lock conflicts, even in one process
    assert "append lock" in str(excinfo.value)
    with pytest.raises(arrfile.LockedError):
        arrfile.recover(path)
    w.write(np.ones(2))
    w.commit()
    w.close()
    assert arrfile.append(path, np.ones(1)) == (6,)


def test_wait_waits_for_the_appender(tmp_path: Path) -> None:
    path = tmp_path / "wait.arr"
    arrfile.save(path, np.zeros(2))
    w = arrfile.appender(path)
    w.write(np.ones(1))
    threading.Timer(0.2, w.close).start()  # rolls back, releases
    t0 = time.monotonic()
    assert arrfile.append(path, np.full(1, 2.0), wait=True) == (3,)
    assert time.monotonic() - t0 >= 0.15
    assert arrfile.open(path).tolist() == [0, 0, 2]


def test_appenders_and_r_plus_sessions_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "rp.arr"
    arrfile.save(path, np.zeros(3))
    session = arrfile.open(path, "r+")
    with pytest.raises(arrfile.LockedError):
        arrfile.appender(path)
    arrfile.commit(session)
    w = arrfile.appender(path)
    with pytest.raises(arrfile.LockedError):
        arrfile.open(path, "r+")
    reader = arrfile.open(path)  # readers are welcome
    w.write(np.ones(2))
    w.commit()
    assert reader.shape == (3,) and arrfile.open(path).shape == (5,)
    w.close()


def test_a_replacing_writer_is_refused_while_an_appender_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rep.arr"
    arrfile.save(path, np.zeros(3))
    w = arrfile.appender(path)
    w.write(np.ones(2))
    with pytest.raises(arrfile.LockedError, match="append lock"):
        arrfile.save(path, np.full(4, 9.0))
    with pytest.raises(arrfile.LockedError):
        arrfile.create(path, "f64", (2,)).finish()
    assert not [p for p in os.listdir(tmp_path) if "arrtmp" in p or "arrnew" in p]
    w.commit()
    done = threading.Event()

    def save_waiting() -> None:
        arrfile.save(path, np.full(4, 9.0), wait=True)
        done.set()

    saver = threading.Thread(target=save_waiting)
    saver.start()
    time.sleep(0.1)
    assert not done.is_set()  # waits for the appender
    w.close()
    saver.join(5)
    assert done.is_set() and arrfile.open(path).tolist() == [9.0] * 4


def test_commit_into_a_replaced_file_raises_replaced_error(tmp_path: Path) -> None:
    path = tmp_path / "gone.arr"
    arrfile.save(path, np.zeros(3))
    other = tmp_path / "other.arr"
    other_bytes = saved(other, np.full(2, 7.0))
    w = arrfile.appender(path)
    w.write(np.ones(2))
    os.replace(other, path)  # a program that ignores locks
    with pytest.raises(arrfile.ReplacedError) as excinfo:
        w.commit()
    assert excinfo.value.kind == "replaced" and "nothing was appended" in str(excinfo.value)
    assert w.closed and path.read_bytes() == other_bytes


def test_a_grown_size_beyond_2_62_is_refused_before_writing(tmp_path: Path) -> None:
    path = tmp_path / "big.arr"
    before = saved(path, np.zeros((1, 0), np.uint8))
    data = bytearray(before)
    data[128:136] = ((1 << 62) - 1).to_bytes(8, "little")  # rows of 0 bytes: any count is valid
    rewrite_header(data)
    path.write_bytes(bytes(data))
    with pytest.raises(arrfile.SizeOverflowError):  # size bound counts the non-zero dims (R13)
        arrfile.append(path, np.zeros((2, 0), np.uint8))
    assert arrfile.append(path, np.zeros((1, 0), np.uint8)) == (1 << 62, 0)
    big = tmp_path / "wide.arr"
    arrfile.save(big, np.zeros((1, 1), np.uint8))
    data = bytearray(big.read_bytes())
    data[136:144] = (1 << 61).to_bytes(8, "little")  # shape (1, 2^61): sparse claims, 2^61 bytes
    data[64:72] = (1 << 61).to_bytes(8, "little")
    rewrite_header(data)
    # A file of 2^61 bytes is too large for the test's disk: the bound alone, on that header.
    w = arrfile.Appender.__new__(arrfile.Appender)
    w.path = str(big)
    w._state = _append._State(-1, os.getpid(), bytes(data[:640]), arrfile._header.parse_header(bytes(data[:640]), 4096 + (1 << 61), None))
    w._pending_bytes = w._pending_zero_rows = 0
    w._reserve(1)  # 2 x 2^61 = 2^62: exactly the bound
    with pytest.raises(arrfile.SizeOverflowError, match="2\\^62"):
        w._reserve(2)
    w._state.closed = True


def test_missing_file_and_urls(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        arrfile.append(tmp_path / "nope.arr", np.zeros(1))
    with pytest.raises(FileNotFoundError):
        arrfile.recover(tmp_path / "nope.arr")


def test_invalid_files_are_refused_untouched(tmp_path: Path) -> None:
    for name in ("invalid/append_base_len_mismatch.arr", "invalid/append_in_progress_truncated.arr", "invalid/bad_magic.arr"):
        copy = tmp_path / "bad.arr"
        copy.write_bytes((FIXTURES / name).read_bytes())
        for call in (lambda: arrfile.appender(copy), lambda: arrfile.recover(copy)):
            with pytest.raises(arrfile.ArrfileError):
                call()
        assert copy.read_bytes() == (FIXTURES / name).read_bytes()


def test_a_forked_child_cannot_write_and_leaves_the_parents_append_alone(tmp_path: Path) -> None:
    path = tmp_path / "fork.arr"
    arrfile.save(path, np.zeros(2))
    w = arrfile.appender(path)
    w.write(np.ones(3))
    pid = os.fork()
    if pid == 0:  # the child: every use refused; its exit leaves the parent's append alone
        code = 0
        try:
            w.write(np.ones(1))
            code = 1
        except arrfile.ArrfileError:
            pass
        try:
            w.commit()
            code = 1
        except arrfile.ArrfileError:
            pass
        w.close()  # releases nothing of the parent's
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert arrfile.info(path)["append_running"] is True
    with pytest.raises(arrfile.LockedError):
        arrfile.appender(path)
    assert w.commit() == (5,)
    w.close()


# --------------------------------------------------------------------------- recovery


def interrupted(tmp_path: Path, name: str = "i.arr") -> tuple[Path, bytes]:
    """A file whose appender died mid-append (a copy of the fixture), and the recovered bytes."""
    path = tmp_path / name
    path.write_bytes((FIXTURES / "valid/append_in_progress.arr").read_bytes())
    return path, (FIXTURES / "valid/append_recovered.arr").read_bytes()


def test_recover_is_idempotent_and_says_what_it_did(tmp_path: Path) -> None:
    path, recovered = interrupted(tmp_path)
    info = arrfile.info(path)
    assert info["append_in_progress"] and info["append_running"] is False and info["uncommitted_len"] == 18
    done = arrfile.recover(path)
    assert done == arrfile.Recovery(os.fspath(path), True, 18, (2, 3))
    assert path.read_bytes() == recovered
    assert arrfile.recover(path) == arrfile.Recovery(os.fspath(path), False, 0, (2, 3))
    # Killed between the cut and the header (bit 0 set, no tail): done next time.
    no_tail = tmp_path / "nt.arr"
    no_tail.write_bytes((FIXTURES / "valid/append_in_progress_no_tail.arr").read_bytes())
    assert arrfile.recover(no_tail) == arrfile.Recovery(os.fspath(no_tail), True, 0, (2, 3))
    assert no_tail.read_bytes() == recovered


def test_r_plus_recovers_an_interrupted_append_first(tmp_path: Path) -> None:
    path, recovered = interrupted(tmp_path)
    a = arrfile.open(path, "r+")
    assert a.shape == (2, 3) and os.path.getsize(path) == len(recovered)
    assert u64(header_bytes(path), 16) == 0 and u64(header_bytes(path), 72) == 0
    a.close()
    arrfile.commit(path)
    assert path.read_bytes() == recovered
    # commit by path recovers too.
    path2, _ = interrupted(tmp_path, "j.arr")
    arrfile.commit(path2)
    assert path2.read_bytes() == recovered


def test_an_appender_recovers_a_dead_appenders_file_first(tmp_path: Path) -> None:
    path, recovered = interrupted(tmp_path)
    with arrfile.appender(path) as w:
        assert w.recovered == 18 and w.shape == (2, 3)
    assert path.read_bytes() == recovered
    no_crc = tmp_path / "nc.arr"
    no_crc.write_bytes((FIXTURES / "valid/append_in_progress_no_crc.arr").read_bytes())
    assert arrfile.append(no_crc, np.ones((1, 3), np.float32)) == (3, 3)
    assert arrfile.info(no_crc)["checksum_state"] == "absent"


def test_save_replaces_an_interrupted_file(tmp_path: Path) -> None:
    path, _ = interrupted(tmp_path)
    arrfile.save(path, np.zeros(2))  # no appender alive: the append lock is free
    assert arrfile.open(path).tolist() == [0, 0]


# --------------------------------------------------------------------------- readers before and after


def test_maps_lazy_arrays_and_pickles_made_before_an_append_keep_their_array(tmp_path: Path) -> None:
    path = tmp_path / "k.arr"
    base = np.arange(12, dtype=np.float32).reshape(4, 3)
    arrfile.save(path, base)
    mapped = arrfile.open(path)
    lazy = arrfile.lazy(path)
    pickled_view = pickle.dumps(mapped[1:3, ::2])
    pickled_lazy = pickle.dumps(lazy)
    arrfile.append(path, np.full((2, 3), -1, np.float32))
    assert np.array_equal(mapped, base)  # the old map: committed bytes never change
    assert np.array_equal(np.asarray(lazy), base) and lazy[-1].tolist() == [9, 10, 11]
    assert np.array_equal(np.asarray(pickle.loads(pickled_lazy)), base)
    assert np.array_equal(pickle.loads(pickled_view), base[1:3, ::2])
    assert arrfile.open(path).shape == (6, 3)
    # A file that changed otherwise is still refused.
    arrfile.save(path, np.zeros((4, 4), np.float32))
    with pytest.raises(arrfile.ArrfileError, match="changed"):
        pickle.loads(pickled_view)


def test_fortran_lazy_array_after_growth(tmp_path: Path) -> None:
    path = tmp_path / "fl.arr"
    base = np.asfortranarray(np.arange(6, dtype=np.int16).reshape(2, 3))
    arrfile.save(path, base)
    lazy = pickle.loads(pickle.dumps(arrfile.lazy(path)))
    arrfile.append(path, np.asfortranarray(np.full((2, 2), 7, np.int16)))
    assert np.array_equal(np.asarray(lazy), base)
    assert arrfile.open(path)[:, 3:].tolist() == [[7, 7], [7, 7]]


# --------------------------------------------------------------------------- property


_PROP_DTYPES = ["<f4", ">i4", "|u1", "|b1", ">c8", "<u8"]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    dtype=st.sampled_from(_PROP_DTYPES),
    order=st.sampled_from(["C", "F"]),
    trailing=st.lists(st.integers(0, 3), min_size=0, max_size=2),
    base_rows=st.integers(0, 3),
    appends=st.lists(st.tuples(st.integers(0, 4), st.booleans(), st.booleans()), min_size=0, max_size=5),
    seed=st.integers(0, 2**31),
)
def test_any_sequence_of_appends_equals_one_save(
    tmp_path: Path, dtype: str, order: str, trailing: list[int], base_rows: int,
    appends: list[tuple[int, bool, bool]], seed: int,
) -> None:
    """Property: appends in any grouping (append() calls, appender sessions with commits,
    single rows) give the bytes and CRC of ``save`` of the concatenation."""
    rng = np.random.default_rng(seed)
    f_order = order == "F" and len(trailing) >= 1  # ndim >= 2: else the file is C

    def rows(k: int) -> np.ndarray:
        shape = (*trailing, k) if f_order else (k, *trailing)
        data = rng.integers(0, 256, size=shape).astype(np.dtype(dtype))
        return np.asfortranarray(data) if f_order else data

    base = rows(base_rows)
    path = tmp_path / "p.arr"
    arrfile.save(path, base)
    if f_order and arrfile.info(path)["order"] == "C":  # also C-contiguous: save wrote C
        f_order, trailing = False, list(base.shape[1:])
    axis = len(trailing) if f_order else 0
    parts = [base]
    w = None
    for k, in_session, commit in appends:
        block = rows(k)
        parts.append(block)
        if in_session:
            w = w or arrfile.appender(path)
            if k == 1 and rng.integers(2):
                w.write(np.take(block, 0, axis=axis))  # one row of the trailing shape
            else:
                w.write(block)
            if commit:
                w.commit()
        else:
            if w is not None:
                w.commit()
                w.close()
                w = None
            arrfile.append(path, block)
    if w is not None:
        if rng.integers(2):
            w.close()  # without a commit: the rows since its last commit are rolled back
            committed = arrfile.info(path)["shape"]
            whole = np.concatenate(parts, axis=axis)
            parts = [np.take(whole, range(committed[axis]), axis=axis)]
        else:
            w.commit()
            w.close()
    whole = np.concatenate(parts, axis=axis).astype(dtype)  # concatenate gives native byte order
    if f_order:
        whole = np.asfortranarray(whole)
    reference = tmp_path / "ref.arr"
    arrfile.save(reference, whole)
    assert path.read_bytes() == reference.read_bytes()
    assert arrfile.verify(path).ok


# --------------------------------------------------------------------------- racing readers


def hold_append_lock(path: Path) -> int:
    """An open file holding the append lock, as a live appender does (OFD F_WRLCK)."""
    import fcntl
    import struct

    fd = os.open(path, os.O_RDWR)
    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack("hhqqi4x", fcntl.F_WRLCK, 0, 0, 0, 0))
    return fd


@pytest.mark.parametrize("reader", ["info", "open", "verify", "lazy"])
def test_a_header_that_disagrees_with_the_length_is_read_again_while_an_appender_lives(tmp_path: Path, reader: str) -> None:
    """What a reader sees when an append begins between its header read and its length read
    (the old header, bit 0 clear, and the grown length: R20) is read again, not reported, while
    the append lock is held; with nobody holding it, reported at once."""
    path = tmp_path / "race.arr"
    arrfile.save(path, np.arange(4, dtype=np.float32))
    old_header = header_bytes(path)
    call = {"info": arrfile.info, "open": arrfile.open, "verify": arrfile.verify, "lazy": arrfile.lazy}[reader]
    fd = hold_append_lock(path)
    try:
        with open(path, "ab") as f:
            f.write(bytes(8))  # rows past the payload under the old header: R20 as read
        begun = bytearray(old_header)
        begun[16] = 1  # the header mid-append that the appender writes first
        begun[72:80] = (16).to_bytes(8, "little")
        rewrite_header(begun)
        threading.Timer(0.015, lambda: os.pwrite(fd, bytes(begun), 0)).start()
        t0 = time.monotonic()
        call(path)  # read again until the header agrees
        assert 0.01 < time.monotonic() - t0 < 1.0
        assert arrfile.info(path)["append_in_progress"]
        os.pwrite(fd, old_header, 0)  # really invalid now: trailing bytes and no bit 0
        t0 = time.monotonic()
        with pytest.raises(arrfile.TrailingBytesError):
            call(path)
        assert time.monotonic() - t0 >= 0.045  # ~50 ms of re-reads while an appender may be writing
    finally:
        os.close(fd)
    t0 = time.monotonic()
    with pytest.raises(arrfile.TrailingBytesError):
        call(path)
    assert time.monotonic() - t0 < 0.04  # no writer holds the file: reported at once
