"""arrfiles with Dask on a LocalCluster of worker processes (loopback only)."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import arrfile

import dask.array as da
from dask.distributed import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import dask_cluster  # noqa: E402

pytestmark = pytest.mark.dask

ROWS, COLS, CHUNK = 2000, 300, 500


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with dask_cluster.make_cluster(n_workers=2) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, np.ndarray]:
    x = np.random.default_rng(7).standard_normal((ROWS, COLS)).astype(np.float32)
    path = tmp_path / "x.arr"
    arrfile.save(path, x)
    return path, x


def worker_pids(array: "da.Array") -> set[int]:
    """PIDs of the processes that computed the blocks of ``array``."""
    pids = array.map_blocks(dask_cluster.block_pid, chunks=(1,) * array.ndim, dtype=np.int64).compute()
    return set(np.unique(pids).tolist())


def test_cluster_has_two_worker_processes(client: Client) -> None:
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    assert all(w["nthreads"] == 1 for w in workers.values())
    assert all(addr.startswith("tcp://127.0.0.1:") for addr in workers)
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


def test_from_array_of_open_memmap(client: Client, data: tuple[Path, np.ndarray]) -> None:
    path, x = data
    a = da.from_array(arrfile.open(path), chunks=(CHUNK, COLS))
    np.testing.assert_allclose(a.sum(axis=0).compute(), x.sum(axis=0, dtype=np.float64), rtol=1e-4, atol=1e-3)
    assert float(a.max().compute()) == float(x.max())
    assert np.array_equal(a.map_blocks(np.square, dtype=a.dtype).compute(), np.square(x))
    assert os.getpid() not in worker_pids(a)


def test_lazy_array_ships_the_path_not_the_data(client: Client, data: tuple[Path, np.ndarray]) -> None:
    path, x = data
    lazy = arrfile.lazy(path)
    assert len(pickle.dumps(lazy)) < 4096 < x.nbytes
    b = da.from_array(lazy, chunks=(CHUNK, COLS))
    graph_bytes = len(pickle.dumps(dict(b.__dask_graph__())))
    assert graph_bytes < 64 * 1024, f"graph is {graph_bytes} bytes: data was embedded"
    np.testing.assert_allclose(b.mean(axis=1).compute(), x.mean(axis=1), rtol=1e-5, atol=1e-6)
    assert np.array_equal(b.map_blocks(lambda blk: blk[:, :5] * 3, chunks=(CHUNK, 5)).compute(), x[:, :5] * 3)
    pids = worker_pids(b)
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_workers_fill_a_created_file(client: Client, data: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, x = data
    b = da.from_array(arrfile.lazy(path), chunks=(CHUNK, COLS))
    out = tmp_path / "out.arr"
    writer = arrfile.create(out, "f64", (ROWS, COLS), order="F", attrs={"op": "x**2"})
    assert arrfile.info(writer.temp_path)["checksum_state"] == "being_modified"
    da.store((b.astype(np.float64) ** 2), writer.target, lock=False)
    assert not out.exists(), "the final path must stay empty until finish()"
    writer.finish()
    assert not Path(writer.temp_path).exists()
    result = arrfile.verify(out)
    assert result.ok, result
    info = arrfile.info(out)
    assert (info["dtype"], info["order"], info["attributes"]) == ("f64", "F", {"op": "x**2"})
    assert np.array_equal(arrfile.open(out), x.astype(np.float64) ** 2)


def test_workers_update_a_file_in_place(client: Client, data: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, x = data
    other = tmp_path / "other.arr"
    arrfile.save(other, np.arange(ROWS * COLS, dtype=np.float32).reshape(ROWS, COLS))
    update = arrfile.open(other, "r+")
    assert arrfile.info(other)["checksum_state"] == "being_modified"
    target = arrfile.payload_target(other)
    source = da.from_array(arrfile.lazy(path), chunks=(CHUNK, COLS))
    da.store(source[:, ::-1] + 1, target, lock=False)
    crc = arrfile.commit(update)
    assert arrfile.verify(other).ok and arrfile.info(other)["payload_crc"] == crc
    assert np.array_equal(arrfile.open(other), x[:, ::-1] + 1)


def test_worker_refuses_to_write_a_committed_file(client: Client, data: tuple[Path, np.ndarray]) -> None:
    path, _ = data
    update = arrfile.open(path, "r+")
    target = arrfile.payload_target(path)
    arrfile.commit(update)
    future = client.submit(target.__setitem__, (slice(0, 1), slice(None)), 0.0, pure=False)
    with pytest.raises(arrfile.NotBeingModifiedError) as excinfo:
        future.result()
    assert excinfo.value.kind == "not_being_modified"
    assert arrfile.verify(path).ok


def test_example_script(client: Client, tmp_path: Path) -> None:
    report = dask_cluster.run(tmp_path, client, rows=ROWS, cols=COLS, chunk_rows=CHUNK)
    assert os.getpid() not in report["worker_pids"]
    assert arrfile.verify(tmp_path / "result.arr").ok and arrfile.verify(tmp_path / "input.arr").ok


def test_open_map_is_sent_to_workers_by_reference(client: Client, data: tuple[Path, np.ndarray]) -> None:
    """numpy#2049, dask#11850: a memmap pickles whole; arrfile's read-only map pickles as a reference."""
    path, x = data
    a = arrfile.open(path)
    view = a[500:1500:2, 10:]
    assert len(pickle.dumps(view)) < 1024 < view.nbytes
    future = client.submit(lambda v: (type(v).__name__, v.filename, float(v.sum(dtype=np.float64)), os.getpid()), view)
    name, filename, total, pid = future.result()
    assert (name, filename) == ("MappedArray", str(path)) and pid != os.getpid()
    assert total == pytest.approx(float(x[500:1500:2, 10:].sum(dtype=np.float64)), rel=1e-9)


def test_save_of_a_dask_array_uses_the_workers(client: Client, data: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, x = data
    b = da.from_array(arrfile.lazy(path), chunks=(CHUNK, 100)) * 2 + 1
    assert arrfile._write._distributed_client(b) is client
    out = tmp_path / "saved.arr"
    arrfile.save(out, b, {"op": "2x+1"})
    assert arrfile.verify(out).ok
    assert arrfile.info(out)["attributes"] == {"op": "2x+1"}
    assert np.array_equal(arrfile.open(out), x * 2 + 1)
    assert not list(tmp_path.glob(".*arrtmp*"))
