"""What open() returns: close(), with, deleting and replacing the file after, pickling by reference."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import arrfile
from arrfile import MappedArray


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "x.arr"
    arrfile.save(p, np.arange(24, dtype=np.float32).reshape(4, 6), {"units": "K"})
    return p


def test_open_returns_a_memmap_subclass(path: Path) -> None:
    a = arrfile.open(path)
    assert isinstance(a, MappedArray) and isinstance(a, np.memmap)
    assert (a.filename, a.offset, a.mode) == (str(path), 4096, "r")
    assert not a.flags.writeable
    assert isinstance(a[1:], MappedArray)
    assert type(a + 1) is np.ndarray and type(a[[0, 2]]) is np.ndarray and type(a.sum(axis=0)) is np.ndarray
    assert isinstance(a.sum(), np.floating)


def test_with_block_and_file_removed_right_after(path: Path) -> None:
    with arrfile.open(path) as a:
        total = float(a.sum())
        assert not a.closed
    assert a.closed and total == float(np.arange(24).sum())
    os.remove(path)
    assert not path.exists()


def test_file_replaced_right_after_close(path: Path) -> None:
    a = arrfile.open(path)
    a.close()
    a.close()  # idempotent
    arrfile.save(path, np.ones(3, np.int8))
    assert np.array_equal(arrfile.open(path), np.ones(3, np.int8))
    assert a.shape == (4, 6)  # the old mapping stays valid until it is dropped (numpy#13510)


def test_r_plus_with_block_commits_on_success(path: Path) -> None:
    with arrfile.open(path, "r+") as a:
        a[0, 0] = 100.0
        assert arrfile.info(path)["checksum_state"] == "being_modified"
    assert arrfile.verify(path).ok and arrfile.open(path)[0, 0] == 100.0
    with arrfile.open(path, "r+"):  # the lock was released
        pass


def test_r_plus_with_block_left_by_exception_stays_being_modified(path: Path) -> None:
    with pytest.raises(RuntimeError):
        with arrfile.open(path, "r+") as a:
            a[0, 0] = 7.0
            raise RuntimeError("boom")
    assert arrfile.info(path)["checksum_state"] == "being_modified"
    assert arrfile.verify(path).outcome == "not_verifiable"
    assert not a.flags.writeable
    b = arrfile.open(path, "r+")  # lock released by close()
    assert b[0, 0] == 7.0
    arrfile.commit(b)
    assert arrfile.verify(path).ok


def test_close_of_r_plus_releases_lock_without_commit(path: Path) -> None:
    a = arrfile.open(path, "r+")
    with pytest.raises(arrfile.LockedError):
        arrfile.open(path, "r+")
    a[1, 1] = -1.0
    a.close()
    assert arrfile.info(path)["checksum_state"] == "being_modified"
    arrfile.commit(path)
    assert arrfile.verify(path).ok and arrfile.open(path)[1, 1] == -1.0


def test_empty_payload_handle(tmp_path: Path) -> None:
    p = tmp_path / "e.arr"
    arrfile.save(p, np.zeros((0, 3), np.float64))
    with arrfile.open(p) as a:
        assert a.shape == (0, 3)
    clone = pickle.loads(pickle.dumps(a))
    assert clone.shape == (0, 3) and clone.dtype == np.float64


@pytest.mark.parametrize("index", [
    (), (slice(None),), (slice(1, 3),), (slice(None, None, -1),), (2,), (slice(None), slice(1, None, 2)),
    (slice(None, None, -2), slice(None, None, -1)), (Ellipsis, 0), (3, 5),
])
def test_views_pickle_by_reference(path: Path, index: tuple) -> None:
    a = arrfile.open(path)
    view = a[index] if index else a
    blob = pickle.dumps(view)
    if isinstance(view, np.ndarray):
        assert len(blob) < 600
        clone = pickle.loads(blob)
        assert isinstance(clone, MappedArray) and not clone.flags.writeable
        assert np.array_equal(clone, view) and clone.strides == view.strides and clone.dtype == view.dtype
    else:
        assert pickle.loads(blob) == view


def test_dtype_views_and_transposes_pickle_by_reference(path: Path) -> None:
    a = arrfile.open(path)
    for view in (a.T, a.view(np.uint8)[:, 4:8], a.reshape(24)[5:], a[:, ::2].T):
        clone = pickle.loads(pickle.dumps(view))
        assert np.array_equal(clone, view) and clone.dtype == view.dtype


def test_pickle_payload_not_copied_for_a_large_file(tmp_path: Path) -> None:
    p = tmp_path / "big.arr"
    arrfile.save(p, np.zeros((1000, 1000), np.float64))
    assert len(pickle.dumps(arrfile.open(p))) < 600


def test_computed_arrays_pickle_as_plain_copies(path: Path) -> None:
    a = arrfile.open(path)
    clone = pickle.loads(pickle.dumps(a * 2))
    assert type(clone) is np.ndarray and np.array_equal(clone, np.asarray(a) * 2)


def test_unpickle_checks_the_file_again(path: Path, tmp_path: Path) -> None:
    blob = pickle.dumps(arrfile.open(path)[1:])
    arrfile.save(path, np.zeros(5, np.int16))  # a different layout at the same path
    with pytest.raises(arrfile.ArrfileError, match="changed"):
        pickle.loads(blob)
    path.write_bytes(b"not an arrfile")
    with pytest.raises(arrfile.BadMagicError):
        pickle.loads(blob)


@pytest.mark.parametrize("mode", ["r+", "c"])
def test_writable_maps_refuse_to_pickle_and_point_to_lazy(path: Path, mode: str) -> None:
    a = arrfile.open(path, mode)
    with pytest.raises(TypeError, match=r"arrfile\.lazy"):
        pickle.dumps(a)
    with pytest.raises(TypeError, match=r"arrfile\.lazy"):
        pickle.dumps(a[1:])
    assert np.array_equal(pickle.loads(pickle.dumps(np.array(a))), a)
    if mode == "r+":
        arrfile.commit(a)


def test_lazy_array_close_and_with(path: Path) -> None:
    with arrfile.lazy(path) as lazy:
        assert np.array_equal(lazy[1:3], np.arange(24, dtype=np.float32).reshape(4, 6)[1:3])
        assert lazy._array is not None
    assert lazy._array is None
    os.remove(path)  # nothing of the file is mapped any more
    with pytest.raises(FileNotFoundError):
        lazy[0]
