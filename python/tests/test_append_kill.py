"""SIGKILL at every system call of the append protocol, and of recovery (spec §11.2, §11.3).

The LD_PRELOAD library ``tests/killshim/killshim.c`` counts the libc calls that change a file
or its locks (open for writing, pwrite, fsync, fdatasync, ftruncate, flock, fcntl locks, ...)
on paths containing ``$KILLSHIM_TARGET`` and kills its process with SIGKILL before the call
``$KILLSHIM_AT``. A first run with ``$KILLSHIM_LOG`` lists the calls; then a child appends (or
recovers) once per call k = 1 .. count + 1, killed before call k, and the file must read as
exactly the old or the new array, and recover to the old or the new file byte for byte.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import arrfile

REPO = Path(__file__).resolve().parents[2]
TARGET = "victim.arr"

APPEND = """
import sys
import numpy as np
import arrfile
path, dtype, order = sys.argv[1], sys.argv[2], sys.argv[3]
with arrfile.appender(path) as w:
    for i in range(3):  # three chunks of two rows, one commit
        rows = np.full((2, 3), 10 + i, dtype) if order == "C" else np.full((3, 2), 10 + i, dtype)
        w.write(rows)
"""

RECOVER = """
import sys
import arrfile
print(arrfile.recover(sys.argv[1]))
"""


@pytest.fixture(scope="session")
def killshim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``killshim.so``, compiled once per session."""
    out = tmp_path_factory.mktemp("killshim") / "killshim.so"
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O2", "-o", str(out), str(REPO / "tests/killshim/killshim.c"), "-ldl"],
        check=True,
    )
    return out


def run_child(shim: Path, script: str, args: list[str], *, at: int = 0, log: Path | None = None) -> int:
    """Run ``script`` in a child python under the shim; its exit code (-9 when killed)."""
    env = {**os.environ, "LD_PRELOAD": str(shim), "KILLSHIM_TARGET": TARGET, "KILLSHIM_AT": str(at)}
    env.pop("KILLSHIM_LOG", None)
    if log is not None:
        env["KILLSHIM_LOG"] = str(log)
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=60)
    if done.returncode not in (0, -9):
        raise AssertionError(f"child failed ({done.returncode}): {done.stderr}")
    return done.returncode


def logged_calls(shim: Path, tmp: Path, script: str, args: list[str]) -> list[str]:
    """The counted calls of one unkilled run, in order."""
    log = tmp / "calls.log"
    log.unlink(missing_ok=True)
    assert run_child(shim, script, args, log=log) == 0
    lines = log.read_text().split("\n")
    calls = [line.split(" ", 1)[1] for line in lines if line]
    assert [int(line.split(" ")[0]) for line in lines if line] == list(range(1, len(calls) + 1))
    return calls


CASES = {
    # (dtype, order, the base array: C valid / F big-endian with no checksum)
    "c_f32_valid": ("<f4", "C", lambda: np.arange(12, dtype="<f4").reshape(4, 3)),
    "f_big_endian_absent": (">i8", "F", lambda: np.asfortranarray(np.arange(12, dtype=">i8").reshape(3, 4))),
}


def base_file(path: Path, case: str) -> tuple[np.ndarray, bytes]:
    """Write the case's base file at ``path``; its array and bytes."""
    dtype, order, make = CASES[case]
    base = make()
    arrfile.save(path, base)
    assert arrfile.info(path)["order"] == order
    if case == "f_big_endian_absent":  # checksum state absent: stays absent (spec §11.4)
        data = bytearray(path.read_bytes())
        data[37] = 0
        data[40:44] = bytes(4)
        data[12:16] = bytes(4)
        import zlib

        data[12:16] = zlib.crc32(bytes(data[:640])).to_bytes(4, "little")
        path.write_bytes(bytes(data))
    return base, path.read_bytes()


def grown(case: str, base: np.ndarray) -> np.ndarray:
    """What the child's append makes of ``base``."""
    dtype, order, _ = CASES[case]
    if order == "C":
        return np.concatenate([base] + [np.full((2, 3), 10 + i, dtype) for i in range(3)]).astype(dtype)
    return np.concatenate([base] + [np.full((3, 2), 10 + i, dtype) for i in range(3)], axis=1).astype(dtype)


def check_protocol_order(calls: list[str]) -> tuple[int, int]:
    """The calls are the transaction of spec §11.2 in order; the 1-based indices of the
    begin header's pwrite and of the commit header's pwrite."""
    assert calls[:3] == ["open", "flock", "fcntl(lock)"], calls  # open, shared flock, append lock
    writes = [i for i, c in enumerate(calls) if c == "pwrite"]
    begin, commit = writes[0], writes[-1]
    assert calls[begin + 1] == "fsync", calls  # the header mid-append is durable before any row
    assert "fdatasync" in calls[begin + 2 : commit], calls  # rows durable before the commit
    assert calls[commit + 1] == "fsync", calls
    assert calls[commit + 2 :] == ["fcntl(lock)", "flock(unlock)"], calls
    assert len(writes) == 5  # begin, 3 chunks, commit
    return begin + 1, commit + 1


@pytest.mark.parametrize("case", sorted(CASES))
def test_kill_at_every_call_of_an_append(case: str, tmp_path: Path, killshim: Path) -> None:
    dtype, order, _ = CASES[case]
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    base, old_bytes = base_file(probe_dir / TARGET, case)
    new = grown(case, base)
    calls = logged_calls(killshim, tmp_path, APPEND, [str(probe_dir / TARGET), dtype, order])
    assert len(calls) >= 12, calls  # a floor: the test cannot pass by counting nothing
    begin, commit = check_protocol_order(calls)
    new_bytes = (probe_dir / TARGET).read_bytes()
    assert np.array_equal(arrfile.open(probe_dir / TARGET), new)
    state = arrfile.info(probe_dir / TARGET)["checksum_state"]
    assert state == ("valid" if case == "c_f32_valid" else "absent")

    outcomes = {"old": 0, "new": 0, "mid-append": 0}
    for k in range(1, len(calls) + 2):
        work = tmp_path / f"k{k}"
        work.mkdir()
        path = work / TARGET
        path.write_bytes(old_bytes)
        rc = run_child(killshim, APPEND, [str(path), dtype, order], at=k)
        assert rc == (-9 if k <= len(calls) else 0), k
        # Calls 1 .. k-1 ran: the begin header iff k > begin, the commit header iff k > commit.
        expect_new = k > commit
        mid = begin < k <= commit
        info = arrfile.info(path)
        assert info["append_in_progress"] == mid, (k, calls[k - 1 : k])
        assert info["append_running"] is False  # the appender is dead
        a = arrfile.open(path)
        assert np.array_equal(a, new if expect_new else base), k
        assert a.dtype == np.dtype(dtype)
        result = arrfile.verify(path)
        assert result.outcome == ("valid" if state == "valid" else "not_verifiable"), (k, result)
        if not mid:  # no recovery needed: the file is already exactly the old or the new one
            assert path.read_bytes() == (new_bytes if expect_new else old_bytes), k
        done = arrfile.recover(path)
        assert done.recovered == mid
        assert path.read_bytes() == (new_bytes if expect_new else old_bytes), k
        assert arrfile.recover(path).recovered is False  # idempotent
        outcomes["new" if expect_new else ("mid-append" if mid else "old")] += 1
        shutil.rmtree(work)
    assert outcomes["mid-append"] >= 6 and outcomes["new"] >= 3 and outcomes["old"] >= 3, outcomes


def interrupted_file(tmp_path: Path, shim: Path) -> tuple[np.ndarray, bytes, bytes, list[str]]:
    """The C case's base, its bytes, and the file of an appender killed right before its
    commit (every row written and durable, bit 0 set); and the append's calls."""
    dtype, order, _ = CASES["c_f32_valid"]
    work = tmp_path / "interrupt"
    work.mkdir()
    base, old_bytes = base_file(work / TARGET, "c_f32_valid")
    calls = logged_calls(shim, tmp_path, APPEND, [str(work / TARGET), dtype, order])
    _, commit = check_protocol_order(calls)
    (work / TARGET).write_bytes(old_bytes)
    assert run_child(shim, APPEND, [str(work / TARGET), dtype, order], at=commit) == -9
    mid_bytes = (work / TARGET).read_bytes()
    assert len(mid_bytes) == len(old_bytes) + 6 * 3 * 4 and arrfile.info(work / TARGET)["append_in_progress"]
    return base, old_bytes, mid_bytes, calls


def test_kill_at_every_call_of_a_recovery(tmp_path: Path, killshim: Path) -> None:
    base, old_bytes, mid_bytes, _ = interrupted_file(tmp_path, killshim)
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / TARGET).write_bytes(mid_bytes)
    calls = logged_calls(killshim, tmp_path, RECOVER, [str(probe / TARGET)])
    assert calls == ["open", "flock", "fcntl(lock)", "ftruncate", "fsync", "pwrite", "fsync",
                     "fcntl(lock)", "flock(unlock)"], calls  # cut, durable; header, durable
    assert (probe / TARGET).read_bytes() == old_bytes
    for k in range(1, len(calls) + 2):
        work = tmp_path / f"r{k}"
        work.mkdir()
        path = work / TARGET
        path.write_bytes(mid_bytes)
        assert run_child(killshim, RECOVER, [str(path)], at=k) == (-9 if k <= len(calls) else 0)
        # Whatever was done: the committed (old) array, valid, and a further recovery finishes.
        assert np.array_equal(arrfile.open(path), base) and arrfile.verify(path).ok
        cut = k > calls.index("ftruncate") + 1
        assert os.path.getsize(path) == (len(old_bytes) if cut else len(mid_bytes))
        arrfile.recover(path)
        assert path.read_bytes() == old_bytes, k
        shutil.rmtree(work)


@pytest.mark.cli
def test_the_rust_reader_agrees_on_killed_appends(tmp_path: Path, killshim: Path, arrfile_bin: Path) -> None:
    """Cross-check with the Rust reader: a file killed mid-append is its committed array there
    too (verify valid, info shows the old shape), and so is the recovered file."""
    base, old_bytes, mid_bytes, _ = interrupted_file(tmp_path, killshim)
    path = tmp_path / "x.arr"
    for data, shape in ((mid_bytes, "4 × 3"), (old_bytes, "4 × 3")):
        path.write_bytes(data)
        verify = subprocess.run([str(arrfile_bin), "verify", str(path)], capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        info = subprocess.run([str(arrfile_bin), "info", str(path)], capture_output=True, text=True)
        assert info.returncode == 0 and f"shape        {shape}" in info.stdout, info.stdout
    path.write_bytes(mid_bytes)
    arrfile.recover(path)
    arrfile.append(path, np.full((2, 3), 5, np.float32))
    verify = subprocess.run([str(arrfile_bin), "verify", str(path)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    info = subprocess.run([str(arrfile_bin), "info", str(path)], capture_output=True, text=True)
    assert "shape        6 × 3" in info.stdout, info.stdout
    export = tmp_path / "x.npy"
    subprocess.run([str(arrfile_bin), "export", "-q", "-o", str(export), str(path)], check=True, capture_output=True)
    assert np.array_equal(np.load(export), np.concatenate([base, np.full((2, 3), 5, np.float32)]))
