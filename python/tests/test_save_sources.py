"""save() of array-likes in constant memory: numpy views, h5py, Zarr, Dask, duck arrays; slabs and their bounds."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import h5py
import numpy as np
import pytest
import zarr

import arrfile
from arrfile._write import _slab_indices


class Duck:
    """A minimal array-like: shape, dtype and slicing; records the largest slab asked for."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.largest = 0
        self.calls = 0

    def __getitem__(self, index: Any) -> np.ndarray:
        out = self._data[index]
        self.largest = max(self.largest, out.nbytes)
        self.calls += 1
        return out


def same_file(a: Path, b: Path) -> bool:
    return a.read_bytes() == b.read_bytes()


@pytest.fixture
def x() -> np.ndarray:
    return np.random.default_rng(11).standard_normal((257, 33)).astype(np.float32)


def test_duck_array_is_streamed_in_bounded_slabs(tmp_path: Path, x: np.ndarray) -> None:
    reference = tmp_path / "ref.arr"
    arrfile.save(reference, x)
    duck = Duck(x)
    out = tmp_path / "duck.arr"
    arrfile.save(out, duck, slab_bytes=1000)
    assert same_file(out, reference)
    assert duck.largest <= 1000 and duck.calls == -(-257 // (1000 // (33 * 4)))


def test_row_larger_than_slab_is_split_along_the_next_axis(tmp_path: Path) -> None:
    data = np.arange(2 * 3 * 50, dtype=np.int64).reshape(2, 3, 50)
    duck = Duck(data)
    out = tmp_path / "d.arr"
    arrfile.save(out, duck, slab_bytes=450)  # a row of axis 0 is 1200 bytes, of axis 1 400 bytes
    assert np.array_equal(arrfile.open(out), data) and arrfile.verify(out).ok
    assert duck.largest <= 450


@pytest.mark.parametrize("slab", [1, 7, 100, 10_000, 1 << 26])
def test_any_slab_size_gives_identical_bytes(tmp_path: Path, x: np.ndarray, slab: int) -> None:
    reference = tmp_path / "ref.arr"
    arrfile.save(reference, x, {"a": 1})
    out = tmp_path / "s.arr"
    arrfile.save(out, x, {"a": 1}, slab_bytes=slab)
    assert same_file(out, reference)


def test_non_contiguous_and_fortran_views(tmp_path: Path) -> None:
    base = np.random.default_rng(2).integers(0, 1000, (300, 200)).astype(np.int32)
    for name, view in {"strided": base[::3, 1::2], "fortran": np.asfortranarray(base), "reversed": base[::-1, ::-1]}.items():
        out = tmp_path / f"{name}.arr"
        arrfile.save(out, view, slab_bytes=4096)
        back = arrfile.open(out)
        assert np.array_equal(back, view), name
        assert arrfile.info(out)["order"] == ("F" if name == "fortran" else "C")
        assert arrfile.verify(out).found == zlib.crc32(np.asarray(back, order="K").tobytes(order="A"))


def test_memmap_input(tmp_path: Path, x: np.ndarray) -> None:
    raw = tmp_path / "raw.dat"
    mm = np.memmap(raw, dtype=np.float32, mode="w+", shape=x.shape)
    mm[:] = x
    mm.flush()
    out = tmp_path / "m.arr"
    arrfile.save(out, np.memmap(raw, dtype=np.float32, mode="r", shape=x.shape), slab_bytes=4096)
    assert np.array_equal(arrfile.open(out), x)


def test_h5py_datasets(tmp_path: Path, x: np.ndarray) -> None:
    h5 = tmp_path / "d.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("contig", data=x)
        f.create_dataset("chunked", data=x, chunks=(10, 33), compression="gzip")
        f.create_dataset("big_endian", data=x.astype(">f8"))
        f.create_dataset("scalar", data=np.float64(2.5))
        f.create_dataset("bools", data=np.array([True, False, True]))
        f.create_dataset("empty", shape=(0, 4), dtype=np.int16)
    with h5py.File(h5, "r") as f:
        for name in ("contig", "chunked", "big_endian", "scalar", "bools", "empty"):
            out = tmp_path / f"{name}.arr"
            arrfile.save(out, f[name], {"source": name}, slab_bytes=2048)
            back = arrfile.open(out)
            expected = f[name][()]
            assert back.dtype == expected.dtype and back.shape == expected.shape, name
            assert np.array_equal(back, expected), name
            assert arrfile.verify(out).outcome == "valid", name
    assert arrfile.info(tmp_path / "big_endian.arr")["byte_order"] == "big"


def test_zarr_arrays(tmp_path: Path, x: np.ndarray) -> None:
    z = zarr.open_array(str(tmp_path / "z.zarr"), mode="w", shape=x.shape, chunks=(16, 11), dtype=x.dtype)
    z[:] = x
    out = tmp_path / "z.arr"
    arrfile.save(out, zarr.open_array(str(tmp_path / "z.zarr"), mode="r"), slab_bytes=3000)
    assert np.array_equal(arrfile.open(out), x) and arrfile.verify(out).ok
    z3 = zarr.open_array(str(tmp_path / "z3.zarr"), mode="w", shape=(5, 4, 3), chunks=(2, 2, 2), dtype="i2")
    z3[:] = np.arange(60, dtype="i2").reshape(5, 4, 3)
    out3 = tmp_path / "z3.arr"
    arrfile.save(out3, z3)
    assert np.array_equal(arrfile.open(out3), np.arange(60, dtype="i2").reshape(5, 4, 3))


def test_dask_array_computed_slab_by_slab_along_chunks(tmp_path: Path, x: np.ndarray) -> None:
    computed: list[tuple[int, ...]] = []

    def record(block: np.ndarray, block_info: Any = None) -> np.ndarray:
        computed.append(tuple(block_info[0]["chunk-location"]))
        return block

    d = da.from_array(x, chunks=(20, 11)).map_blocks(record, dtype=x.dtype)
    out = tmp_path / "d.arr"
    with dask.config.set(scheduler="threads"):
        arrfile.save(out, d, slab_bytes=20 * 33 * 4 * 3)  # three bands of chunks per slab
    assert np.array_equal(arrfile.open(out), x) and arrfile.verify(out).ok
    # Slabs follow chunk boundaries: every chunk computed exactly once.
    assert sorted(computed) == sorted(set(computed)) and len(computed) == len(d.chunks[0]) * len(d.chunks[1])


def test_slab_indices_follow_chunk_breaks() -> None:
    class Chunked:
        chunks = ((10, 10, 10, 5),)

    slabs = list(_slab_indices(Chunked(), (35,), 1, 25))
    assert slabs == [(slice(0, 20),), (slice(20, 35),)]
    slabs = list(_slab_indices(Chunked(), (35,), 1, 4))  # a band larger than the slab is split
    assert all(s[0].stop - s[0].start <= 4 for s in slabs) and slabs[-1][0].stop == 35
    assert list(_slab_indices(None, (), 8, 1)) == [()]


def test_input_that_lies_about_its_shape_is_refused(tmp_path: Path, x: np.ndarray) -> None:
    class Liar(Duck):
        def __getitem__(self, index: Any) -> np.ndarray:
            return super().__getitem__(index)[:1]

    out = tmp_path / "liar.arr"
    with pytest.raises(ValueError, match="payload bytes"):
        arrfile.save(out, Liar(x), slab_bytes=1000)
    assert not out.exists() and not list(tmp_path.glob(".*arrtmp*"))


def test_unsupported_dtype_of_array_like_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        arrfile.save(tmp_path / "s.arr", Duck(np.array(["a", "b"])))
