"""The many-actors torture test (``torture.py``), bounded for the test suite.

``ARRFILE_TORTURE_SECS`` sets its length (default 40 s; the long run is
``python python/tests/torture.py run --duration 600``). Besides "no violation", the run must
have done real work: floors on operations, kills, committed appends, appends killed before their
commit, recoveries that cut an interrupted append's rows, and reads while an append ran (a
run that stopped appending or killing would pass its checks vacuously).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# What a 40 s run does at the least, on a loaded 2-core machine (a quiet one does 3 to 10 times
# as much; the cut recoveries are the scarcest, about 6 a run); scaled for other lengths.
FLOORS_40S = {
    "operations": 10_000,
    "kills": 40,
    "appends committed": 100,
    "appends rolled back": 10,
    "appends killed mid-append": 3,
    "reads during an append": 200,
}


@pytest.mark.cli
def test_every_actor_at_once_loses_nothing() -> None:
    actor = os.environ.get("ARRFILE_ACTOR", str(REPO / "target/debug/examples/torture_actor"))
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
    # Recoveries that cut rows: by the recoverers or by a Python appender at its open.
    cut = figures["recoveries that cut"] + figures["appender opens that cut"]
    if cut < 1:
        short["recoveries that cut"] = (cut, 1)
    assert not short, f"the run did too little (found, floor): {short}\n{run.stdout}"
