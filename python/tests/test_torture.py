"""The many-actors torture test (``torture.py``), bounded for the test suite.

``ARRFILE_TORTURE_SECS`` sets its length (default 40 s; the long run is
``python python/tests/torture.py run --duration 600``). Besides "no violation", the run must
have done real work: floors on operations, kills, committed appends, appends killed before their
commit, recoveries that rolled an interrupted append back, reads while an append ran, and the
command's appends that committed (a run that stopped appending or killing would pass its
checks vacuously).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]

# What a 40 s run does at the least, on a loaded 2-core machine (a quiet one does 3 to 10 times
# as much); scaled for other lengths.
FLOORS_40S = {
    "operations": 10_000,
    "kills": 40,
    "appends committed": 100,
    "appends rolled back": 10,
    "appends killed mid-append": 3,
    "reads during an append": 200,
    # The command's `arrfile append` that exited 0 (about 300 in a 40 s run on a loaded 2-core machine).
    "CLI appends committed": 40,
}


@pytest.mark.cli
def test_every_actor_at_once_loses_nothing() -> None:
    # Where cargo builds it (`cargo test` runs this suite with its own CARGO_TARGET_DIR).
    target = REPO / os.environ.get("CARGO_TARGET_DIR", "target")
    actor = os.environ.get("ARRFILE_ACTOR", str(target / "debug/examples/torture_actor"))
    if not os.access(actor, os.X_OK):
        # `cargo test --workspace` builds it; a narrower run may not have.
        subprocess.run(["cargo", "build", "-q", "--example", "torture_actor"], cwd=REPO, check=True)
    seconds = os.environ.get("ARRFILE_TORTURE_SECS", "40")
    run = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("torture.py")), "run", "--duration", seconds],
        capture_output=True, text=True, env={**os.environ, "ARRFILE_ACTOR": actor}, timeout=float(seconds) + 120,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0 violations" in run.stdout
    line = next(x for x in run.stdout.splitlines() if x.startswith("torture: figures "))
    figures = json.loads(line.removeprefix("torture: figures "))
    scale = float(seconds) / 40
    short = {k: (figures[k], round(v * scale)) for k, v in FLOORS_40S.items() if figures[k] < round(v * scale)}
    # A recovery that rolled an interrupted append back (about 12 a run). Those that also cut
    # rows (about 5 a run: Rust appenders buffer their rows, so most of their killed appends
    # leave nothing to cut) are too rare for a floor that never fails by chance; the kill
    # tests of every implementation cut rows deterministically.
    if figures["recoveries"] < 1:
        short["recoveries"] = (figures["recoveries"], 1)
    assert not short, f"the run did too little (found, floor): {short}\n{run.stdout}"


def _torture() -> Any:
    """torture.py as a module (it is a script, not part of the package)."""
    name = "arrfile_torture_script"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("torture.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_judge_of_file_contents() -> None:
    """The layout check (check 5) on made-up logs: what it must accept and what it must not.

    Fast, no processes: a guard against a check that silently accepts everything.
    """
    t = _torture()
    run = t.Run(Path("/x"), Path("/y"), "", "", "", random.Random(0), 0.0)
    row, base = t.ROW, t.LEN

    def op(value: int, kind: str, t0: int, t1: int, rows: int = 0, **kw: Any) -> Any:
        o = t.Op("actor", 1, "/x/a.arr", value, t0, kind=kind, rows=rows, t1=t1, **{"ok": True, "outcome": "ok", **kw})
        run.writers[value] = o
        return o

    op(1, "whole", 10, 20)
    op(2, "append", 30, 40, rows=2)
    op(3, "append", 50, 60, rows=1)
    op(4, "append", 70, 80, rows=1, ok=False, outcome="rolledback")
    op(5, "append", 90, 95, rows=1, ok=None, killed=True, opened=True)  # killed before its commit
    op(6, "append", 90, 95, rows=1, ok=None, killed=True, opened=True, committing=True)
    op(7, "inplace", 100, 110, ok=None, killed=True)  # an r+ writer killed mid-fill
    op(8, "append", 5, 8, rows=1)  # ended before 1 began
    op(9, "append", 30, 40, rows=1, ok=False, outcome="error")
    # The command's appends: killed (outcome unknown), interrupted by SIGTERM, locked out.
    op(10, "append", 30, 45, rows=2, ok=None, killed=True, unknown=True)
    op(11, "append", 30, 40, rows=1, ok=False, outcome="interrupted")
    op(12, "append", 30, 40, rows=1, ok=False, outcome="locked")

    def problem(runs: list[list[int]], state: Optional[str] = "valid") -> Optional[str]:
        return run.layout_problem("a.arr", runs, state)[0]

    good = [[1, base], [2, 2 * row], [3, row]]
    assert problem(good) is None
    assert problem([[0, base], [2, 2 * row]]) is None  # the initial zeros as the base
    assert problem([[1, base], [6, row]]) is None  # killed after its commit line: may be there
    assert problem([[1, base], [10, 2 * row]]) is None  # the command killed: may be there...
    assert problem([[1, base], [2, 2 * row], [3, row]]) is None  # ...or not
    assert problem([[7, 3 * row], [1, base - 3 * row], [2, 2 * row]], "being_modified") is None
    assert problem([[7, 1000], [1, base - 1000], [2, 2 * row]], None) is None
    bad = {
        "torn append": [[1, base], [2, row]],
        "append cut inside a row": [[1, base], [2, 2 * row - 8], [3, row + 8]],
        "short base": [[1, base - row], [2, 2 * row]],
        "rolled back": [[1, base], [4, row]],
        "killed before its commit": [[1, base], [5, row]],
        "failed append": [[1, base], [9, row]],
        "the command's killed append, torn": [[1, base], [10, row]],
        "the command's killed append, twice": [[1, base], [10, 2 * row], [3, row], [10, 2 * row]],
        "the command's append interrupted": [[1, base], [11, row]],
        "the command's append locked out": [[1, base], [12, row]],
        "unknown value": [[1, base], [77, row]],
        "append first": [[2, 2 * row], [1, base]],
        "value twice": [[1, base], [2, 2 * row], [1, base]],
        "whole write after the first run": [[1, base], [0, base]],
        "appends out of order": [[1, base], [2, 2 * row], [8, row]],
        "partial r+ fill in a valid file": [[7, 1000], [1, base - 1000]],
        "past the cap": [[1, base], *[[100 + i, row] for i in range(t.CAP_ROWS)]],
    }
    for i in range(t.CAP_ROWS):
        op(100 + i, "append", 200 + i, 300 + i, rows=1)
    for what, runs in bad.items():
        assert problem(runs) is not None, what


def test_the_judge_of_info_append_lines() -> None:
    """An ``arrfile info`` that showed an append line needs an append of that file that was
    running then, or killed before (its rows stay until a recovery)."""
    t = _torture()

    def violations(*appends: dict[str, Any]) -> list[str]:
        run = t.Run(Path("/x"), Path("/y"), "", "", "", random.Random(0), 0.0)
        run.ops.append(t.Op("cli-info", 1, "/x/a.arr", 0, 100, t1=110, ok=True, outcome="ok", shown="running"))
        for i, fields in enumerate(appends):
            run.ops.append(t.Op(**{"actor": "actor", "pid": 2 + i, "path": "/x/a.arr", "value": 50 + i,
                                   "kind": "append", "rows": 1, **fields}))
        t.info_problems(run)
        return run.violations

    assert violations(dict(t0=90, t1=105, ok=True, outcome="ok")) == []  # ended while info ran
    assert violations(dict(t0=105, t1=200, ok=True, outcome="ok")) == []  # began while info ran
    assert violations(dict(t0=10, t1=20, killed=True)) == []  # killed before: its rows stay
    assert violations(dict(t0=10, t1=90, ok=False, outcome="rolledback")) != []  # over before info
    assert violations(dict(t0=120, t1=130, ok=True, outcome="ok")) != []  # began after info
    assert violations(dict(t0=90, t1=120, ok=False, outcome="locked")) != []  # never held the file
    assert violations(dict(t0=90, t1=120, ok=True, outcome="ok", path="/x/b.arr")) != []  # another file
