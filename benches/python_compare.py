#!/usr/bin/env python3
"""The Python side of arrfile against its baselines, in one run: prints a markdown table of ratios.

    .venv/bin/python benches/python_compare.py            # from the repository root (bash python/run_tests.sh makes .venv)
    .venv/bin/python benches/python_compare.py --quick    # small sizes, a trial run (about a minute)

Rows (targets from issue 14):

1. CRC-32 backends (zlib, isal, zlib-ng) over a warm 1 GiB map, 1 and 2 threads: the evidence for
   the backend arrfile picks.
2. ``arrfile.verify`` (in process) against the Rust ``arrfile verify`` (whole process, release
   build at target/release/arrfile) on the same warm 1 GiB file: >= 0.8x its throughput.
3. The numpy memmap tutorial workload: create (100000, 1000) f32, fill column by column, finish;
   reopen, row means in chunks of 10000 rows; against the same with plain ``np.memmap``
   (w+, flush; r): <= 1.05x.
4. ``arrfile.open`` against ``np.load(mmap_mode='r')``, in process (timeit, best of 7): <= 0.5x.
5. Peak RSS of ``arrfile.save`` of a 4 GiB Dask array and of a 4 GiB h5py dataset, each in a
   fresh process (VmHWM of /proc/self/status, which exec resets): <= 256 MiB.
6. Requests to a local HTTP server with Range support: the header (info) <= 2; rows i..j of a
   C-order file through ``arrfile.lazy`` = 1.

Timed pairs run alternately (A B A B ...) after a warm-up, medians reported; ratios are from the
same run. Data goes to target/bench-data-python/ and is removed at the end (--keep keeps it).
"""

from __future__ import annotations

import argparse
import mmap
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
import timeit
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python" / "src"))
sys.path.insert(0, str(REPO / "python" / "tests"))

import arrfile  # noqa: E402
from arrfile import _crc  # noqa: E402

GiB = 1 << 30
MiB = 1 << 20


def median_pair(
    a: Callable[[], Any], b: Callable[[], Any], runs: int, setup: Callable[[], Any] = lambda: None
) -> tuple[float, float]:
    """Median wall times of ``a`` and ``b`` run alternately after one warm-up each; ``setup`` (untimed) before each run."""
    setup()
    a()
    setup()
    b()
    ta, tb = [], []
    for _ in range(runs):
        setup()
        t = time.perf_counter()
        a()
        ta.append(time.perf_counter() - t)
        setup()
        t = time.perf_counter()
        b()
        tb.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def touch_memory(nbytes: int) -> None:
    """Touch and free ``nbytes`` of memory: on a VM the first use of pages the host took back is
    2-3x slower, and a run should not pay for that (benches/README.md, warm runs)."""
    x = np.ones(nbytes, np.uint8)
    del x


def remove_outputs(d: Path) -> Callable[[], None]:
    """A setup step: remove the tutorial's outputs, so that both sides start from no file."""
    def setup() -> None:
        for name in ("t.arr", "t.dat"):
            try:
                os.unlink(d / name)
            except FileNotFoundError:
                pass
    return setup


def make_file(path: Path, nbytes: int) -> None:
    """An f32 arrfile of ``nbytes`` pseudo-random payload bytes."""
    n = nbytes // 4
    rows = n // 4096
    with arrfile.create(path, "f32", (rows, 4096)) as w:
        rng = np.random.default_rng(0)
        step = 4096
        for i in range(0, rows, step):
            w.array[i : i + step] = rng.standard_normal((min(step, rows - i), 4096), dtype=np.float32)


def warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(64 * MiB):
            pass


def crc_backends(path: Path, runs: int) -> list[tuple[str, int, float]]:
    """Throughput (GB/s) of each backend over the mapped payload, 1 and 2 threads."""
    from isal import isal_zlib
    from zlib_ng import zlib_ng

    info = arrfile.info(path)
    out = []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        view = memoryview(m)[info["data_offset"] :]
        for name, fn in (("zlib", zlib.crc32), ("isal", isal_zlib.crc32), ("zlib_ng", zlib_ng.crc32)):
            for threads in (1, 2):
                times = []
                for _ in range(runs):
                    t = time.perf_counter()
                    _crc.crc32_parallel(view, threads=threads, func=fn)
                    times.append(time.perf_counter() - t)
                out.append((name, threads, len(view) / statistics.median(times) / 1e9))
        view.release()
    return out


def tutorial_arrfile(d: Path, rows: int, cols: int) -> None:
    col = np.arange(rows, dtype=np.float32)
    with arrfile.create(d / "t.arr", "f32", (rows, cols)) as w:
        a = w.array
        for j in range(cols):
            a[:, j] = col
    with arrfile.open(d / "t.arr") as r:
        for i in range(0, rows, 10000):
            r[i : i + 10000].mean(axis=1)


def tutorial_memmap(d: Path, rows: int, cols: int) -> None:
    col = np.arange(rows, dtype=np.float32)
    a = np.memmap(d / "t.dat", dtype=np.float32, mode="w+", shape=(rows, cols))
    for j in range(cols):
        a[:, j] = col
    a.flush()
    del a
    r = np.memmap(d / "t.dat", dtype=np.float32, mode="r", shape=(rows, cols))
    for i in range(0, rows, 10000):
        r[i : i + 10000].mean(axis=1)
    del r


RSS_CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {src!r})
    import numpy as np, arrfile
    kind, src_path, out, rows = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    if kind == "dask":
        import dask, dask.array as da
        x = da.random.default_rng(0).random((rows, 16384), chunks=(256, 16384))  # 32768 rows: 4 GiB of f64, 32 MiB chunks
        base = hwm()
        t = time.perf_counter()
        with dask.config.set(scheduler="threads", num_workers=2):
            arrfile.save(out, x)
    else:
        import h5py
        f = h5py.File(src_path, "r")
        x = f["x"]
        base = hwm()
        t = time.perf_counter()
        arrfile.save(out, x)
    print(base, hwm(), time.perf_counter() - t)
    """
)


def peak_rss(kind: str, d: Path, rows: int) -> tuple[int, int, float]:
    """(baseline after imports, peak, seconds) of a fresh process that saves ``rows`` x 16384 f64."""
    code = RSS_CHILD.format(src=str(REPO / "python" / "src"))
    out = subprocess.run(
        [sys.executable, "-c", code, kind, str(d / "x.h5"), str(d / f"rss_{kind}.arr"), str(rows)],
        capture_output=True, text=True, check=True, timeout=1200,
    )
    base, peak, secs = out.stdout.split()
    os.unlink(d / f"rss_{kind}.arr")
    return int(base), int(peak), float(secs)


def make_h5(path: Path, rows: int, cols: int) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        ds = f.create_dataset("x", shape=(rows, cols), dtype=np.float64)
        rng = np.random.default_rng(1)
        for i in range(0, rows, 1024):
            ds[i : i + 1024] = rng.random((min(1024, rows - i), cols))


def remote_requests(d: Path) -> tuple[int, int, int]:
    from http_server import RangeServer

    arrfile.save(d / "r.arr", np.zeros((100000, 256), np.float32), {"dims": ["time", "x"]})
    with RangeServer(d) as server:
        server.reset()
        arrfile.info(server.url("r.arr"))
        header_requests = len(server.requests)
        lazy = arrfile.lazy(server.url("r.arr"))
        server.reset()
        lazy[1234:5678]
        row_requests = len(server.requests)
        server.reset()
        lazy[10, 5:9]
        one_row = len(server.requests)
        lazy.close()
    return header_requests, row_requests, one_row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a trial, not a result")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the data files")
    parser.add_argument("--only", choices=["crc", "verify", "tutorial", "open", "rss", "http"], action="append",
                        help="run only these rows (repeatable; default all)")
    parser.add_argument("--arrfile", default=str(REPO / "target" / "release" / "arrfile"), help="the Rust CLI")
    args = parser.parse_args()
    d = REPO / "target" / "bench-data-python"
    d.mkdir(parents=True, exist_ok=True)
    size = 64 * MiB if args.quick else GiB
    rows, cols = (10000, 1000) if args.quick else (100000, 1000)
    rss_rows = 2048 if args.quick else 32768
    lines = [
        "| # | what | arrfile (Python) | baseline | baseline value | ratio | target | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    def want(key: str) -> bool:
        return not args.only or key in args.only

    vf = d / "verify.arr"
    print(f"CRC backend chosen: {_crc.BACKEND_NAME}; cores: {_crc.default_threads()}; numpy {np.__version__}", flush=True)

    # 1, 2: CRC backends and verify
    if want("crc") or want("verify") or want("open"):
        make_file(vf, size)
        warm(vf)
    if want("crc"):
        for name, threads, gbs in crc_backends(vf, args.runs):
            print(f"  crc32 {name:8s} {threads} thread(s): {gbs:6.2f} GB/s", flush=True)
            lines.append(f"| 1 | CRC-32 `{name}`, {threads} thread(s), warm map of {size // MiB} MiB | {gbs:.2f} GB/s | — | — | — | evidence | |")
    if want("verify"):
        rust = Path(args.arrfile)
        if not rust.is_file():
            print(f"Rust CLI missing at {rust}: build it with `cargo build --release -p arrfile-cli`", file=sys.stderr)
            return 2
        t_py, t_rs = median_pair(lambda: arrfile.verify(vf), lambda: subprocess.run([str(rust), "verify", str(vf)], check=True, capture_output=True), args.runs)
        py_gbs, rs_gbs = size / t_py / 1e9, size / t_rs / 1e9
        ratio = py_gbs / rs_gbs
        print(f"verify: python {py_gbs:.2f} GB/s, rust {rs_gbs:.2f} GB/s, ratio {ratio:.2f}", flush=True)
        lines.append(f"| 2 | `arrfile.verify`, warm {size // MiB} MiB, in process | {py_gbs:.2f} GB/s | Rust `arrfile verify` (whole process) | {rs_gbs:.2f} GB/s | {ratio:.2f}× | ≥ 0.8× | {'**met**' if ratio >= 0.8 else 'not met'} |")
        t_py_proc, _ = median_pair(
            lambda: subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(REPO / 'python' / 'src')!r}); import arrfile; assert arrfile.verify({str(vf)!r}).ok"], check=True),
            lambda: None, max(3, args.runs // 2))
        lines.append(f"| 2b | `arrfile.verify`, whole process (`python -c`) | {size / t_py_proc / 1e9:.2f} GB/s | Rust `arrfile verify` | {rs_gbs:.2f} GB/s | {size / t_py_proc / 1e9 / rs_gbs:.2f}× | (information) | |")

    # 3: the tutorial workload
    if want("tutorial"):
        touch_memory(2 * rows * cols * 4 + GiB)
        t_af, t_mm = median_pair(lambda: tutorial_arrfile(d, rows, cols), lambda: tutorial_memmap(d, rows, cols),
                                 args.runs, setup=remove_outputs(d))
        ratio = t_af / t_mm
        print(f"tutorial: arrfile {t_af:.3f} s, np.memmap {t_mm:.3f} s, ratio {ratio:.3f}", flush=True)
        lines.append(f"| 3 | tutorial workload ({rows}, {cols}) f32: create, fill by column, finish; reopen, row means | {t_af:.3f} s | `np.memmap` w+, flush; r | {t_mm:.3f} s | {ratio:.3f}× | ≤ 1.05× | {'**met**' if ratio <= 1.05 else 'not met'} |")

    # 4: open
    if want("open"):
        for label, shape in (("1 MiB", (256, 1024)), (f"{size // MiB} MiB", None)):
            if shape is None:
                af, npy = vf, d / "verify.npy"
                src = arrfile.open(vf)
                out = np.lib.format.open_memmap(npy, mode="w+", dtype=src.dtype, shape=src.shape)
                for i in range(0, src.shape[0], 8192):
                    out[i : i + 8192] = src[i : i + 8192]
                out.flush()
                del out, src
            else:
                af, npy = d / "small.arr", d / "small.npy"
                x = np.ones(shape, np.float32)
                arrfile.save(af, x)
                np.save(npy, x)
            n = 2000
            t_open = min(timeit.repeat(lambda: arrfile.open(af), number=n, repeat=7)) / n
            t_load = min(timeit.repeat(lambda: np.load(npy, mmap_mode="r"), number=n, repeat=7)) / n
            ratio = t_open / t_load
            print(f"open {label}: arrfile {t_open * 1e6:.1f} us, np.load {t_load * 1e6:.1f} us, ratio {ratio:.2f}", flush=True)
            lines.append(f"| 4 | `arrfile.open`, {label}, in process | {t_open * 1e6:.1f} µs | `np.load(mmap_mode='r')` | {t_load * 1e6:.1f} µs | {ratio:.2f}× | ≤ 0.5× | {'**met**' if ratio <= 0.5 else 'not met'} |")

    # 5: peak RSS of save, 4 GiB
    if want("rss"):
        rss_bytes = rss_rows * 16384 * 8
        make_h5(d / "x.h5", rss_rows, 16384)
        for kind in ("dask", "h5py"):
            base, peak, secs = peak_rss(kind, d, rss_rows)
            print(f"save of {rss_bytes // MiB} MiB from {kind}: peak RSS {peak / MiB:.0f} MiB (after imports {base / MiB:.0f} MiB), {secs:.1f} s", flush=True)
            lines.append(f"| 5 | peak RSS, `save` of {rss_bytes / GiB:.0f} GiB from {kind} (fresh process) | {peak / MiB:.0f} MiB | after imports | {base / MiB:.0f} MiB | — | ≤ 256 MiB | {'**met**' if peak <= 256 * MiB else 'not met'} |")
        os.unlink(d / "x.h5")

    # 6: remote requests
    if want("http"):
        header_requests, row_requests, one_row = remote_requests(d)
        print(f"http: info {header_requests} requests, rows 1234..5678 {row_requests}, one row {one_row}", flush=True)
        lines.append(f"| 6 | HTTP requests for the header and attributes (`info`) | {header_requests} | — | — | — | ≤ 2 | {'**met**' if header_requests <= 2 else 'not met'} |")
        lines.append(f"| 6 | HTTP requests for rows 1234..5678 of a C-order file (`lazy`) | {row_requests} | — | — | — | 1 | {'**met**' if row_requests == 1 else 'not met'} |")


    print()
    print("\n".join(lines))
    if not args.keep:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
