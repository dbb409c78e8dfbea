"""Many actors, nothing lost: every reader, writer, cleaner and fork on one directory at once.

Every actor of the reference tools works on the same few files at the same time, each in a
process of its own, while random ``SIGKILL``s land among them:

- Rust, through ``examples/torture_actor`` (``$ARRFILE_ACTOR``): ``read`` (mode ``r``, values
  and checksum), ``rplus`` (``r+`` sessions that commit), ``wplus`` (``w+``), ``stream``;
- the command (``$ARRFILE_BIN``): ``convert --force`` over the files, ``clean``, ``info``,
  ``verify``;
- Python (this file, run as ``torture.py actor ROLE ...``): ``open`` (``r``), ``r+`` with
  ``commit``, ``create``/``finish``, ``save`` over the files, ``verify``, and ``fork``: a child
  forked while its parent holds an ``r+`` session or an unfinished ``create`` exits normally,
  then the parent goes on.

Every array is ``u64`` of 4096 elements, all equal to a value that names the operation that
wrote it. Each actor logs the operations it begins and ends (``begin``/``end`` JSON lines); the
orchestrator records its kills. It checks, during the run and at the end:

1. every file at a final path passes the reader checks, holds one value, and verifies when its
   state is *valid* (after the run, with every actor stopped);
2. every writer that reported success has its data at the path, unless an operation that
   began after it ended replaced it (no lost update, no orphaned ``r+`` commit);
3. ``clean`` removed no live writer's file: no writer fails because its temporary file went;
4. no exit code outside 0/1/2/130, no Python exception outside the package's error types,
   no "corrupt" verdict (checksum mismatch, failed reader check, torn values) on any file:
   every actor here follows the protocol, so any such verdict is false.

It prints its figures (actors, operations, kills, violations) and exits 1 on any violation.

    python python/tests/torture.py run --duration 600 [--seed N]     # the long run

``test_torture.py`` runs it for a bounded time in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

LEN = 4096
NAMES = ["a.arr", "b.arr"]
# Exit codes `arrfile --help` promises.
CLI_CODES = {0, 1, 2, 130}


def now_ns() -> int:
    return time.time_ns()


# --------------------------------------------------------------------------- Python actors


def _say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _classify(exc: BaseException) -> str:
    import arrfile

    name = type(exc).__name__
    if isinstance(exc, arrfile.LockedError):
        return "locked"
    if isinstance(exc, arrfile.ArrfileError):
        # Every format error means a reader saw a file no writer should have left.
        text = str(exc)
        if "replaced" in text:
            return "replaced"
        return f"arrfile:{name}"
    return f"exception:{name}"


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
        value = 0 if role in ("pyread", "pyverify") else next_value()
        t0 = now_ns()
        _say(event="begin", actor=role, pid=os.getpid(), path=str(path), value=value, t=t0)
        outcome, detail = "ok", ""
        try:
            if role == "pyread":
                a = arrfile.open(path)
                first = int(a[0]) if a.size else 0
                if not bool((np.asarray(a) == first).all()):
                    outcome, detail = "torn", "values differ within one array"
                value = first
                result = arrfile.verify(path)
                if result.outcome == "payload_checksum_mismatch":
                    outcome, detail = "mismatch", str(result)
                del a
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
                with arrfile.create(path, "u64", (LEN,)) as w:
                    w.array[...] = value
            elif role == "pysave":
                arrfile.save(path, np.full(LEN, value, dtype=np.uint64))
            elif role == "pyfork":
                # A child forked while this process holds work in progress exits normally (its
                # finalizers run); the parent's lock and temporary file must survive it.
                if rng.random() < 0.5:
                    a = arrfile.open(path, "r+")
                    a[...] = value
                    _fork_and_exit_child()
                    arrfile.commit(a)
                    del a
                else:
                    w = arrfile.create(path, "u64", (LEN,))
                    w.array[...] = value
                    _fork_and_exit_child()
                    w.finish()
            else:
                raise SystemExit(f"unknown role {role}")
        except Exception as exc:  # noqa: BLE001 - classified and reported, not hidden
            outcome, detail = _classify(exc), f"{type(exc).__name__}: {exc}"
        _say(event="end", actor=role, pid=os.getpid(), path=str(path), value=value, t0=t0,
             t=now_ns(), ok=outcome == "ok", outcome=outcome, detail=detail[:300])
        time.sleep(rng.random() * 0.002)


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
    t1: Optional[int] = None
    ok: Optional[bool] = None
    outcome: str = ""
    detail: str = ""
    killed: bool = False


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
            if event.get("event") == "begin":
                op = Op(event["actor"], event["pid"], event["path"], event["value"], event["t"])
                self.open_ops[event["pid"]] = op
                self.ops.append(op)
            elif event.get("event") == "end":
                op = self.open_ops.pop(event["pid"], None)
                if op is None:
                    return
                op.t1, op.ok, op.outcome, op.detail = event["t"], event["ok"], event["outcome"], event["detail"]
                op.value = event["value"] if op.actor in ("read", "pyread") else op.value
                self.counts[op.actor] = self.counts.get(op.actor, 0) + 1
                self.judge(op)

    def judge(self, op: Op) -> None:
        """Violations an operation shows by itself (called with the lock held)."""
        bad = {"corrupt", "mismatch", "torn", "missing", "error"}
        if op.outcome in bad or op.outcome.startswith(("exception:", "arrfile:")):
            self.violations.append(f"{op.actor} (pid {op.pid}) on {Path(op.path).name}: {op.outcome}: {op.detail}")

    def killed(self, pid: int, when: int) -> None:
        with self.lock:
            op = self.open_ops.pop(pid, None)
            if op is not None:
                op.t1, op.killed = when, True


class Actor:
    """A long-running actor process whose JSON lines feed the run."""

    def __init__(self, run: Run, role: str) -> None:
        self.run, self.role = run, role
        ident = run.new_id()
        names = [str(n) for n in NAMES]
        if role in ("read", "rplus", "wplus", "stream"):
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
        self.run.killed(self.proc.pid, now_ns())
        self.reader.join(timeout=5)
        # Forked children of a killed Python actor are its own business; none outlive it long.

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
            cmd = [run.binary, "convert", str(source), "--dtype", "u64", "--shape", str(LEN),
                   "-o", str(path), "--force", "--quiet"]
        elif what == "clean":
            value, cmd = 0, [run.binary, "clean", str(run.directory)]
        elif what == "info":
            value, cmd = 0, [run.binary, "info", str(path), "--json"]
        else:
            value, cmd = 0, [run.binary, "verify", str(path), "--quiet"]
        t0 = now_ns()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        op = Op(f"cli-{what}", proc.pid, str(path), value, t0)
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
        elif what in ("info", "verify") and code == 1 and "cannot verify" not in err:
            run.violation(f"{what} called {name} corrupt: {err.strip()[:300]}")
        elif what in ("info", "verify", "clean") and code == 2 and "locked by another process" not in err:
            run.violation(f"{what} failed: {err.strip()[:300]}")
        elif what == "convert":
            source.unlink()
        time.sleep(run.rng.random() * 0.01)


def final_checks(run: Run) -> dict[str, str]:
    """Checks 1 and 2 on the files as the actors left them."""
    import numpy as np

    import arrfile

    seen: dict[str, str] = {}
    for name in NAMES:
        path = run.directory / name
        if not path.exists():
            run.violation(f"{name}: nothing at the final path after the run")
            continue
        try:
            info = arrfile.info(path)
            a = np.array(arrfile.open(path))
        except Exception as exc:  # noqa: BLE001
            run.violation(f"{name}: fails the reader checks after the run: {exc}")
            continue
        values = set(int(v) for v in np.unique(a))
        if len(values) != 1:
            run.violation(f"{name}: holds {len(values)} values after the run (a mix of writes)")
            continue
        final = values.pop()
        result = arrfile.verify(path)
        if result.outcome == "payload_checksum_mismatch" or info["checksum_state"] == "absent":
            run.violation(f"{name}: {result.outcome}, state {info['checksum_state']} after the run")
        being_modified = info["checksum_state"] == "being_modified"
        seen[name] = f"value {final:#x}, state {info['checksum_state']}, {result.outcome}"
        writes = [op for op in run.ops if Path(op.path).name == name and op.value != 0
                  and op.actor not in ("read", "pyread", "pyverify", "cli-info", "cli-verify", "cli-clean")]
        succeeded = [op for op in writes if op.ok]
        if being_modified:
            # Only an r+ session killed mid-edit may leave this, and only if nothing that
            # succeeded began after it.
            killed_rplus = [op for op in writes if op.killed and op.actor in ("rplus", "pyrplus", "pyfork")]
            if not any(all(s.t0 <= (k.t1 or 0) for s in succeeded) for k in killed_rplus):
                run.violation(f"{name}: left being modified, but no r+ writer was killed last")
            continue
        if final == 0:
            if succeeded:
                run.violation(f"{name}: still the initial zeros after {len(succeeded)} successful writes")
            continue
        survivors = [op for op in writes if op.value == final]
        if not survivors:
            run.violation(f"{name}: holds {final:#x}, which no operation wrote")
            continue
        survivor = survivors[0]
        if survivor.ok is False and not survivor.killed:
            run.violation(f"{name}: holds the data of a writer that reported failure: {survivor}")
        end = survivor.t1 or now_ns()
        lost = [op for op in succeeded if op.t0 > end]
        if lost:
            run.violation(f"{name}: {len(lost)} successful write(s) began after {survivor.actor}'s ended and are lost, e.g. {lost[0].actor} value {lost[0].value:#x}")
    return seen


def main_run(duration: float, seed: int) -> int:
    repo = Path(__file__).resolve().parents[2]
    binary = os.environ.get("ARRFILE_BIN", str(repo / "target/debug/arrfile"))
    actor = os.environ.get("ARRFILE_ACTOR", str(repo / "target/debug/examples/torture_actor"))
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
        for name in NAMES:
            subprocess.run([binary, "create", str(directory / name), "--dtype", "u64", "--shape", str(LEN)],
                           check=True, capture_output=True)
        roles = ["read", "rplus", "wplus", "stream", "pyread", "pyrplus", "pycreate", "pysave", "pyverify", "pyfork"]
        actors = [Actor(run, role) for role in roles]
        threads = [threading.Thread(target=cli_loop, args=(run, what), daemon=True)
                   for what in ("convert", "clean", "info", "verify")]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        while time.monotonic() < run.deadline:
            time.sleep(0.2 + run.rng.random() * 0.6)
            victim = run.rng.randrange(len(actors))
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
              f"({len(roles)} roles, plus the command's convert/clean/info/verify), {total} operations, "
              f"{run.kills} kills, {len(run.violations)} violations")
        print("torture: operations by actor: " + ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items())))
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
