#!/usr/bin/env python3
"""Python appends (format 1.1, issue 13): the time to append 64 MiB stays flat whatever the
array's size, and how it compares with appending the same bytes to a raw file.

    .venv/bin/python benches/python_append.py            # from the repository root
    .venv/bin/python benches/python_append.py --rounds 3 --sizes 64M,1G

Bases are sparse files of f32 rows of 16 KiB (checksum state valid: its CRC is that of the
zeros, computed by combining, so that the append combines it as it would a real one). Each
round appends 64 MiB from memory with ``arrfile.append`` (durable: fsync of the header
mid-append, fdatasync of the rows, fsync of the committed header), and, alternately, the same
64 MiB to a raw sparse file of the same size with ``cat more.dat >> base.dat`` (not durable)
and ``dd ... oflag=append conv=notrunc,fdatasync`` (durable). Medians are printed as a
markdown table. Data goes to target/bench-data-append/ and is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import arrfile
from arrfile import _spec as S
from arrfile._crc import crc32, crc32_combine
from arrfile._header import encode_header
from arrfile._write import _new_header

ROW = 4096  # f32 elements per row: 16 KiB
MORE = 64 << 20


def zeros_crc(n: int) -> int:
    """CRC-32 of ``n`` zero bytes, by doubling with crc32_combine."""
    result, block, size = 0, crc32(bytes(1)), 1
    while n:
        if n & 1:
            result = crc32_combine(result, block, size)
        block = crc32_combine(block, block, size)
        size *= 2
        n >>= 1
    return result


def sparse_base(path: Path, nbytes: int) -> None:
    """A valid arrfile of ``nbytes`` of zero f32 rows, sparse on disk."""
    rows = nbytes // (ROW * 4)
    header = _new_header(S.DTYPE_BY_NAME["f32"], "little", "C", (rows, ROW), b"", 4096, S.STATE_VALID, zeros_crc(rows * ROW * 4))
    with open(path, "wb") as f:
        f.write(encode_header(header))
        f.truncate(4096 + rows * ROW * 4)


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def parse_size(text: str) -> int:
    units = {"M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="64M,1G,16G")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1] / "target" / "bench-data-append"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    more = np.arange(MORE // 4, dtype=np.float32).reshape(-1, ROW)
    more_dat = root / "more.dat"
    more_dat.write_bytes(more.tobytes())
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, CRC backend {arrfile._crc.BACKEND_NAME}, "
          f"{args.rounds} rounds, medians")
    print()
    print("| base | `arrfile.append` 64 MiB (durable) | `cat >>` (not durable) | `dd` append + fdatasync | append / dd |")
    print("|---:|---:|---:|---:|---:|")
    try:
        for size_text in args.sizes.split(","):
            size = parse_size(size_text)
            base, raw = root / "base.arr", root / "base.dat"
            times: dict[str, list[float]] = {"append": [], "cat": [], "dd": []}
            for _ in range(args.rounds + 1):  # the first round warms up and is dropped
                sparse_base(base, size)
                with open(raw, "wb") as f:
                    f.truncate(size)
                os.sync()
                t_append = timed(lambda: arrfile.append(base, more))
                t_cat = timed(lambda: subprocess.run(f"cat {more_dat} >> {raw}", shell=True, check=True))
                with open(raw, "r+b") as f:
                    f.truncate(size)
                os.sync()
                t_dd = timed(lambda: subprocess.run(
                    ["dd", f"if={more_dat}", f"of={raw}", "bs=16M", "oflag=append", "conv=notrunc,fdatasync", "status=none"],
                    check=True))
                for key, value in (("append", t_append), ("cat", t_cat), ("dd", t_dd)):
                    times[key].append(value)
            assert arrfile.info(base)["shape"][0] == size // (ROW * 4) + MORE // (ROW * 4)
            med = {k: statistics.median(v[1:]) for k, v in times.items()}
            gbps = {k: MORE / v / 1e9 for k, v in med.items()}
            print(f"| {size_text}iB | {med['append'] * 1e3:.1f} ms ({gbps['append']:.2f} GB/s) | "
                  f"{med['cat'] * 1e3:.1f} ms ({gbps['cat']:.2f} GB/s) | {med['dd'] * 1e3:.1f} ms ({gbps['dd']:.2f} GB/s) | "
                  f"{med['append'] / med['dd']:.2f}x |")
            base.unlink()
            raw.unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
