#!/usr/bin/env python3
"""Benchmarks of `arrfile stats` and `arrfile preview` against their baselines (issue 15).

    python3 -m venv .venv && .venv/bin/pip install numpy
    cargo build --release -p arrfile-cli
    .venv/bin/python benches/view_compare.py [--size-mib 1024] [--runs 5] [--arrfile PATH]

Rows, each a ratio against a baseline measured in the same run (medians, runs alternated,
warm page cache: every input is read once before timing):
  1. `arrfile stats` of an f32 file vs np.nanmin + np.nanmax + np.nanmean + np.nanstd on
     np.load(mmap_mode='r') of the same data (timed inside Python, so without its start-up).
     Target: <= 0.5x.
  2. peak RSS of `arrfile stats`: GNU time %M on the .npy input (read with pread, nothing
     mapped), and the peak RssAnon sampled from /proc on the mapped .arr. Target: <= 32 MiB.
  3. `arrfile preview` of a 2-D f32 array of the same size vs `arrfile verify` of it.
     Target: <= 2x.
Prints a markdown section (append it to benches/RESULTS.md).
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def numpy_stats(path):
    a = np.load(path, mmap_mode="r")
    start = time.perf_counter()
    np.nanmin(a), np.nanmax(a), np.nanmean(a), np.nanstd(a)
    return time.perf_counter() - start


def peak_rss_anon(cmd):
    """Peak RssAnon of a process, sampled every 5 ms from /proc."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("RssAnon:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.005)
    proc.wait()
    return peak


def gnu_time_rss(cmd):
    out = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, check=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(out.stderr.strip().splitlines()[-1]) * 1024


def warm(path):
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def fmt_s(s):
    return f"{s * 1000:.0f} ms" if s < 10 else f"{s:.2f} s"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--arrfile", default=str(REPO / "target" / "release" / "arrfile"))
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    exe = args.arrfile
    data = REPO / "target" / "bench-data" / "view"
    data.mkdir(parents=True, exist_ok=True)
    n = args.size_mib * (1 << 20) // 4
    side = int(n ** 0.5)
    npy, arr = data / "stats.npy", data / "stats.arr"
    # One 2-D array serves both: stats of all of it, and its preview.
    rows_, cols_ = (side, n // side) if n % side == 0 else (1 << 10, n >> 10)
    img = arr
    if not arr.exists():
        rng = np.random.default_rng(15)
        out = np.lib.format.open_memmap(npy, mode="w+", dtype=np.float32, shape=(rows_, cols_))
        flat = out.reshape(-1)
        step = 1 << 24
        for i in range(0, n, step):
            chunk = rng.standard_normal(min(step, n - i), dtype=np.float32) * 10 + 3
            chunk[::100_003] = np.nan
            flat[i:i + step] = chunk
        out.flush()
        del out, flat
        subprocess.run([exe, "convert", str(npy), "-o", str(arr), "--quiet", "--force"], check=True,
                       stdout=subprocess.DEVNULL)
    for f in (npy, arr):
        warm(f)
    rows = []
    # 1. stats vs numpy, alternated.
    ours, theirs = [], []
    timed([exe, "stats", "--quiet", str(arr)])
    numpy_stats(npy)
    for _ in range(args.runs):
        ours.append(timed([exe, "stats", "--quiet", str(arr)]))
        theirs.append(numpy_stats(npy))
    a, b = statistics.median(ours), statistics.median(theirs)
    rows.append(("stats, 1 GiB f32 .arr, warm" if args.size_mib == 1024 else f"stats, {args.size_mib} MiB f32, warm",
                 fmt_s(a), "np.nanmin+nanmax+nanmean+nanstd on np.load(mmap_mode='r'), in process",
                 fmt_s(b), f"{a / b:.2f}x", "<= 0.5x", "met" if a / b <= 0.5 else "**missed**"))
    # 2. peak RSS.
    rss_npy = gnu_time_rss([exe, "stats", "--quiet", str(npy)])
    rss_anon = peak_rss_anon([exe, "stats", "--quiet", str(arr)])
    worst = max(rss_npy, rss_anon)
    rows.append(("peak RSS of stats", f".npy (pread): {rss_npy / 2**20:.1f} MiB; .arr RssAnon: {rss_anon / 2**20:.1f} MiB",
                 "-", "", "", "<= 32 MiB", "met" if worst <= 32 << 20 else "**missed**"))
    # 3. preview vs verify, alternated.
    ours, theirs = [], []
    png = data / "image.png"
    timed([exe, "preview", "--quiet", str(img), "-o", str(png)])
    timed([exe, "verify", "--quiet", str(img)])
    for _ in range(args.runs):
        ours.append(timed([exe, "preview", "--quiet", str(img), "-o", str(png)]))
        theirs.append(timed([exe, "verify", "--quiet", str(img)]))
    a, b = statistics.median(ours), statistics.median(theirs)
    shape = subprocess.run([exe, "info", "--json", str(img)], check=True, capture_output=True, text=True).stdout
    import json
    shape = json.loads(shape)["shape"]
    rows.append((f"preview of a {shape[0]}x{shape[1] if len(shape) > 1 else ''} f32 array (1024 px), warm",
                 fmt_s(a), "`arrfile verify` of it", fmt_s(b), f"{a / b:.2f}x", "<= 2x",
                 "met" if a / b <= 2 else "**missed**"))
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"## arrfile show/stats/diff/preview (issue 15)\n")
    print(f"- command: `{' '.join(['benches/view_compare.py'] + sys.argv[1:])}`; {args.runs} alternated runs per pair, medians, warm page cache")
    print(f"- machine: {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}; load average {load:.2f} at the end")
    print(f"- numpy {np.__version__}, Python {platform.python_version()}; ratio = arrfile time / baseline time\n")
    print("| measure | arrfile | compared with | theirs | ratio | target | |")
    print("|---|---:|---|---:|---:|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    if not args.keep:
        for f in (npy, arr, png):
            f.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
