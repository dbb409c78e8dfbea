#!/usr/bin/env python3
"""benches/append_compare.py: `arrfile append` against `cat >>`, on bases of growing size.

    python3 benches/append_compare.py                 # 64 MiB onto 64 MiB, 1 GiB, 16 GiB
    python3 benches/append_compare.py --runs 3 --bases 64M,1G

An append must cost O(appended bytes): the time to append 64 MiB must not depend on the
size of the array it grows (the old rows are neither rewritten nor read: the grown CRC is
combined from the old one). The bases are sparse (`arrfile create`, `truncate -s`), so a
16 GiB base costs no disk. Each timed run appends the same 64 MiB of f32 rows to a freshly
made base, alternating with the two baselines:

- `cat more.dat >> base.dat`: what np.memmap users do, not durable (nothing is fsync'd);
- `dd conv=notrunc,fsync oflag=append`: the same bytes made durable, the floor an append that
  promises "committed means on disk" can reach.

`arrfile append` does the whole transaction: lock, header mid-append (fsync), rows (hashed,
fdatasync), commit header (fsync). The driver uses the Python standard library only and
reuses benches/compare's machine description and formatting.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_compare():
    """benches/compare (a script without a .py suffix) as a module, for its helpers."""
    path = str(REPO / "benches" / "compare")
    loader = importlib.machinery.SourceFileLoader("arrfile_bench_compare", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is made.
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


compare = load_compare()
MIB, GIB = compare.MIB, compare.GIB
ROW_ELEMENTS = 1024  # f32 rows of 4 KiB


def build_release() -> Path:
    compare.log("building arrfile (release)")
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "arrfile-cli"], cwd=REPO, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "arrfile"


def timed(cmd: list[str] | str, shell: bool = False) -> float:
    os.sync()
    start = time.perf_counter()
    subprocess.run(cmd, shell=shell, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bases", default="64M,1G,16G", help="base sizes (default 64M,1G,16G)")
    parser.add_argument("--more", default="64M", type=compare.parse_size, help="bytes appended")
    parser.add_argument("--runs", type=int, default=5, help="alternated runs per contender")
    parser.add_argument("--dir", type=Path, default=None, help="scratch directory")
    args = parser.parse_args()
    bases = [compare.parse_size(b) for b in args.bases.split(",")]
    row_bytes = ROW_ELEMENTS * 4
    if args.more % row_bytes or any(b % row_bytes for b in bases):
        parser.error(f"sizes must be multiples of {row_bytes} bytes (rows of {ROW_ELEMENTS} f32)")
    arrfile = build_release()
    scratch = Path(tempfile.mkdtemp(prefix="arrfile-append-", dir=args.dir or REPO / "target"))
    more = scratch / "more.dat"
    more.write_bytes(os.urandom(args.more))
    base_arr, base_dat = scratch / "base.arr", scratch / "base.dat"

    def fresh_arr(size: int) -> None:
        subprocess.run([str(arrfile), "create", str(base_arr), "--dtype", "f32", "--shape",
                        f"{size // row_bytes},{ROW_ELEMENTS}", "--force"],
                       check=True, stdout=subprocess.DEVNULL)

    def fresh_dat(size: int) -> None:
        base_dat.unlink(missing_ok=True)
        with open(base_dat, "wb") as f:
            f.truncate(size)

    contenders = {
        "arrfile append": (fresh_arr, [str(arrfile), "append", str(base_arr), str(more), "-q"], False),
        "cat >>": (fresh_dat, f"cat '{more}' >> '{base_dat}'", True),
        "dd conv=fsync": (fresh_dat, ["dd", f"if={more}", f"of={base_dat}", "bs=1M",
                                      "oflag=append", "conv=notrunc,fsync", "status=none"], False),
    }
    results: dict[tuple[str, int], float] = {}
    for size in bases:
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for run in range(args.runs + 1):  # run 0 warms up and is not counted
            for name, (prepare, cmd, shell) in contenders.items():
                prepare(size)
                seconds = timed(cmd, shell)
                if run:
                    samples[name].append(seconds)
        for name, values in samples.items():
            results[(name, size)] = statistics.median(values)
            compare.log(f"{compare.label(size)} base, {name}: "
                        + ", ".join(compare.fmt_time(v) for v in values))
        # The appended file is the concatenation: check once per size.
        out = subprocess.run([str(arrfile), "verify", str(base_arr), "-q"], capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stdout, out.stderr, file=sys.stderr)
            return 1
    base_arr.unlink(missing_ok=True)
    base_dat.unlink(missing_ok=True)
    more.unlink()
    scratch.rmdir()

    m = compare.machine()
    print(f"Appending {compare.label(args.more)} ({args.more // row_bytes} rows of {ROW_ELEMENTS} f32) "
          f"to sparse bases; median of {args.runs} alternated runs, `sync` before each; "
          f"{m['cpu']}, {m['cores']} cores, {m['fs']}; {compare.load_note()}.\n")
    print("| base | arrfile append | cat >> | dd conv=fsync | append / dd | append / cat | append throughput |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    first = None
    for size in bases:
        a, c, d = (results[(n, size)] for n in contenders)
        first = first or a
        print(f"| {compare.label(size)} | {compare.fmt_time(a)} | {compare.fmt_time(c)} | "
              f"{compare.fmt_time(d)} | {a / d:.2f}x | {a / c:.2f}x | {args.more / a / 1e9:.2f} GB/s |")
    last = results[("arrfile append", bases[-1])]
    print(f"\nFlatness: appending to the {compare.label(bases[-1])} base takes {last / first:.2f}x "
          f"the time of appending to the {compare.label(bases[0])} base.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
