"""Readers in one process while another appends (spec §11.5): never an invalid file, a wrong
value or a false checksum mismatch; maps made before a commit keep their array."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import arrfile

#: Elements per row; element i of the array (C order) holds i.
WIDTH = 64

APPENDER = """
import sys, time
import numpy as np
import arrfile
path, seconds, width = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(1)
n = arrfile.info(path)["shape"][0]
commits = rollbacks = 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    k = int(rng.integers(1, 40))
    rows = np.arange(n * width, (n + k) * width, dtype=np.uint32).reshape(k, width)
    kind = int(rng.integers(4))
    if kind == 0:  # rows written, then rolled back (truncated under the readers)
        try:
            with arrfile.appender(path, wait=True) as w:
                w.write(rows)
                raise KeyError
        except KeyError:
            rollbacks += 1
        continue
    if kind == 1:  # several writes and a checkpoint commit, in one session
        with arrfile.appender(path, wait=True) as w:
            for part in np.array_split(rows, 3):
                w.write(part)
            w.commit()
    else:
        arrfile.append(path, rows, wait=True)
    n += k
    commits += 1
print(commits, rollbacks, n)
"""


def check(a: np.ndarray) -> int:
    """``a`` is a prefix of the growing array (element i holds i); its number of rows."""
    assert a.ndim == 2 and a.shape[1] == WIDTH and a.dtype == np.uint32
    n = a.shape[0]
    assert np.array_equal(np.asarray(a).reshape(-1), np.arange(n * WIDTH, dtype=np.uint32)), "wrong values"
    return n


def test_readers_see_committed_arrays_while_appends_run(tmp_path: Path) -> None:
    path = tmp_path / "grow.arr"
    arrfile.save(path, np.arange(WIDTH, dtype=np.uint32).reshape(1, WIDTH))
    writer = subprocess.Popen([sys.executable, "-c", APPENDER, str(path), "2.5", str(WIDTH)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    iterations = 0
    shapes: set[int] = set()
    held: list[tuple[np.ndarray, int]] = []
    mid_append_seen = 0
    try:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline and writer.poll() is None:
            a = arrfile.open(path)  # maps the committed rows only
            n = check(a)
            shapes.add(n)
            result = arrfile.verify(path)  # the committed payload against its (base) CRC
            assert result.outcome == "valid", result
            info = arrfile.info(path)
            mid_append_seen += info["append_in_progress"]
            assert info["shape"][0] >= n and info["checksum_state"] == "valid"
            lazy = arrfile.lazy(path)  # no lock; maps on first use
            last = lazy.shape[0] - 1
            assert np.array_equal(lazy[last], np.arange(last * WIDTH, (last + 1) * WIDTH, dtype=np.uint32))
            if iterations % 25 == 0:
                held.append((a, n))  # kept mapped across later commits and rollbacks
            for old, rows in held:
                assert check(old) == rows  # an old map keeps its array
            iterations += 1
    finally:
        out, err = writer.communicate(timeout=60)
    assert writer.returncode == 0, err
    print(f"reads {iterations}, shapes seen {len(shapes)}, reads mid-append {mid_append_seen}, appender: {out}")
    commits, rollbacks, final_rows = (int(x) for x in out.split())
    # Floors: the test cannot pass without appends, rollbacks and reads meeting.
    assert commits >= 50 and rollbacks >= 10, out
    assert iterations >= 100, iterations
    assert len(shapes) >= 20, len(shapes)
    assert mid_append_seen >= 1, "no read ever met an append in progress"
    assert check(arrfile.open(path)) == final_rows
    assert arrfile.verify(path).ok and not arrfile.info(path)["append_in_progress"]
