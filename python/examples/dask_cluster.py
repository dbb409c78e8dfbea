"""Dask over arrfiles on a local multi-process cluster.

Run: ``python python/examples/dask_cluster.py [WORKDIR]``

What it shows (every result is checked against plain numpy):

1. ``dask.array.from_array(arrfile.open(path), chunks=...)``: a reduction and a
   ``map_blocks`` computed by worker *processes*. (Dask copies a numpy array
   handed to ``from_array`` and ships the pieces to the workers.)
2. ``dask.array.from_array(arrfile.lazy(path), chunks=...)``: the same, but
   the graph only holds the path; every worker maps the file itself. This is
   the form that scales to a multi-node cluster on a shared filesystem.
3. Writing a result into a new arrfile: the driver calls ``arrfile.create``
   (a temporary file in state *being modified*), the workers each write their
   block through the picklable ``writer.target`` (map the temp file's payload
   ``r+``, write, ``msync``), then the driver calls ``writer.finish()``
   (payload CRC, state *valid*, fsync, atomic rename) and ``arrfile.verify``.
4. Updating an existing arrfile in place: ``arrfile.open(path, "r+")`` on the
   driver (state *being modified*), workers write through
   ``arrfile.payload_target(path)``, then ``arrfile.commit``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
from dask.distributed import Client, LocalCluster

import arrfile


def make_cluster(n_workers: int = 2) -> LocalCluster:
    """A loopback-only cluster of worker processes with one thread each, no dashboard."""
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )


def block_pid(block: np.ndarray) -> np.ndarray:
    """One element per block: the PID of the process that computed it."""
    return np.full((1,) * block.ndim, os.getpid(), dtype=np.int64)


def run(workdir: Path, client: Client, rows: int = 2000, cols: int = 300, chunk_rows: int = 500) -> dict[str, Any]:
    """The whole demonstration; returns what it measured. Raises AssertionError on a mismatch."""
    rng = np.random.default_rng(12345)
    x = rng.standard_normal((rows, cols)).astype(np.float32)
    src = workdir / "input.arr"
    arrfile.save(src, x, {"units": "arbitrary", "seed": 12345})
    chunks = (chunk_rows, cols)

    # 1. from_array over the memmap arrfile.open returns
    a = da.from_array(arrfile.open(src), chunks=chunks)
    col_sums = a.sum(axis=0).compute()
    np.testing.assert_allclose(col_sums, x.sum(axis=0, dtype=np.float64), rtol=1e-4, atol=1e-3)
    scaled = a.map_blocks(lambda b: b * 2 + 1, dtype=a.dtype).compute()
    assert np.array_equal(scaled, x * 2 + 1)

    # 2. from_array over a LazyArray: workers map the file themselves
    b = da.from_array(arrfile.lazy(src), chunks=chunks)
    total = float(b.astype(np.float64).sum().compute())
    assert abs(total - float(x.astype(np.float64).sum())) < 1e-6 * max(1.0, abs(total)) + 1e-6
    maxima = b.map_blocks(lambda blk: blk.max(axis=1, keepdims=True), chunks=(chunk_rows, 1)).compute()
    assert np.array_equal(maxima[:, 0], x.max(axis=1))
    pids = set(np.unique(b.map_blocks(block_pid, chunks=(1, 1), dtype=np.int64).compute()).tolist())
    assert os.getpid() not in pids, "blocks were computed in the driver, not in worker processes"

    # 3. a new file written block by block by the workers
    out = workdir / "result.arr"
    writer = arrfile.create(out, "f32", (rows, cols), attrs={"op": "2x+1"})
    assert not out.exists()
    da.store(b * 2 + 1, writer.target, lock=False, compute=True)
    assert not out.exists()
    writer.finish()
    result = arrfile.verify(out)
    assert result.ok, result
    assert np.array_equal(arrfile.open(out), x * 2 + 1)

    # 4. an existing file updated in place by the workers
    update = arrfile.open(src, "r+")
    target = arrfile.payload_target(src)
    negated = -da.from_array(arrfile.lazy(out), chunks=chunks)
    da.store(negated, target, lock=False, compute=True)
    crc = arrfile.commit(update)
    assert arrfile.verify(src).ok and arrfile.info(src)["payload_crc"] == crc
    assert np.array_equal(arrfile.open(src), -(x * 2 + 1))

    return {"column_sums": col_sums, "worker_pids": sorted(pids), "result_crc": result.found, "inplace_crc": crc}


def main(argv: list[str]) -> int:
    """Run the demonstration in ``argv[1]`` or a temporary directory."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(argv[1]) if len(argv) > 1 else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with make_cluster() as cluster, Client(cluster) as client:
            report = run(workdir, client)
    print(f"worker processes: {report['worker_pids']} (driver {os.getpid()})")
    print(f"result.arr CRC-32 0x{report['result_crc']:08x}, input.arr updated in place, CRC-32 0x{report['inplace_crc']:08x}")
    print("all results match numpy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
