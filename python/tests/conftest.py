"""Shared pytest fixtures for the arrfile Python suite."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

#: The repository root (python/tests/ -> repo).
REPO = Path(__file__).resolve().parents[2]
#: The conformance suite of spec §10.4.
FIXTURES = REPO / "fixtures"
MANIFEST = FIXTURES / "manifest.json"


def load_manifest() -> dict[str, Any]:
    """The parsed fixtures/manifest.json (fails clearly when it is missing)."""
    if not MANIFEST.is_file():
        pytest.fail(f"conformance manifest not found at {MANIFEST}; the fixture suite must be in the repo")
    with MANIFEST.open("rb") as f:
        return json.load(f)


def cli_path() -> Path:
    """Where the Rust CLI is expected: $ARRFILE_BIN or <repo>/target/debug/arrfile."""
    return Path(os.environ.get("ARRFILE_BIN", REPO / "target" / "debug" / "arrfile"))


@pytest.fixture(scope="session")
def arrfile_bin() -> Path:
    """The Rust CLI binary; the test FAILS (not skips) when it is missing."""
    path = cli_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"Rust CLI binary not found or not executable at {path}. Build it with "
            f"`cargo build -p arrfile-cli` or point ARRFILE_BIN at it "
            f"(run `pytest -m 'not cli'` to leave the cross-implementation tests out)."
        )
    return path
