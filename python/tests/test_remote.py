"""Reading through fsspec: a real HTTP server with Range support on 127.0.0.1, requests counted; file:// URLs."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Iterator

import dask
import dask.array as da
import numpy as np
import pytest

import arrfile
from helpers import rewrite_header
from http_server import RangeServer, time_limit


@pytest.fixture(autouse=True)
def bounded_time() -> Iterator[None]:
    """Every test here is bounded in time: a hung request fails it instead of hanging CI."""
    with time_limit(120):
        yield

X = np.random.default_rng(21).standard_normal((3000, 200)).astype(np.float32)  # 2.4 MB payload
ROW = 200 * 4


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RangeServer, Path]]:
    root = tmp_path_factory.mktemp("served")
    arrfile.save(root / "x.arr", X, {"dims": ["time", "sensor"], "units": "K"})
    arrfile.save(root / "f.arr", np.asfortranarray(X[:50, :40].astype(">f8")))
    arrfile.save(root / "big_meta.arr", np.arange(10, dtype=np.int16), {"blob": "x" * 100_000})
    arrfile.save(root / "scalar.arr", np.float64(2.5))
    arrfile.save(root / "bools.arr", np.array([True, False, True]))
    arrfile.save(root / "empty.arr", np.zeros((0, 4), np.uint8))
    data = bytearray((root / "x.arr").read_bytes())
    data[-1] ^= 0x01
    (root / "corrupt.arr").write_bytes(bytes(data))
    (root / "not.arr").write_bytes(b"\x89ARR\r\n\x1a\nnope" + bytes(700))
    bad = bytearray((root / "x.arr").read_bytes())
    bad[100] = 1  # a reserved byte, with the header CRC made right again: R8
    (root / "reserved.arr").write_bytes(bytes(rewrite_header(bad)))
    (root / "short.arr").write_bytes((root / "x.arr").read_bytes()[:-10])
    with RangeServer(root) as server:
        yield server, root


def test_header_in_two_requests(served: tuple[RangeServer, Path]) -> None:
    server, _ = served
    server.reset()
    info = arrfile.info(server.url("x.arr"))
    assert info["shape"] == [3000, 200] and info["attributes"] == {"dims": ["time", "sensor"], "units": "K"}
    assert info["path"] == server.url("x.arr") and info["checksum_state"] == "valid"
    assert len(server.requests) <= 2, server.requests
    assert server.gets() == ["bytes=0-65535"]
    assert server.requested_bytes() <= 65536


def test_large_attributes_take_a_second_range(served: tuple[RangeServer, Path]) -> None:
    server, _ = served
    server.reset()
    info = arrfile.info(server.url("big_meta.arr"))
    assert len(info["attributes"]["blob"]) == 100_000
    gets = server.gets()
    assert len(gets) == 2 and gets[0] == "bytes=0-65535" and gets[1].startswith("bytes=65536-")


def test_lazy_rows_in_one_request(served: tuple[RangeServer, Path]) -> None:
    server, _ = served
    lazy = arrfile.lazy(server.url("x.arr"))
    assert (lazy.shape, lazy.dtype, lazy.attrs["units"]) == ((3000, 200), np.dtype("<f4"), "K")
    server.reset()
    block = lazy[100:350]
    assert np.array_equal(block, X[100:350])
    assert server.gets() == [f"bytes={4096 + 100 * ROW}-{4096 + 350 * ROW - 1}"]
    assert server.requested_bytes() == 250 * ROW
    server.reset()
    assert np.array_equal(lazy[7, 3:9], X[7, 3:9]) and len(server.gets()) == 1
    server.reset()
    assert np.array_equal(lazy[10:20:3, ::-1], X[10:20:3, ::-1]) and len(server.gets()) == 1  # small gaps fetched
    server.reset()
    assert np.array_equal(lazy[::1000], X[::1000]) and len(server.gets()) == 3  # 800 KB gaps: one range per row
    assert server.requested_bytes() == 3 * ROW
    server.reset()
    assert np.array_equal(lazy[-5:], X[-5:]) and np.array_equal(lazy[..., 0], X[..., 0])
    assert np.array_equal(lazy[20:10:-1], X[20:10:-1])
    assert lazy[5:5].shape == (0, 200)


def test_lazy_rejects_fancy_indices_clearly(served: tuple[RangeServer, Path]) -> None:
    server, _ = served
    lazy = arrfile.lazy(server.url("x.arr"))
    with pytest.raises(TypeError, match="integers, slices"):
        lazy[[1, 2]]
    with pytest.raises(IndexError):
        lazy[3000]
    with pytest.raises(IndexError):
        lazy[1, 2, 3]


def test_fortran_big_endian_scalar_bool_empty(served: tuple[RangeServer, Path]) -> None:
    server, _ = served
    f = arrfile.lazy(server.url("f.arr"))
    expected = X[:50, :40].astype(">f8")
    assert f.dtype == np.dtype(">f8")
    server.reset()
    assert np.array_equal(f[:, 5:9], expected[:, 5:9]) and len(server.gets()) == 1  # F order: columns are rows
    assert np.array_equal(f[3:7, 2], expected[3:7, 2])
    assert np.array_equal(np.asarray(f), expected)
    assert arrfile.lazy(server.url("scalar.arr"))[()] == 2.5
    assert np.array_equal(np.asarray(arrfile.lazy(server.url("bools.arr"))), [True, False, True])
    assert arrfile.verify(server.url("bools.arr")).invalid_bool_bytes == 0
    assert arrfile.lazy(server.url("empty.arr"))[:].shape == (0, 4)


def test_verify_streams_and_detects_corruption(served: tuple[RangeServer, Path]) -> None:
    server, root = served
    server.reset()
    result = arrfile.verify(server.url("x.arr"))
    assert result.ok and result.found == arrfile.info(root / "x.arr")["payload_crc"]
    bad = arrfile.verify(server.url("corrupt.arr"))
    assert bad.corrupt and bad.path == server.url("corrupt.arr")


def test_every_reader_check_applies_remotely(served: tuple[RangeServer, Path]) -> None:
    server, _ = served
    for name, check in [("not.arr", "R3"), ("reserved.arr", "R8"), ("short.arr", "R19")]:
        with pytest.raises(arrfile.ArrfileError) as excinfo:
            arrfile.info(server.url(name))
        assert excinfo.value.check == check and server.url(name) in str(excinfo.value)
        with pytest.raises(arrfile.ArrfileError):
            arrfile.lazy(server.url(name))


def test_missing_remote_file(served: tuple[RangeServer, Path]) -> None:
    server, _ = served
    with pytest.raises(FileNotFoundError):
        arrfile.info(server.url("nope.arr"))


def test_server_without_range_support_is_refused_without_download(tmp_path: Path) -> None:
    big = np.zeros((48 << 20) // 8, np.float64)  # 48 MiB: more than loopback socket buffers hold
    arrfile.save(tmp_path / "x.arr", big)
    with RangeServer(tmp_path, honour_range=False) as server:
        with pytest.raises(arrfile.ArrfileError, match="range"):
            lazy = arrfile.lazy(server.url("x.arr"))
            lazy[1000:1001]
        with pytest.raises(arrfile.ArrfileError, match="range"):
            arrfile.verify(server.url("x.arr"))
        assert server.bytes_sent < big.nbytes // 2, "the payload was downloaded"


def test_dask_over_http_reads_only_ranges(served: tuple[RangeServer, Path]) -> None:
    server, _ = served
    lazy = arrfile.lazy(server.url("x.arr"))
    clone = pickle.loads(pickle.dumps(lazy))
    assert len(pickle.dumps(lazy)) < 4096
    server.reset()
    d = da.from_array(clone, chunks=(500, 200))
    with dask.config.set(scheduler="threads"):
        total = d[:1000].sum(axis=0).compute()
    np.testing.assert_allclose(total, X[:1000].sum(axis=0), rtol=1e-4, atol=1e-3)
    # rows 0..999 and the clone's header check, nothing else
    assert server.requested_bytes() <= 1000 * ROW + 65536, server.requests


def test_file_urls(tmp_path: Path) -> None:
    p = tmp_path / "x.arr"
    arrfile.save(p, X[:10], {"k": 1})
    url = p.resolve().as_uri()
    assert arrfile.info(url)["attributes"] == {"k": 1}
    assert arrfile.verify(url).ok
    assert np.array_equal(arrfile.lazy(url)[2:5], X[2:5])
    with pytest.raises(ValueError, match="arrfile.lazy"):
        arrfile.open(url)


def test_conformance_suite_over_http() -> None:
    """Every fixture of spec §10.4 through a URL: valid ones describe and verify as listed, invalid ones fail their check."""
    from conftest import FIXTURES, load_manifest
    from helpers import logical_values, values_match

    entries = load_manifest()["files"]
    with RangeServer(FIXTURES) as server:
        for entry in entries:
            url = server.url(entry["path"])
            if not entry["valid"]:
                with pytest.raises(arrfile.ArrfileError) as excinfo:
                    arrfile.info(url)
                assert (excinfo.value.kind, excinfo.value.check) == (entry["error"], entry["check"]), entry["path"]
                assert url in str(excinfo.value)
                continue
            info = arrfile.info(url)
            desc = entry["description"]
            assert (info["dtype"], info["order"], info["shape"], info["attributes"]) == (
                desc["dtype"], desc["order"], desc["shape"], entry["attributes"]), entry["path"]
            assert (info["data_offset"], info["data_len"], info["checksum_state"]) == (
                entry["data_offset"], entry["data_len"], entry["checksum_state"]), entry["path"]
            assert arrfile.verify(url).outcome == entry["verify"], entry["path"]
            if "values" in entry:
                values = np.asarray(arrfile.lazy(url))
                assert values_match(logical_values(values, desc["dtype"]), entry["values"], desc["dtype"]), entry["path"]
