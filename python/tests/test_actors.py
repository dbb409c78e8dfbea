"""Actors that meet (spec §8): the Python side of issue 12, one regression test per defect.

Each test here failed on the Python package before issue 12 and passes after it:

* ``arrfile clean`` removed a live Python writer's temporary file (it was never locked);
* ``save`` (or ``finish``) over a file replaced it under an ``r+`` session, orphaning its commit;
* an ``r+`` commit into a file that a lock-ignoring program replaced was not a ``ReplacedError``;
* a forked child released its parent's ``r+`` lock and removed its parent's temporary file;
* ``verify`` reported a checksum mismatch for a file a writer was committing (no lock);
* ``info`` called a header corrupt at once when it caught a commit half-written;
* a reader (mode ``r``) mapped a file an ``r+`` writer was changing (torn values).

And one that torture.py found later: two replacing writers shared their lock on the file they
replaced, so the second could rename over the file the first put there, under an appender or
an ``r+`` session that held it by then.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import arrfile
from conftest import cli_path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(fcntl is None, reason="flock is POSIX")


def run_python(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (this venv), ``args`` as ``sys.argv[1:]``."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True, text=True, timeout=timeout,
    )


#: Exits 3 when an r+ open of argv[1] is refused with LockedError, 0 when it succeeds.
TRY_R_PLUS = """
import sys, arrfile
try:
    a = arrfile.open(sys.argv[1], "r+")
except arrfile.LockedError:
    sys.exit(3)
arrfile.commit(a)
"""


def locked_by_someone(path: Path) -> bool:
    """Whether another open file holds a lock on ``path`` that a shared lock conflicts with."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


# --------------------------------------------------------------------------- defect 1: clean


@pytest.mark.cli
def test_clean_leaves_a_live_python_writers_temporary_file(tmp_path: Path, arrfile_bin: Path) -> None:
    path = tmp_path / "w.arr"
    writer = arrfile.create(path, "u64", (1000,))
    writer.array[...] = 42
    assert Path(writer.temp_path).name.startswith(".w.arr.arrtmp-")
    clean = subprocess.run([str(arrfile_bin), "clean", str(tmp_path)], capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    assert Path(writer.temp_path).exists(), f"clean removed a live writer's file: {clean.stdout}"
    assert writer.finish() == str(path)
    assert arrfile.verify(path).ok and np.all(arrfile.open(path) == 42)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.arr"]


@pytest.mark.cli
def test_clean_during_save_leaves_its_temporary_file(tmp_path: Path) -> None:
    """``save`` streams its input: the cleaner runs while the temporary file is being written."""
    path = tmp_path / "s.arr"
    data = np.arange(4096, dtype=np.uint64)

    class CleansWhileRead:
        shape, dtype = data.shape, data.dtype

        def __getitem__(self, index: object) -> np.ndarray:
            assert any(".s.arr.arrtmp-" in p.name for p in tmp_path.iterdir())
            subprocess.run([str(cli_path()), "clean", str(tmp_path)], check=True, capture_output=True)
            return data[index]

    arrfile.save(path, CleansWhileRead(), slab_bytes=8192)
    assert arrfile.verify(path).ok and np.array_equal(arrfile.open(path), data)


def test_temporary_file_is_locked_until_finished(tmp_path: Path) -> None:
    path = tmp_path / "t.arr"
    writer = arrfile.create(path, "f32", (10,))
    assert locked_by_someone(Path(writer.temp_path))
    assert not any(".arrnew-" in p.name for p in tmp_path.iterdir())
    writer.finish()
    assert not locked_by_someone(path)  # the final file is no longer held by its writer
    other = arrfile.create(tmp_path / "u.arr", "f32", (10,))
    temp = other.temp_path
    other.abort()
    assert not os.path.exists(temp)


# --------------------------------------------------------------------------- defect 2: replacing writers


def test_save_over_an_r_plus_session_is_refused_and_its_commit_lands(tmp_path: Path) -> None:
    path = tmp_path / "r.arr"
    arrfile.save(path, np.zeros(100))
    session = arrfile.open(path, "r+")
    session[...] = 5.0
    with pytest.raises(arrfile.LockedError, match="locked by another process"):
        arrfile.save(path, np.ones(100))
    with pytest.raises(arrfile.LockedError, match="locked by another process"):
        with arrfile.create(path, "f64", (100,)) as writer:
            writer.array[...] = 1.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.arr"]  # no temporary file left
    arrfile.commit(session)
    assert arrfile.verify(path).ok and np.all(arrfile.open(path) == 5.0)


def test_save_over_another_process_r_plus_session(tmp_path: Path) -> None:
    path = tmp_path / "p.arr"
    arrfile.save(path, np.zeros(100))
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, arrfile
            a = arrfile.open(sys.argv[1], "r+")
            a[...] = 7.0
            print("open", flush=True)
            sys.stdin.readline()
            arrfile.commit(a)
        """), str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(arrfile.LockedError):
            arrfile.save(path, np.ones(100))
        # wait=True blocks until the session ends, then replaces the committed file.
        done: list[BaseException | None] = []

        def waiting_save() -> None:
            try:
                arrfile.save(path, np.full(100, 9.0), wait=True)
                done.append(None)
            except BaseException as exc:  # noqa: BLE001
                done.append(exc)

        saver = threading.Thread(target=waiting_save)
        saver.start()
        time.sleep(0.3)
        assert not done, "save(wait=True) did not wait for the r+ session"
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
        saver.join(timeout=30)
        assert done == [None]
    finally:
        if holder.poll() is None:
            holder.kill()
    assert arrfile.verify(path).ok and np.all(arrfile.open(path) == 9.0)


@pytest.mark.parametrize("holder", ["appender", "r+"])
def test_two_replacing_writers_take_turns(tmp_path: Path, holder: str) -> None:
    """A replacing writer's lock on the file it renames over excludes another replacing
    writer's, which waits for the rename and then replaces the file that rename put there.

    Found by torture.py: the two locks were shared, so both writers could check that the path
    named the old file; the second then renamed over the file that the first had put there,
    which an appender or an ``r+`` session held by then ("replaced", rows and edits lost to
    the path, although every actor followed the protocol).
    """
    from arrfile._lock import lock_replaced_file

    path, later = tmp_path / "a.arr", tmp_path / "later.arr"
    arrfile.save(path, np.zeros(8, dtype=np.uint64))
    arrfile.save(later, np.full(8, 9, dtype=np.uint64))
    held = lock_replaced_file(str(path))  # writer 2, between its lock and its rename
    assert held is not None
    done: list[BaseException | None] = []

    def writer_1() -> None:
        try:
            arrfile.save(path, np.ones(8, dtype=np.uint64))
            done.append(None)
        except BaseException as exc:  # noqa: BLE001
            done.append(exc)

    thread = threading.Thread(target=writer_1)
    thread.start()
    time.sleep(0.3)
    assert not done, "the second replacing writer did not wait for the first's rename"
    # Nobody holds the file that is about to be replaced.
    with pytest.raises(arrfile.LockedError):
        arrfile.appender(path) if holder == "appender" else arrfile.open(path, "r+")
    os.replace(later, path)  # writer 2 renames
    os.close(held)
    thread.join(timeout=30)
    assert done == [None]
    assert np.all(arrfile.open(path) == 1)
    # The file writer 1 put there is what an appender or an r+ session now holds and commits.
    if holder == "appender":
        with arrfile.appender(path) as w:
            w.write(np.full(8, 5, dtype=np.uint64))
        assert list(arrfile.open(path)) == [1] * 8 + [5] * 8
    else:
        session = arrfile.open(path, "r+")
        session[...] = 5
        arrfile.commit(session)
        assert np.all(arrfile.open(path) == 5)
    assert arrfile.verify(path).ok


# --------------------------------------------------------------------------- defect 3: r+ and replaced files


def test_commit_into_a_replaced_file_raises_replaced_error(tmp_path: Path) -> None:
    path, other = tmp_path / "x.arr", tmp_path / "other.arr"
    arrfile.save(path, np.zeros(10))
    arrfile.save(other, np.full(10, 3.0))
    session = arrfile.open(path, "r+")
    session[...] = 1.0
    os.rename(other, path)  # a program that ignores locks
    with pytest.raises(arrfile.ReplacedError) as excinfo:
        arrfile.commit(session)
    assert excinfo.value.kind == "replaced"
    assert "replaced at its path" in str(excinfo.value) and "only in the old file" in str(excinfo.value)
    assert arrfile.verify(path).ok and np.all(arrfile.open(path) == 3.0)  # the new file is untouched
    session.close()


def test_r_plus_open_that_waited_opens_the_file_now_at_the_path(tmp_path: Path) -> None:
    """An r+ open that waited for its lock while the file was replaced edits the new file."""
    path, other = tmp_path / "y.arr", tmp_path / "other.arr"
    arrfile.save(path, np.zeros(10))
    arrfile.save(other, np.full(10, 4.0))
    first = arrfile.open(path, "r+")
    opened: list[object] = []
    opener = threading.Thread(target=lambda: opened.append(arrfile.open(path, "r+", wait=True)))
    opener.start()
    time.sleep(0.2)
    assert not opened
    os.rename(other, path)  # replaced while the second open waits for the old file's lock
    first.close()  # releases the old file's lock
    opener.join(timeout=30)
    (second,) = opened
    assert np.all(second == 4.0)  # type: ignore[comparison-overlap]
    second[...] = 6.0  # type: ignore[index]
    arrfile.commit(second)  # type: ignore[arg-type]
    assert arrfile.verify(path).ok and np.all(arrfile.open(path) == 6.0)


# --------------------------------------------------------------------------- defects 5, 6: fork


FORK_R_PLUS = """
import os, subprocess, sys
import numpy as np
import arrfile
path = sys.argv[1]
a = arrfile.open(path, "r+")
a[...] = 11.0
pid = os.fork()
if pid == 0:
    a.close()      # a forked worker closing what it inherited...
    del a
    sys.exit(0)    # ...and exiting normally: finalizers and atexit run
os.waitpid(pid, 0)
other = subprocess.run([sys.executable, "-c", sys.argv[2], path])
print("second opener exit", other.returncode)
arrfile.commit(a)
print("verify", arrfile.verify(path).outcome, float(arrfile.open(path)[0]))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_keeps_its_parents_r_plus_lock(tmp_path: Path) -> None:
    path = tmp_path / "f.arr"
    arrfile.save(path, np.zeros(100))
    run = run_python(FORK_R_PLUS, str(path), TRY_R_PLUS)
    assert run.returncode == 0, run.stderr
    assert "second opener exit 3" in run.stdout, run.stdout  # still locked: refused
    assert "verify valid 11.0" in run.stdout, run.stdout


FORK_CREATE = """
import os, sys
import numpy as np
import arrfile
path = sys.argv[1]
with arrfile.create(path, "f64", (100,)) as w:
    w.array[...] = 12.0
    pid = os.fork()
    if pid == 0:
        sys.exit(0)  # leaves the with block by SystemExit in the child: abort() there
    os.waitpid(pid, 0)
    print("temp exists", os.path.exists(w.temp_path))
    plain = arrfile.create(path + ".2", "f64", (100,))
    plain.array[...] = 13.0
    pid = os.fork()
    if pid == 0:
        del plain
        sys.exit(0)  # the finalizer runs in the child
    os.waitpid(pid, 0)
    plain.finish()
print("verify", arrfile.verify(path).outcome, float(arrfile.open(path)[0]))
print("verify2", arrfile.verify(path + ".2").outcome, float(arrfile.open(path + ".2")[0]))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_leaves_its_parents_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "c.arr"
    run = run_python(FORK_CREATE, str(path))
    assert run.returncode == 0, run.stderr
    assert "temp exists True" in run.stdout, run.stdout
    assert "verify valid 12.0" in run.stdout and "verify2 valid 13.0" in run.stdout, run.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.arr", "c.arr.2"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_cannot_commit_or_finish_its_parents_work(tmp_path: Path) -> None:
    code = """
    import os, sys
    import numpy as np
    import arrfile
    a = arrfile.open(sys.argv[1], "r+")
    w = arrfile.create(sys.argv[2], "f64", (4,))
    pid = os.fork()
    if pid == 0:
        errors = []
        for act in (lambda: arrfile.commit(a), w.finish):
            try:
                act()
            except (arrfile.ArrfileError, RuntimeError) as exc:
                errors.append(type(exc).__name__)
        os._exit(0 if errors == ["ArrfileError", "RuntimeError"] else 1)
    _, status = os.waitpid(pid, 0)
    print("child", os.waitstatus_to_exitcode(status))
    arrfile.commit(a)
    w.finish()
    print("ok", arrfile.verify(sys.argv[1]).ok, arrfile.verify(sys.argv[2]).ok)
    """
    arrfile.save(tmp_path / "a.arr", np.zeros(4))
    run = run_python(code, str(tmp_path / "a.arr"), str(tmp_path / "b.arr"))
    assert run.returncode == 0, run.stderr
    assert "child 0" in run.stdout and "ok True True" in run.stdout, run.stdout


# --------------------------------------------------------------------------- defect 7: verify and info


COMMIT_LOOP = """
import sys, time
import numpy as np
import arrfile
path, seconds = sys.argv[1], float(sys.argv[2])
end = time.monotonic() + seconds
value, commits = 0, 0
while time.monotonic() < end:
    try:
        a = arrfile.open(path, "r+")
    except arrfile.LockedError:
        continue
    value += 1
    a[...] = value
    arrfile.commit(a)
    commits += 1
print("commits", commits)
"""


def test_verify_never_reports_a_false_mismatch_while_a_writer_commits(tmp_path: Path) -> None:
    path = tmp_path / "v.arr"
    arrfile.save(path, np.zeros(1 << 20, np.uint32))  # 4 MiB: a CRC pass takes a while
    writer = subprocess.Popen([sys.executable, "-c", COMMIT_LOOP, str(path), "3"],
                              stdout=subprocess.PIPE, text=True)
    outcomes: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            try:
                outcome = arrfile.verify(path).outcome
            except arrfile.LockedError:
                outcome = "locked"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        out, _ = writer.communicate(timeout=60)
    assert "payload_checksum_mismatch" not in outcomes, outcomes
    assert outcomes.get("valid", 0) > 0, outcomes
    assert int(out.split()[-1]) > 0, out
    assert arrfile.verify(path).ok


def test_info_reads_a_header_again_before_calling_it_corrupt(tmp_path: Path) -> None:
    """A header caught half-written while a writer holds the file is read again (~50 ms)."""
    path = tmp_path / "h.arr"
    arrfile.save(path, np.zeros(10))
    good = path.read_bytes()[:640]
    torn = bytearray(good)
    torn[40] ^= 0xFF  # payload_crc changed without its header_crc: what a torn read sees
    holder = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # a writer holds the file
        os.pwrite(holder, bytes(torn), 0)
        threading.Timer(0.015, lambda: os.pwrite(holder, good, 0)).start()
        assert arrfile.info(path)["checksum_state"] == "valid"
        os.pwrite(holder, bytes(torn), 0)  # really corrupt: reported after the re-reads
        with pytest.raises(arrfile.HeaderChecksumMismatchError):
            arrfile.info(path)
        os.pwrite(holder, good, 0)
    finally:
        os.close(holder)


def test_verify_of_an_r_plus_session_in_progress_is_not_verifiable(tmp_path: Path) -> None:
    path = tmp_path / "n.arr"
    arrfile.save(path, np.zeros(10))
    session = arrfile.open(path, "r+")
    assert arrfile.verify(path).outcome == "not_verifiable"
    arrfile.commit(session)
    assert arrfile.verify(path).ok


# --------------------------------------------------------------------------- readers


def test_reader_holds_a_shared_lock_while_mapped(tmp_path: Path) -> None:
    path = tmp_path / "s.arr"
    arrfile.save(path, np.zeros(10))
    reader = arrfile.open(path)
    assert run_python(TRY_R_PLUS, str(path)).returncode == 3  # no r+ session under a reader
    view = reader[2:5]
    reader.close()  # releases the lock even though the memory stays mapped
    assert run_python(TRY_R_PLUS, str(path)).returncode == 0
    del view
    session = arrfile.open(path, "r+")
    with pytest.raises(arrfile.LockedError):
        arrfile.open(path)  # a reader does not map a file an r+ session is changing
    arrfile.commit(session)
    assert np.all(arrfile.open(path) == 0.0)
