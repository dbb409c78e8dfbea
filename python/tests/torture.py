"""Many actors, nothing lost: every reader, writer, appender, cleaner and fork on one directory at once.

Every actor of the reference tools works on the same few files at the same time, each in a
process of its own, while random ``SIGKILL``s land among them:

- Rust, through ``examples/torture_actor`` (``$ARRFILE_ACTOR``): ``read`` (mode ``r``, values
  and checksum), ``rplus`` (``r+`` sessions that commit), ``wplus`` (``w+``), ``stream``,
  ``append`` (format 1.1: an ``Appender`` writes a few rows in typed or raw writes cut
  anywhere, then commits, rolls back or is dropped), ``recover``;
- the command (``$ARRFILE_BIN``), one process per operation from threads of the orchestrator:
  ``convert --force`` over the files, ``clean``, ``info`` (table or JSON), ``verify``;
  ``append`` (two threads, ``cli-append``: ``arrfile append FILE input... -q`` of its rows
  written to a scratch directory as one raw file, or a ``.npy`` of either byte order, an
  arrfile, two inputs of which one may be empty, raw ones now and then big-endian with
  ``--byte-order big``; now and then ``--wait``; now and then ``SIGKILL``ed or sent
  ``SIGTERM``, after a delay or once it has written some bytes), ``recover`` (``cli-recover``:
  one or both files, now and then ``--wait``, killed or sent ``SIGTERM``);
- Python (this file, run as ``torture.py actor ROLE ...``): ``open`` (``r``), ``r+`` with
  ``commit``, ``create``/``finish``, ``save`` over the files, ``verify``, ``append`` (from a
  generator of batches, which now and then raises: rolled back), ``appender`` (kept open for one
  to three appends, each committed, rolled back, or left to the ``with`` block), ``recover``;
  and ``fork``: a child forked while its parent holds an ``r+`` session, an unfinished
  ``create`` or an appender with rows pending exits normally, then the parent goes on.

Every array is ``u64`` of shape ``(n, 512)``: rows of 4 KiB. A whole-file writer (``w+``,
stream, ``create``, ``save``, ``convert``) writes 8 rows, all equal to a value that names its
operation; an ``r+`` commit fills the whole array, whatever its length, with its value; an
append adds ``k`` (1 to 4) rows of its own value. So a file is a run of one writer's value
followed by one run per committed append. An appender that finds 40 rows committed appends
nothing ("full"), and whole-file writers reset files to 8 rows: files stay small.

Each actor logs the operations it begins and ends (``begin``/``end`` JSON lines; an appender
also ``opened`` once it holds the file and ``commit`` just before it commits; readers log the
values they saw as runs); the orchestrator records its kills, a third of which it aims at
appenders that are mid-append, and the command's operations, their exit codes and output.
The command cannot say "commit" just before its commit: a killed ``arrfile append`` has an
*unknown outcome* (its rows may be in the file or not, but whole, in order, and once seen for
good); one that exited 0 must be in the file (and have said it appended its ``k`` rows, shape
``[n, 512] -> [n + k, 512]``); one that exited 130 after a ``SIGTERM`` (rolled back) or 2
(locked by another process) must not; any other exit is a violation. The appenders that look
at the cap before they hold the file (``pyappend``, ``cli-append``) take a lock of the test's
for it, one per file, so that together they pass the cap by one append at most. It checks,
during the run and at the end:

1. every file at a final path passes the reader checks and verifies when its state is *valid*
   (after the run, with every actor stopped); a file an appender left mid-append reads as its
   committed array, and recovering it changes nothing a reader sees and leaves no tail;
2. every whole-file writer that reported success has its data at the path, unless an
   operation that began after it ended replaced it (no lost update, no orphaned ``r+``
   commit); every append that reported success is in the file, unless it began before the
   write of the file's first run ended;
3. ``clean`` removed no live writer's file: no writer fails because its temporary file went;
4. no exit code outside 0/1/2/130, no Python exception outside the package's error types,
   no "corrupt" verdict (checksum mismatch, failed reader check) on any file: every actor here
   follows the protocol, so any such verdict is false; ``info`` (which takes no lock) always
   exits 0; ``recover`` says of each file "rolled back an interrupted append: cut N ..." or
   "nothing to recover", or that another process holds it;
5. what every reader saw during the run and every final file is a whole-file write's run (8
   rows, or whole rows for an ``r+`` fill) then whole appends (exactly their ``k`` rows) in the
   order they ran, each value in one place, never the rows of an append that was rolled back,
   killed before its ``commit`` line or reported failure: readers mid-append see a committed
   prefix, and a killed or rolled-back append leaves nothing. (A killed ``r+`` fill may stop
   anywhere: in a file *being modified*, the run after it may be cut short.) A reader that saw
   the final file's first run saw a prefix of the final file: no committed row went, not even
   those of an appender killed between its ``commit`` line and its report;
6. an ``info`` that showed an append line (running, or interrupted) or ``append_in_progress``
   was right: an append of that file that may have written (not locked out, not full) had
   begun before info ended, and had not ended before it began or was killed (its rows stay
   until a recovery).

It prints its figures (actors, operations, kills, appends committed, rolled back and killed,
recoveries and the bytes they cut, reads during appends, the command's appends committed,
interrupted, killed (and how many of those committed after all), locked out and rolling a
dead append back first, its recoveries that cut, infos that showed an append, violations;
then the same as JSON) and exits 1 on any violation.

    python python/tests/torture.py run --duration 600 [--seed N]     # the long run

``test_torture.py`` runs it for a bounded time in the test suite, with floors on the work done.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import fcntl
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROW = 512  # elements of a row: 4 KiB of u64
BASE_ROWS = 8  # rows a whole-file writer writes: 32 KiB
LEN = BASE_ROWS * ROW
MAX_APPEND_ROWS = 4  # rows of one append: 1 to this
# An appender that finds this many rows committed (or would pass it) appends nothing ("full"):
# files do not grow without bound; whole-file writers reset them to BASE_ROWS rows.
CAP_ROWS = 40
NAMES = ["a.arr", "b.arr"]
# Exit codes `arrfile --help` promises.
CLI_CODES = {0, 1, 2, 130}
# What each Python role does (pyfork: chosen per operation).
KINDS = {"pyread": "read", "pyverify": "verify", "pyrplus": "inplace", "pycreate": "whole",
         "pysave": "whole", "pyappend": "append", "pyappender": "append", "pyrecover": "recover"}
# Operations whose value may be in a file.
WRITING = ("whole", "inplace", "append")
# Roles of examples/torture_actor; the others are this file's.
RUST_ROLES = ("read", "rplus", "wplus", "stream", "append", "recover")


def now_ns() -> int:
    return time.time_ns()


# --------------------------------------------------------------------------- Python actors


def _say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


class _RollBack(Exception):
    """Raised on purpose inside an append: the package must roll the append back."""


def _classify(exc: BaseException) -> str:
    import arrfile

    name = type(exc).__name__
    if isinstance(exc, _RollBack):
        return "rolledback"
    if isinstance(exc, arrfile.LockedError):
        return "locked"
    if isinstance(exc, arrfile.ArrfileError):
        # Every format error means a reader saw a file no writer should have left.
        text = str(exc)
        if "replaced" in text:
            return "replaced"
        return f"arrfile:{name}"
    return f"exception:{name}"


def _runs(flat: Any) -> list[list[int]]:
    """The values of an array as runs ``[value, elements]``, in payload order."""
    import numpy as np

    if flat.size == 0:
        return []
    starts = np.concatenate(([0], np.flatnonzero(flat[1:] != flat[:-1]) + 1))
    ends = np.concatenate((starts[1:], [flat.size]))
    return [[int(flat[a]), int(b - a)] for a, b in zip(starts, ends)]


def _pieces(total: int, rng: random.Random) -> list[tuple[int, int]]:
    """``[0, total)`` cut into one to four pieces at random places (pieces may be empty)."""
    cuts = sorted([0, total, *(rng.randint(0, total) for _ in range(rng.randint(0, 3)))])
    return list(zip(cuts, cuts[1:]))


def _write_rows(w: Any, value: int, rows: int, rng: random.Random) -> None:
    """``rows`` rows of ``value`` through an appender: arrays of whole rows (or one row of
    shape ``(ROW,)``), or raw bytes cut anywhere (even inside an element), with pauses."""
    import numpy as np

    if rng.random() < 0.5:
        for a, b in _pieces(rows, rng):
            if b - a == 1 and rng.random() < 0.5:
                w.write(np.full(ROW, value, dtype=np.uint64))  # one row
            else:
                w.write(np.full((b - a, ROW), value, dtype=np.uint64))
            time.sleep(rng.random() * 0.003)
    else:
        raw = np.full(rows * ROW, value, dtype="<u8").tobytes()
        for a, b in _pieces(len(raw), rng):
            w.write_bytes(raw[a:b])
            time.sleep(rng.random() * 0.003)


@contextlib.contextmanager
def cap_lock(path: Path) -> Any:
    """Held by the appenders that look at the cap before they hold the file (``pyappend`` and
    the command's) from their look until their append is over: one at a time per file, they
    pass the cap by one append at most, as one would (the others look under the append
    lock, and stop at the cap). A file per array, outside the shared directory; a killed
    holder's lock goes with it."""
    fd = os.open(path.parent.parent / f"cap-{path.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _append_call(path: Path, value: int, rows: int, rng: random.Random) -> tuple[str, str]:
    """One ``arrfile.append`` of ``rows`` rows, from a generator of batches with pauses
    between them; now and then the generator raises, and the append must be rolled back."""
    with cap_lock(path):
        return _append_capped(path, value, rows, rng)


def _append_capped(path: Path, value: int, rows: int, rng: random.Random) -> tuple[str, str]:
    import numpy as np

    import arrfile

    # A soft cap: another appender may grow the file between this look and the append (see
    # cap_lock).
    committed = arrfile.info(path)["shape"][0]
    if committed + rows > CAP_ROWS:
        return "full", f"{committed} rows committed"
    roll_back = rng.random() < 0.1

    def batches() -> Any:
        # First asked for once append holds the file.
        _say(event="opened", pid=os.getpid(), t=now_ns())
        for a, b in _pieces(rows, rng):
            if b - a == 1 and rng.random() < 0.5:
                yield np.full(ROW, value, dtype=np.uint64)  # one row
            else:
                yield np.full((b - a, ROW), value, dtype=np.uint64)
            time.sleep(rng.random() * 0.003)
        if roll_back:
            raise _RollBack()
        time.sleep(rng.random() * 0.008)  # every row written, none committed: a kill leaves them all
        # Asked for the next batch after the last: append commits now.
        _say(event="commit", pid=os.getpid(), t=now_ns())

    shape = arrfile.append(path, batches())
    return "ok", f"committed, {shape[0]} rows"


def _appender_session(role: str, path: Path, rng: random.Random, next_value: Any) -> None:
    """One ``arrfile.appender`` kept open for one to three appends, each an operation of its
    own: committed with ``commit()``, discarded with ``rollback()``, or (the last) left to the
    ``with`` block, which commits on a clean exit and rolls back on an exception."""
    import arrfile

    op: Optional[list[Any]] = None  # [value, t0] of the append under way

    def start() -> tuple[int, int]:
        nonlocal op
        value, rows = next_value(), rng.randint(1, MAX_APPEND_ROWS)
        op = [value, _begin(role, path, value, "append", rows)]
        return value, rows

    def finish(outcome: str, detail: str) -> None:
        nonlocal op
        if op is not None:
            _end(role, path, op[0], op[1], outcome, detail)
            op = None

    value, rows = start()
    try:
        with arrfile.appender(path) as w:
            if w.recovered is not None:
                _say(event="recovered", pid=os.getpid(), cut=w.recovered, t=now_ns())
            rounds = rng.randint(1, 3)
            for r in range(rounds):
                if r:
                    value, rows = start()
                before = w.shape[0]
                if before + rows > CAP_ROWS:
                    finish("full", f"{before} rows committed")
                    break
                _say(event="opened", pid=os.getpid(), t=now_ns())
                _write_rows(w, value, rows, rng)
                if w.rows_pending != rows:
                    finish("error", f"{w.rows_pending} rows pending, not {rows}")
                    break
                time.sleep(rng.random() * 0.008)  # every row written, none committed: a kill leaves them all
                how, last = rng.random(), r == rounds - 1
                if how < 0.1:
                    discarded = w.rollback()
                    finish("rolledback" if discarded == rows else "error", f"rollback() discarded {discarded} rows")
                elif last and how < 0.2:
                    raise _RollBack()  # the with block rolls back
                elif last and how < 0.4:
                    _say(event="commit", pid=os.getpid(), t=now_ns())
                    break  # the with block commits
                else:
                    _say(event="commit", pid=os.getpid(), t=now_ns())
                    shape = w.commit()
                    finish("ok" if shape[0] == before + rows else "error", f"committed, {shape[0]} rows")
        if op is not None:
            finish("ok" if w.shape[0] == before + rows else "error", f"committed on leaving the with block, {w.shape[0]} rows")
    except Exception as exc:  # noqa: BLE001 - classified and reported, not hidden
        finish(_classify(exc), f"{type(exc).__name__}: {exc}")
        if _classify(exc) == "locked":
            time.sleep(0.005 + rng.random() * 0.01)  # leave a dead appender's file to a recoverer now and then


def _begin(role: str, path: Path, value: int, kind: str, rows: int = 0) -> int:
    t0 = now_ns()
    _say(event="begin", actor=role, pid=os.getpid(), path=str(path), value=value, kind=kind, rows=rows, t=t0)
    return t0


def _end(role: str, path: Path, value: int, t0: int, outcome: str, detail: str, **extra: Any) -> None:
    _say(event="end", actor=role, pid=os.getpid(), path=str(path), value=value, t0=t0,
         t=now_ns(), ok=outcome == "ok", outcome=outcome, detail=detail[:300], **extra)


def python_actor(role: str, directory: Path, names: list[str], ident: int, ops: int) -> None:
    import numpy as np

    import arrfile

    rng = random.Random(os.getpid() ^ now_ns())
    counter = 0

    def next_value() -> int:
        nonlocal counter
        counter += 1
        return (ident << 32) | counter

    for _ in range(ops):
        path = directory / rng.choice(names)
        if role == "pyappender":
            _appender_session(role, path, rng, next_value)
            time.sleep(rng.random() * 0.002)
            continue
        variant = rng.choice(["rplus", "create", "append"]) if role == "pyfork" else ""
        kind = {"rplus": "inplace", "create": "whole", "append": "append"}[variant] if variant else KINDS.get(role, "")
        value = next_value() if kind in WRITING else 0
        rows = rng.randint(1, MAX_APPEND_ROWS) if kind == "append" else 0
        t0 = _begin(role, path, value, kind, rows)
        outcome, detail, extra = "ok", "", {}
        try:
            if role == "pyread":
                with arrfile.open(path) as a:
                    if a.ndim != 2 or a.shape[1] != ROW:
                        outcome, detail = "error", f"shape {a.shape}"
                    extra["runs"] = _runs(np.asarray(a).reshape(-1))
                result = arrfile.verify(path)
                detail = detail or result.outcome
                if result.outcome == "payload_checksum_mismatch":
                    outcome, detail = "mismatch", str(result)
            elif role == "pyverify":
                result = arrfile.verify(path)
                detail = result.outcome
                if result.outcome == "payload_checksum_mismatch":
                    outcome = "mismatch"
            elif role == "pyrplus":
                a = arrfile.open(path, "r+")
                a[...] = value
                time.sleep(rng.random() * 0.003)
                arrfile.commit(a)
                del a
            elif role == "pycreate":
                with arrfile.create(path, "u64", (BASE_ROWS, ROW)) as w:
                    w.array[...] = value
            elif role == "pysave":
                arrfile.save(path, np.full((BASE_ROWS, ROW), value, dtype=np.uint64))
            elif role == "pyappend":
                outcome, detail = _append_call(path, value, rows, rng)
            elif role == "pyrecover":
                recovery = arrfile.recover(path)
                extra["cut"] = recovery.cut_bytes if recovery.recovered else -1
                detail = f"rolled back, {recovery.cut_bytes} bytes cut" if recovery.recovered else "nothing to do"
            elif role == "pyfork":
                # A child forked while this process holds work in progress exits normally (its
                # finalizers run); the parent's locks, temporary file and rows must survive it.
                if variant == "rplus":
                    a = arrfile.open(path, "r+")
                    a[...] = value
                    _fork_and_exit_child()
                    arrfile.commit(a)
                    del a
                elif variant == "create":
                    w = arrfile.create(path, "u64", (BASE_ROWS, ROW))
                    w.array[...] = value
                    _fork_and_exit_child()
                    w.finish()
                else:
                    with arrfile.appender(path) as w:
                        if w.shape[0] + rows > CAP_ROWS:
                            outcome, detail = "full", f"{w.shape[0]} rows committed"
                        else:
                            _say(event="opened", pid=os.getpid(), t=now_ns())
                            w.write(np.full((rows, ROW), value, dtype=np.uint64))
                            _fork_and_exit_child()
                            _say(event="commit", pid=os.getpid(), t=now_ns())
                            w.commit()
            else:
                raise SystemExit(f"unknown role {role}")
        except Exception as exc:  # noqa: BLE001 - classified and reported, not hidden
            outcome, detail = _classify(exc), f"{type(exc).__name__}: {exc}"
        _end(role, path, value, t0, outcome, detail, **extra)
        time.sleep(rng.random() * 0.002)
        if kind == "append" and outcome == "locked":
            time.sleep(0.005 + rng.random() * 0.01)  # leave a dead appender's file to a recoverer now and then


def _fork_and_exit_child() -> None:
    pid = os.fork()
    if pid == 0:
        # A normal exit: atexit handlers and finalizers run, as in any forked worker.
        sys.exit(0)
    os.waitpid(pid, 0)


# --------------------------------------------------------------------------- orchestrator


@dataclass
class Op:
    actor: str
    pid: int
    path: str
    value: int
    t0: int
    kind: str = ""  # read, verify, whole, inplace, append, recover; "" for the command's others
    rows: int = 0  # an append's rows
    t1: Optional[int] = None
    ok: Optional[bool] = None
    outcome: str = ""
    detail: str = ""
    killed: bool = False
    opened: bool = False  # an appender that holds the file and writes
    committing: bool = False  # an appender past its "commit" line: its rows may be in the file
    runs: Optional[list[list[int]]] = None  # what a reader saw: [value, elements] runs
    state: Optional[str] = None  # the checksum state of the array a reader saw (Rust readers)
    cut: Optional[int] = None  # a recovery: bytes cut (-1: nothing to do); a Python or CLI appender's at open
    # The command's append, killed: it cannot say when it commits, so its rows may be in the
    # file or not (but whole, in order, and once seen, for good).
    unknown: bool = False
    shown: Optional[str] = None  # `arrfile info`: the append line it showed ("running", "interrupted")


# The file `arrfile create` makes before the actors start: zeros, whole rows, at time 0.
INITIAL = Op("initial", 0, "", 0, 0, kind="whole", t1=0, ok=True, outcome="ok")


@dataclass
class Run:
    directory: Path
    inputs: Path
    binary: str
    actor: str
    python: str
    rng: random.Random
    deadline: float
    ops: list[Op] = field(default_factory=list)
    open_ops: dict[int, Op] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    kills: int = 0
    actors_started: int = 0
    next_id: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: dict[str, int] = field(default_factory=dict)
    writers: dict[int, Op] = field(default_factory=dict)  # by value, for the final judgement
    final_recoveries: int = 0
    final_values: set[int] = field(default_factory=set)  # the values in the final files
    cli_queued: int = 0  # pairs of the command's appends, the second queued behind the first

    def violation(self, text: str) -> None:
        with self.lock:
            self.violations.append(text)

    def new_id(self) -> int:
        with self.lock:
            self.next_id += 1
            return self.next_id

    def record(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return  # a line cut by a kill
        with self.lock:
            kind = event.get("event")
            if kind == "begin":
                op = Op(event["actor"], event["pid"], event["path"], event["value"], event["t"],
                        kind=event.get("kind", ""), rows=event.get("rows", 0))
                self.open_ops[event["pid"]] = op
                self.ops.append(op)
            elif kind == "recovered":
                op = self.open_ops.get(event["pid"])
                if op is not None:
                    op.cut = event["cut"]
            elif kind in ("opened", "commit"):
                op = self.open_ops.get(event["pid"])
                if op is not None:
                    op.opened = True
                    op.committing = op.committing or kind == "commit"
            elif kind == "end":
                op = self.open_ops.pop(event["pid"], None)
                if op is None:
                    return
                op.t1, op.ok, op.outcome, op.detail = event["t"], event["ok"], event["outcome"], event["detail"]
                op.runs, op.state, op.cut = event.get("runs"), event.get("state"), event.get("cut", op.cut)
                self.counts[op.actor] = self.counts.get(op.actor, 0) + 1
                self.judge(op)

    def judge(self, op: Op) -> None:
        """Violations an operation shows by itself (called with the lock held)."""
        # "replaced": a commit into a file that a cooperating replacing writer renamed over
        # (every writer here follows the protocol, so none may).
        bad = {"corrupt", "mismatch", "torn", "missing", "error", "replaced"}
        if op.outcome in bad or op.outcome.startswith(("exception:", "arrfile:")):
            self.violations.append(f"{op.actor} (pid {op.pid}) on {Path(op.path).name}: {op.outcome}: {op.detail}")

    def killed(self, pid: int, when: int) -> None:
        with self.lock:
            op = self.open_ops.pop(pid, None)
            if op is not None:
                op.t1, op.killed = when, True

    def layout_problem(self, name: str, runs: list[list[int]], state: Optional[str]) -> tuple[Optional[str], Optional[Op]]:
        """What is wrong with content seen in file ``name`` (``None``: nothing), and the
        operation that wrote its first run (the *base*).

        A file is a run of one whole-file writer's value (``BASE_ROWS`` rows; an ``r+`` commit
        fills the whole array, of any length, with its value), then one run per committed
        append, exactly its rows, in the order of the appends. No value is in two places; no
        value is an append's that was rolled back, killed before its commit or that reported
        failure (the command's append, killed, may have committed or not: its outcome is
        unknown, and its rows may be there, as a whole). A killed ``r+`` writer's fill may stop anywhere (checksum state *being
        modified*, or unknown): after its run, the first run of the array it was filling may
        be cut short.
        """
        total = sum(n for _, n in runs)
        if total % ROW or total < LEN:
            return f"{total} elements, not whole rows of {ROW} (at least {BASE_ROWS})", None
        if total // ROW > CAP_ROWS + MAX_APPEND_ROWS:
            return f"{total // ROW} rows: appends went past the cap of {CAP_ROWS}", None
        values = [v for v, _ in runs]
        if len(set(values)) != len(values):
            again = next(v for v in values if values.count(v) > 1)
            return f"value {again:#x} in two places (a torn or repeated write)", None
        ops = []
        for v, _ in runs:
            op = INITIAL if v == 0 else self.writers.get(v)
            if op is None or (op is not INITIAL and Path(op.path).name != name):
                return f"holds {v:#x}, which no writer of {name} wrote", None
            if op.ok is False and not op.killed and op.kind != "append":
                return f"holds the data of {op.actor} (pid {op.pid}, value {v:#x}), which reported {op.outcome}: {op.detail}", None
            ops.append(op)
        base = ops[0]
        n0 = runs[0][1]
        partial = base.kind == "inplace" and base.killed and state in ("being_modified", None)
        if base.kind == "whole" and n0 != LEN:
            return f"begins with {n0} elements of {base.actor}'s value {base.value:#x}, not {LEN}", base
        if base.kind == "inplace" and not partial and n0 % ROW:
            return f"begins with {n0} elements of {base.actor}'s value {base.value:#x}: not whole rows", base
        if base.kind not in ("whole", "inplace"):
            return f"begins with the value {base.value:#x} of {base.actor}, a {base.kind}", base
        at = n0
        for i in range(1, len(runs)):
            op, n = ops[i], runs[i][1]
            cut_short = partial and i == 1
            full = {"whole": LEN, "append": op.rows * ROW}.get(op.kind)
            if cut_short:
                # The rest of what the killed r+ writer was filling: the tail of a base or of
                # an append, ending on a row.
                if (at + n) % ROW or (full is not None and n > full):
                    return f"after a killed r+ fill, {n} elements of {op.actor}'s value {op.value:#x} (at most {full}, ending on a row)", base
            elif op.kind != "append":
                return f"run {i} holds the value {op.value:#x} of {op.actor}, a {op.kind}, not an append", base
            elif n != full:
                return f"{n // ROW} rows ({n} elements) of {op.actor}'s append {op.value:#x} of {op.rows} rows: a torn append", base
            if op.kind == "append":
                if op.outcome == "rolledback":
                    return f"holds the rows of {op.actor}'s append {op.value:#x}, which was rolled back ({op.detail})", base
                if op.ok is False and not op.killed:
                    return f"holds the rows of {op.actor}'s append {op.value:#x}, which reported {op.outcome}: {op.detail}", base
                if op.killed and not (op.committing or op.unknown):
                    return f"holds the rows of {op.actor}'s append {op.value:#x}, killed before its commit", base
                prev = ops[i - 1]
                if not cut_short and prev.t0 >= (op.t1 or now_ns()):
                    return f"{op.actor}'s append {op.value:#x} ended before {prev.actor}'s {prev.value:#x}, which precedes it in the file, began", base
            at += n
        return None, base


class Actor:
    """A long-running actor process whose JSON lines feed the run."""

    def __init__(self, run: Run, role: str) -> None:
        self.run, self.role = run, role
        ident = run.new_id()
        names = [str(n) for n in NAMES]
        if role in RUST_ROLES:
            cmd = [run.actor, role, str(run.directory), *names, "--id", str(ident)]
        else:
            cmd = [run.python, __file__, "actor", role, str(run.directory), *names, "--id", str(ident)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        run.actors_started += 1
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.run.record(line)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        when = now_ns()
        # The lines it printed before it died (an appender's "commit") count: read them first.
        # Forked children of a killed Python actor are its own business; none outlive it long.
        self.reader.join(timeout=5)
        self.run.killed(self.proc.pid, when)

    def check_exit(self) -> None:
        code = self.proc.poll()
        if code is not None and code != -signal.SIGKILL:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.run.violation(f"actor {self.role} exited by itself with {code}: {err[-500:]}")


def cli_loop(run: Run, what: str) -> None:
    """The command's actors, one process per operation, from a thread of the orchestrator."""
    counter = 0
    ident = run.new_id()
    while time.monotonic() < run.deadline:
        name = run.rng.choice(NAMES)
        path = run.directory / name
        if what == "convert":
            counter += 1
            value = (ident << 32) | counter
            source = run.inputs / f"in-{value}.dat"
            source.write_bytes(value.to_bytes(8, "little") * LEN)
            cmd = [run.binary, "convert", str(source), "--dtype", "u64", "--shape", f"{BASE_ROWS},{ROW}",
                   "-o", str(path), "--force", "--quiet"]
        elif what == "clean":
            value, cmd = 0, [run.binary, "clean", str(run.directory)]
        elif what == "info":
            as_json = run.rng.random() < 0.5
            value, cmd = 0, [run.binary, "info", str(path), *(["--json"] if as_json else [])]
        else:
            value, cmd = 0, [run.binary, "verify", str(path), "--quiet"]
        t0 = now_ns()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        op = Op(f"cli-{what}", proc.pid, str(path), value, t0, kind="whole" if what == "convert" else "")
        with run.lock:
            run.ops.append(op)
            run.open_ops[proc.pid] = op
        # Now and then a conversion is killed mid-way.
        kill_after = run.rng.random() * 0.02 if what == "convert" and run.rng.random() < 0.15 else None
        try:
            out, err = proc.communicate(timeout=kill_after if kill_after is not None else 30)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate()
            run.kills += 1
        code = proc.returncode
        with run.lock:
            run.open_ops.pop(proc.pid, None)
            op.t1 = now_ns()
            run.counts[op.actor] = run.counts.get(op.actor, 0) + 1
        if code == -signal.SIGKILL:
            op.killed = True
            continue
        op.ok = code == 0
        op.outcome, op.detail = ("ok" if code == 0 else f"exit {code}"), err.strip()[:300]
        if code not in CLI_CODES:
            run.violation(f"{what}: exit code {code} outside {sorted(CLI_CODES)}: {err.strip()[:300]}")
        elif what == "convert" and code != 0 and "locked by another process" not in err:
            run.violation(f"convert --force failed: {err.strip()[:300]}")
        elif what == "info" and code != 0:
            # It takes no lock and reads a header that writers may be changing: it reads again.
            run.violation(f"info {name} failed (exit {code}): {err.strip()[:300]}")
        elif what == "verify" and code == 1 and "cannot verify" not in err:
            run.violation(f"{what} called {name} corrupt: {err.strip()[:300]}")
        elif what in ("verify", "clean") and code == 2 and "locked by another process" not in err:
            run.violation(f"{what} failed: {err.strip()[:300]}")
        elif what == "convert":
            source.unlink()
        elif what == "info":
            problem = _info_append_line(op, out, as_json)
            if problem:
                run.violation(f"info {name}: {problem}: {out.strip()[-600:]}")
        time.sleep(run.rng.random() * 0.01)


def _info_append_line(op: Op, out: str, as_json: bool) -> Optional[str]:
    """Sets ``op.shown`` from what ``arrfile info`` printed of an append (its table's
    ``append`` line, or the JSON's ``append_in_progress``/``append_running``); what is wrong
    with it, if anything. Whether the file was mid-append then is judged at the end."""
    if as_json:
        try:
            fields = json.loads(out)
            in_progress, running, tail = fields["append_in_progress"], fields["append_running"], fields["uncommitted_bytes"]
        except (ValueError, KeyError, TypeError) as exc:
            return f"not the JSON of info: {exc!r}"
        if not in_progress and tail:
            return f"{tail} uncommitted bytes, but no append in progress"
        op.shown = ("running" if running else "interrupted") if in_progress else None
        return None
    lines = [x for x in out.splitlines() if x.startswith("append ")]
    if not lines:
        return None
    text = lines[0].split(None, 1)[1]
    if text == "running (another process holds the append lock)":
        op.shown = "running"
    elif re.fullmatch(r"interrupted: \d+ uncommitted bytes after the committed array; run `arrfile recover .*`", text):
        op.shown = "interrupted"
    else:
        return f"an append line of neither kind: {text!r}"
    return None


def _wchar(pid: int) -> int:
    """The bytes process ``pid`` has written so far (-1: gone)."""
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("wchar:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


def _signal_later(proc: subprocess.Popen[str], sig: int, delay: float, written: Optional[int] = None) -> Optional[int]:
    """Sends ``sig`` to ``proc`` after ``delay`` seconds or, if ``written`` is given, once it has
    written more than that many bytes (an append: its header, then its rows; with ``-q`` it
    writes nothing else before it ends). ``sig``, or ``None`` if it ended first."""
    give_up = time.monotonic() + (delay if written is None else 10.0)
    while proc.poll() is None:
        if time.monotonic() >= give_up or (written is not None and _wchar(proc.pid) > written):
            proc.send_signal(sig)  # not reaped yet: the pid is still its own
            return sig
        time.sleep(0.0003)
    return None


def _cli_inputs(scratch: Path, value: int, rows: int, rng: random.Random) -> tuple[list[Path], list[str]]:
    """``rows`` rows of ``value`` as the command's inputs, and the flags they need: mostly one
    raw file; now and then a ``.npy`` (either byte order) or an arrfile, or two inputs (one may
    be empty); raw ones now and then big-endian (``--byte-order big``)."""
    import numpy as np

    import arrfile

    split = rng.randint(0, rows) if rng.random() < 0.3 else None
    pieces = [rows] if split is None else [split, rows - split]
    big = rng.random() < 0.15
    paths, flags = [], []
    for i, n in enumerate(pieces):
        kind = rng.choices(["raw", "npy", "arr"], [0.65, 0.25, 0.1])[0] if n else "raw"
        data = np.full((n, ROW), value, dtype=np.uint64)
        path = scratch / f"in{i}.{'dat' if kind == 'raw' else kind}"
        if kind == "raw":
            path.write_bytes(data.astype(">u8" if big else "<u8").tobytes())
            flags = ["--byte-order", "big"] if big else []
        elif kind == "npy":
            np.save(path, data.astype(">u8" if rng.random() < 0.3 else "<u8"))
        else:
            arrfile.save(path, data)
        paths.append(path)
    return paths, flags


# The command's append (exit 130) and recover (exit 130 while it waits for a lock) when a
# signal stops them.
APPEND_INTERRUPTED = "is unchanged: nothing was appended"
RECOVER_INTERRUPTED = "interrupted; nothing was written to"


def cli_append_loop(run: Run) -> None:
    """The command's appender (``cli-append``): ``arrfile append FILE input... -q`` of ``k`` rows
    of its value from a scratch directory of its own, one process per operation.

    The command cannot say "commit" just before its commit: killed (``SIGKILL``, now and then,
    mostly once it has begun to write), its outcome is unknown. Exit 0: its rows must be in
    the file; exit 130 after the ``SIGTERM`` it is sent now and then, or exit 2 (locked):
    they must not. Any other exit is a violation.

    Now and then two appends are *queued*: the first is stopped (``SIGSTOP``) once it has
    written its header or its rows too, a second one with ``--wait`` starts and, once it waits
    for the lock, the first is killed: the second finds the dead append's header and rows
    (unless an appender or a recoverer that did not wait rolls them back first, or the first
    had committed) and rolls them back first.
    """
    ident = run.new_id()
    scratch = run.inputs / f"cliappend-{ident}"
    counter = 0
    while time.monotonic() < run.deadline:
        path = run.directory / run.rng.choice(NAMES)
        first = run.rng.randint(1, MAX_APPEND_ROWS)
        queued = run.rng.random() < 0.1 and first < MAX_APPEND_ROWS
        # Queued: both appends' rows together are an append's at most (see cap_lock).
        sizes = [first, run.rng.randint(1, MAX_APPEND_ROWS - first)] if queued else [first]
        jobs = []
        for j, rows in enumerate(sizes):
            counter += 1
            (scratch / str(j)).mkdir(parents=True, exist_ok=True)
            jobs.append(((ident << 32) | counter, rows, *_cli_inputs(scratch / str(j), (ident << 32) | counter, rows, run.rng)))
        try:
            if queued:
                _cli_append_queued(run, path, jobs)
            else:
                _cli_append_once(run, path, *jobs[0])
        finally:
            for job in jobs:
                for p in job[2]:
                    p.unlink(missing_ok=True)
        time.sleep(run.rng.random() * 0.005)


def _cli_append_look(run: Run, path: Path, jobs: list[tuple[int, int, list[Path], list[str]]]) -> bool:
    """Whether the file has room for the jobs' rows (``pyappend``'s soft cap; the caller holds
    the cap lock); if not, each is an operation that found the file full."""
    import arrfile

    t0 = now_ns()
    try:
        committed = arrfile.info(path)["shape"][0]
    except Exception as exc:  # noqa: BLE001 - a reader check failed: reported
        run.violation(f"cli-append: arrfile.info({path.name}) failed: {type(exc).__name__}: {exc}")
        return False
    if committed + sum(rows for _, rows, _, _ in jobs) <= CAP_ROWS:
        return True
    with run.lock:
        for value, rows, _, _ in jobs:
            run.ops.append(Op("cli-append", 0, str(path), value, t0, kind="append", rows=rows, t1=now_ns(), ok=False,
                              outcome="full", detail=f"{committed} rows committed"))
            run.counts["cli-append"] = run.counts.get("cli-append", 0) + 1
    return False


def _cli_append_start(run: Run, path: Path, value: int, rows: int, inputs: list[Path], flags: list[str]) -> tuple[subprocess.Popen[str], Op]:
    t0 = now_ns()
    cmd = [run.binary, "append", str(path), *map(str, inputs), "-q", *flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    op = Op("cli-append", proc.pid, str(path), value, t0, kind="append", rows=rows, detail=" ".join(cmd[1:]))
    with run.lock:
        run.ops.append(op)
    return proc, op


def _cli_append_once(run: Run, path: Path, value: int, rows: int, inputs: list[Path], flags: list[str]) -> None:
    """One ``arrfile append``, now and then with ``--wait``, killed or sent ``SIGTERM``."""
    rng = run.rng
    if rng.random() < 0.2:
        flags.append("--wait")
    how = rng.random()
    sig = signal.SIGKILL if how < 0.15 else signal.SIGTERM if how < 0.27 else None
    delay = rng.random() * 0.04
    written = rng.randrange((rows + 1) * 4096) if rng.random() < 0.6 else None
    with cap_lock(path):
        if not _cli_append_look(run, path, [(value, rows, inputs, flags)]):
            return
        proc, op = _cli_append_start(run, path, value, rows, inputs, flags)
        sent = _signal_later(proc, sig, delay, written) if sig is not None else None
        _cli_append_end(run, proc, op, sent, len(inputs))


def _cli_append_queued(run: Run, path: Path, jobs: list[tuple[int, int, list[Path], list[str]]]) -> None:
    """Two appends: the second (``--wait``) queued behind the first, which is killed."""
    with cap_lock(path):
        if not _cli_append_look(run, path, jobs):
            return
        (v1, rows1, inputs1, flags1), (v2, rows2, inputs2, flags2) = jobs
        first, op1 = _cli_append_start(run, path, v1, rows1, inputs1, flags1)
        # Stopped once it has written its header (the flag), or its rows too (640 bytes of
        # header, then the rows at once): it holds the file while the second starts.
        written = run.rng.choice([0, 640])
        give_up = time.monotonic() + 10
        while first.poll() is None and _wchar(first.pid) <= written and time.monotonic() < give_up:
            time.sleep(0.0003)
        if first.poll() is None:
            first.send_signal(signal.SIGSTOP)  # not reaped yet: the pid is still its own
        second, op2 = _cli_append_start(run, path, v2, rows2, inputs2, [*flags2, "--wait"])
        # Waiting: its thread that takes the lock (beside the main one and the signal handler's).
        while first.poll() is None and second.poll() is None and time.monotonic() < give_up:
            try:
                if len(os.listdir(f"/proc/{second.pid}/task")) >= 3:
                    break
            except OSError:
                break
            time.sleep(0.0003)
        sent = None
        if first.poll() is None:
            first.send_signal(signal.SIGKILL)  # not reaped yet: the pid is still its own
            sent = signal.SIGKILL
        _cli_append_end(run, first, op1, sent, len(inputs1))
        _cli_append_end(run, second, op2, None, len(inputs2))
        with run.lock:
            run.cli_queued += 1


def _cli_append_end(run: Run, proc: subprocess.Popen[str], op: Op, sent: Optional[int], files: int) -> None:
    """Waits for the command's append and judges its exit and what it said."""
    command = op.detail
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        run.violation(f"cli-append: {command} still running after 60 s")
    code, err = proc.returncode, err.strip()
    with run.lock:
        op.t1 = now_ns()
        run.counts[op.actor] = run.counts.get(op.actor, 0) + 1
        if sent is not None:
            run.kills += 1
    op.ok, op.detail = code == 0, (out.strip() + " " + err)[:300]
    if code == -signal.SIGKILL and sent == signal.SIGKILL:
        op.killed = op.unknown = True
        op.ok = None
    elif code == 0:
        op.outcome = "ok"
        done = re.search(r"appended (\d+) rows from (\d+) file\(s\): shape \[(\d+), 512\] -> \[(\d+), 512\]", out)
        if not done or (int(done[1]), int(done[2]), int(done[4])) != (op.rows, files, int(done[3]) + op.rows):
            run.violation(f"cli-append: {command}: said {out.strip()[:300]}")
        first = re.search(r"rolled back an interrupted append first: cut (\d+) uncommitted bytes", out)
        op.cut = int(first[1]) if first else None
    elif sent == signal.SIGTERM and (code == -signal.SIGTERM or (code == 130 and err.endswith(APPEND_INTERRUPTED))):
        op.outcome = "interrupted"  # before the handler was set (nothing written yet), or rolled back
    elif code == 2 and "locked by another process" in err:
        op.outcome = "locked"
    else:
        op.outcome = f"exit {code}"
        run.violation(f"cli-append: {command}: exit {code} (signal sent: {sent}): {err[:300]}")


def cli_recover_loop(run: Run) -> None:
    """The command's recoverer (``cli-recover``): ``arrfile recover FILE...`` (mostly one file,
    now and then both; now and then ``--wait``, killed or sent ``SIGTERM``). Each file must get
    its "rolled back ... cut N" or "nothing to recover" line, or be locked by another process."""
    while time.monotonic() < run.deadline:
        rng = run.rng
        paths = [run.directory / rng.choice(NAMES)] if rng.random() < 0.8 else [run.directory / n for n in NAMES]
        wait = rng.random() < 0.2
        how = rng.random()
        sig = signal.SIGKILL if how < 0.05 else signal.SIGTERM if how < 0.1 else None
        cmd = [run.binary, "recover", *map(str, paths), *(["--wait"] if wait else [])]
        t0 = now_ns()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ops = [Op("cli-recover", proc.pid, str(p), 0, t0, kind="recover") for p in paths]
        with run.lock:
            run.ops.extend(ops)
        sent = _signal_later(proc, sig, rng.random() * 0.03) if sig is not None else None
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            run.violation(f"cli-recover: {' '.join(cmd[1:])} still running after 60 s")
        code = proc.returncode
        with run.lock:
            for op in ops:
                op.t1 = now_ns()
                run.counts[op.actor] = run.counts.get(op.actor, 0) + 1
            if sent is not None:
                run.kills += 1
        if code == -signal.SIGKILL and sent == signal.SIGKILL:
            for op in ops:
                op.killed = True
            continue
        stopped = sent == signal.SIGTERM and (code == -signal.SIGTERM or (code == 130 and RECOVER_INTERRUPTED in err))
        worst = 0
        for op, p in zip(ops, paths):
            done = re.search(rf"^{re.escape(str(p))}: (?:rolled back an interrupted append: cut (\d+) uncommitted bytes; "
                             rf"{re.escape(str(p))} is its committed array again|(nothing to recover))$", out, re.M)
            if done:
                op.ok, op.outcome, op.cut = True, "ok", -1 if done[2] else int(done[1])
                op.detail = done[0]
            elif f"error: {p}: locked by another process" in err:
                op.ok, op.outcome, op.detail, worst = False, "locked", err[:300], 2
            elif stopped:
                op.ok, op.outcome = False, "interrupted"
            else:
                op.ok, op.outcome = False, f"exit {code}"
                run.violation(f"cli-recover: {' '.join(cmd[1:])}: exit {code}, nothing said of {p.name} "
                              f"(signal sent: {sent}): {out.strip()[:200]} {err.strip()[:200]}")
        if not stopped and code != worst:
            run.violation(f"cli-recover: {' '.join(cmd[1:])}: exit {code}, not {worst}: {out.strip()[:200]} {err.strip()[:200]}")
        time.sleep(run.rng.random() * 0.01)


def info_problems(run: Run) -> None:
    """An ``arrfile info`` that showed an append line: an append of that file (one that may have
    written: not locked out, not full) began before info ended and was killed (its rows stay
    until a recovery) or had not ended when info began."""
    appends = [op for op in run.ops if op.kind == "append" and op.outcome not in ("locked", "full")]
    for op in run.ops:
        if op.shown is None:
            continue
        name = Path(op.path).name
        if not any(Path(a.path).name == name and a.t0 <= (op.t1 or 0) and (a.killed or a.t1 is None or a.t1 >= op.t0)
                   for a in appends):
            run.violation(f"info showed {name} with an append {op.shown}, but no append of it was running or killed then")


def guarded(run: Run, loop: Any) -> None:
    """Runs one of the command's loops; an exception in it (the orchestrator's own) is a
    violation, not a thread that silently stops."""
    try:
        loop(run)
    except Exception as exc:  # noqa: BLE001
        import traceback

        run.violation(f"{loop.__name__} failed: {type(exc).__name__}: {exc}: {traceback.format_exc()[-800:]}")


def final_checks(run: Run) -> dict[str, str]:
    """Checks 1, 2 and 5 on the files as the actors left them, and 5 on what every reader saw."""
    import numpy as np

    import arrfile

    run.writers = {op.value: op for op in run.ops if op.kind in WRITING and op.value != 0}
    seen: dict[str, str] = {}
    final: dict[str, list[list[int]]] = {}
    for name in NAMES:
        path = run.directory / name
        if not path.exists():
            run.violation(f"{name}: nothing at the final path after the run")
            continue
        try:
            info = arrfile.info(path)
            with arrfile.open(path) as m:
                a = np.array(m)
        except Exception as exc:  # noqa: BLE001
            run.violation(f"{name}: fails the reader checks after the run: {exc}")
            continue
        recovered = ""
        if info["append_in_progress"]:
            # A killed appender's: readers read the committed array; recovery cuts the rest and
            # leaves the file as it was before that append, which readers cannot tell apart.
            run.final_recoveries += 1
            try:
                recovery = arrfile.recover(path)
                after = arrfile.info(path)
                with arrfile.open(path) as m:
                    b = np.array(m)
            except Exception as exc:  # noqa: BLE001
                run.violation(f"{name}: left mid-append; recovery or the reader checks after it fail: {exc}")
                continue
            size = path.stat().st_size
            if (not recovery.recovered or after["append_in_progress"] or size != after["data_offset"] + after["data_len"]
                    or not np.array_equal(a, b) or (after["checksum_state"], after["payload_crc"]) != (info["checksum_state"], info["payload_crc"])):
                run.violation(f"{name}: recovery of the append left in progress changed what readers saw or left a tail: "
                              f"{recovery}, {size} bytes, header {after}")
            recovered = f", recovered ({recovery.cut_bytes} bytes cut)"
            info = after
        runs = final[name] = _runs(a.reshape(-1))
        run.final_values.update(v for v, _ in runs)
        state = info["checksum_state"]
        problem, base = run.layout_problem(name, runs, state)
        if problem:
            run.violation(f"{name}: after the run: {problem}")
        result = arrfile.verify(path)
        if result.outcome == "payload_checksum_mismatch" or state == "absent":
            run.violation(f"{name}: {result.outcome}, state {state} after the run")
        seen[name] = (f"{a.shape[0]} rows in {len(runs)} runs (base {runs[0][0]:#x}), state {state}, "
                      f"{result.outcome}{recovered}")
        if base is None:
            continue
        mine = [op for op in run.ops if Path(op.path).name == name]
        writes = [op for op in mine if op.kind in ("whole", "inplace")]
        succeeded = [op for op in writes if op.ok]
        if state == "being_modified":
            # Only an r+ session killed mid-edit may leave this (appends keep it), and only if
            # no whole-file write that succeeded began after it.
            killed_rplus = [op for op in writes if op.killed and op.kind == "inplace"]
            if not any(all(s.t0 <= (k.t1 or 0) for s in succeeded) for k in killed_rplus):
                run.violation(f"{name}: left being modified, but no r+ writer was killed last")
        end = base.t1 or now_ns()
        lost = [op for op in succeeded if op.t0 > end]
        if lost:
            run.violation(f"{name}: {len(lost)} successful write(s) began after {base.actor}'s ended and are lost, e.g. {lost[0].actor} value {lost[0].value:#x}")
        present = {v for v, _ in runs}
        lost_appends = [op for op in mine if op.kind == "append" and op.ok and op.t0 > end and op.value not in present]
        if lost_appends:
            op = lost_appends[0]
            run.violation(f"{name}: {len(lost_appends)} committed append(s) began after {base.actor}'s write {base.value:#x} ended and are lost, e.g. {op.actor} value {op.value:#x} ({op.detail})")
    # What every reader saw during the run, judged against the whole log; and a reader that saw
    # the final file's first run saw a prefix of it: committed rows never go (not even those of
    # an appender killed after its "commit" line, whose success nobody reported).
    for op in run.ops:
        if op.runs is not None:
            name = Path(op.path).name
            problem, _ = run.layout_problem(name, op.runs, op.state)
            if problem:
                run.violation(f"{op.actor} (pid {op.pid}) read {name}: {problem}")
            end = final.get(name)
            if end and op.runs and op.runs[0][0] == end[0][0] and op.runs != end[:len(op.runs)]:
                run.violation(f"{op.actor} (pid {op.pid}) read {name} as runs {op.runs}, which the final file "
                              f"{end} does not begin with: committed rows went")
    info_problems(run)
    return seen


def figures(run: Run) -> dict[str, int]:
    """What the appenders, recoverers and readers did."""
    appends = [op for op in run.ops if op.kind == "append"]
    recoveries = [op for op in run.ops if op.kind == "recover" and op.ok]
    reads = [op for op in run.ops if op.runs is not None]
    # Reads whose time overlapped an append that held the file (one that ended by itself).
    during = 0
    for name in NAMES:
        held = sorted((op.t0, op.t1 or 0) for op in appends
                      if Path(op.path).name == name and op.outcome in ("ok", "rolledback"))
        starts = [t0 for t0, _ in held]
        for r in reads:
            if Path(r.path).name != name:
                continue
            i = bisect.bisect_left(starts, r.t1 or 0)
            if any(held[j][1] > r.t0 for j in range(max(0, i - 3), i)):
                during += 1
    cli = [op for op in appends if op.actor == "cli-append"]
    seen = set(run.final_values)
    for r in reads:
        seen.update(v for v, _ in r.runs or [])
    return {
        "appends committed": sum(1 for op in appends if op.ok),
        "appends rolled back": sum(1 for op in appends if op.outcome == "rolledback"),
        "appends killed mid-append": sum(1 for op in appends if op.killed and op.opened and not op.committing),
        "appends killed while committing": sum(1 for op in appends if op.killed and op.committing),
        "appends full": sum(1 for op in appends if op.outcome == "full"),
        "appends locked out": sum(1 for op in appends if op.outcome == "locked"),
        "recoveries": sum(1 for op in recoveries if op.cut is not None and op.cut >= 0),
        "recoveries that cut": sum(1 for op in recoveries if op.cut is not None and op.cut > 0),
        "recoveries with nothing to do": sum(1 for op in recoveries if op.cut == -1),
        "appender opens that cut": sum(1 for op in appends if op.cut),
        "files recovered at the end": run.final_recoveries,
        "reads of appended rows": sum(1 for op in reads if len(op.runs or []) > 1),
        "reads during an append": during,
        "most rows read": max((sum(n for _, n in op.runs or []) // ROW for op in reads), default=0),
        "CLI appends committed": sum(1 for op in cli if op.ok),
        "CLI appends interrupted": sum(1 for op in cli if op.outcome == "interrupted"),
        "CLI appends killed": sum(1 for op in cli if op.killed),
        "CLI appends killed, committed": sum(1 for op in cli if op.killed and op.value in seen),
        "CLI appends locked out": sum(1 for op in cli if op.outcome == "locked"),
        "CLI appends queued behind one killed": run.cli_queued,
        "CLI appends that rolled a dead append back first": sum(1 for op in cli if op.cut is not None),
        "CLI recoveries that cut": sum(1 for op in recoveries if op.actor == "cli-recover" and op.cut and op.cut > 0),
        "infos that showed an append": sum(1 for op in run.ops if op.shown),
    }


def mid_append(run: Run, actors: list[Actor], candidates: list[int], wait: float = 0.05) -> Optional[int]:
    """The index of an actor among ``candidates`` that is mid-append, waiting up to ``wait`` s."""
    give_up = time.monotonic() + wait
    candidates = run.rng.sample(candidates, len(candidates))
    while time.monotonic() < give_up:
        with run.lock:
            for i in candidates:
                op = run.open_ops.get(actors[i].proc.pid)
                if op is not None and op.opened and not op.committing:
                    return i
        time.sleep(0.001)
    return None


def main_run(duration: float, seed: int) -> int:
    repo = Path(__file__).resolve().parents[2]
    target = repo / os.environ.get("CARGO_TARGET_DIR", "target")
    binary = os.environ.get("ARRFILE_BIN", str(target / "debug/arrfile"))
    actor = os.environ.get("ARRFILE_ACTOR", str(target / "debug/examples/torture_actor"))
    for tool in (binary, actor):
        if not os.access(tool, os.X_OK):
            print(f"torture: {tool} is not built (cargo build -p arrfile-cli --example torture_actor)", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="arrfile-torture-") as tmp:
        directory, inputs = Path(tmp) / "shared", Path(tmp) / "inputs"
        directory.mkdir()
        inputs.mkdir()
        run = Run(directory, inputs, binary, actor, sys.executable, random.Random(seed),
                  time.monotonic() + duration)
        INITIAL.t0 = INITIAL.t1 = now_ns()
        for name in NAMES:
            subprocess.run([binary, "create", str(directory / name), "--dtype", "u64", "--shape", f"{BASE_ROWS},{ROW}"],
                           check=True, capture_output=True)
        roles = ["read", "rplus", "wplus", "stream", "append", "recover", "pyread", "pyrplus", "pycreate", "pysave",
                 "pyverify", "pyfork", "pyappend", "pyappender", "pyrecover"]
        actors = [Actor(run, role) for role in roles]
        appenders = [i for i, role in enumerate(roles) if role in ("append", "pyappend", "pyappender")]
        py_appenders = [i for i in appenders if roles[i].startswith("py")]
        threads = [threading.Thread(target=cli_loop, args=(run, what), daemon=True)
                   for what in ("convert", "clean", "info", "verify")]
        # The command's appenders (two: one per file at a time, see cap_lock) and recoverer.
        threads += [threading.Thread(target=guarded, args=(run, target), daemon=True)
                    for target in (cli_append_loop, cli_append_loop, cli_recover_loop)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        while time.monotonic() < run.deadline:
            time.sleep(0.2 + run.rng.random() * 0.6)
            victims = [run.rng.randrange(len(actors))]
            # Most rounds, an appender too that is mid-append (it holds the file and has not
            # reached its commit), so that recoverers have work: mostly a Python one, which
            # writes its rows at once (the Rust appender buffers them until its commit).
            if run.rng.random() < 0.75:
                extra = mid_append(run, actors, py_appenders if run.rng.random() < 0.75 else appenders)
                if extra is not None and extra not in victims:
                    victims.append(extra)
            for victim in victims:
                actors[victim].check_exit()
                actors[victim].kill()
                run.kills += 1
                actors[victim] = Actor(run, actors[victim].role)
        for thread in threads:
            thread.join()
        for a in actors:
            a.check_exit()
            a.kill()
        # What the killed writers left: the cleaner removes it (a live writer has none now).
        subprocess.run([binary, "clean", str(directory)], check=True, capture_output=True)
        seen = final_checks(run)
        left = sorted(p.name for p in directory.iterdir() if p.name not in NAMES and ".arrnew-" not in p.name)
        if left:
            run.violation(f"left in the directory after clean: {left}")
        elapsed = time.monotonic() - started
        total = sum(run.counts.values())
        print(f"torture: {elapsed:.0f} s, seed {seed}: {run.actors_started} actor processes "
              f"({len(roles)} roles, plus the command's convert/clean/info/verify/append/recover), {total} operations, "
              f"{run.kills} kills, {len(run.violations)} violations")
        print("torture: operations by actor: " + ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items())))
        numbers = {"operations": total, "kills": run.kills, "violations": len(run.violations), **figures(run)}
        print("torture: " + ", ".join(f"{k} {v}" for k, v in numbers.items() if k not in ("operations", "kills", "violations")))
        print("torture: figures " + json.dumps(numbers))
        for name, text in seen.items():
            print(f"torture: {name}: {text}")
        for text in run.violations[:50]:
            print(f"torture: VIOLATION: {text}")
        return 1 if run.violations else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the torture test")
    r.add_argument("--duration", type=float, default=40.0, help="seconds (default 40)")
    r.add_argument("--seed", type=int, default=int(time.time()))
    a = sub.add_parser("actor", help="(internal) one Python actor")
    a.add_argument("role")
    a.add_argument("directory", type=Path)
    a.add_argument("names", nargs="+")
    a.add_argument("--id", type=int, required=True)
    a.add_argument("--ops", type=int, default=10**12)
    args = parser.parse_args()
    if args.command == "run":
        return main_run(args.duration, args.seed)
    python_actor(args.role, args.directory, args.names, args.id, args.ops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
