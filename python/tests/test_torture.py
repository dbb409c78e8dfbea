"""The many-actors torture test (``torture.py``), bounded for the test suite.

``ARRFILE_TORTURE_SECS`` sets its length (default 40 s; the long run is
``python python/tests/torture.py run --duration 600``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


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
