"""The conformance suite of spec §10.4: every entry of fixtures/manifest.json."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import arrfile
from conftest import FIXTURES, load_manifest
from helpers import logical_values, values_match

MANIFEST = load_manifest()
ENTRIES = MANIFEST["files"]
VALID = [e for e in ENTRIES if e["valid"]]
INVALID = [e for e in ENTRIES if not e["valid"]]


def test_manifest_is_spec_1_0_and_covers_every_check() -> None:
    assert MANIFEST["spec_version"] == "1.0"
    assert len(VALID) > 0 and len(INVALID) > 0
    checks = {e["check"] for e in INVALID}
    assert checks == {f"R{i}" for i in range(1, 25)}, f"checks without an invalid fixture: {sorted(set(f'R{i}' for i in range(1, 25)) - checks)}"
    for e in ENTRIES:
        assert (FIXTURES / e["path"]).is_file(), f"manifest names a missing file {e['path']}"


@pytest.mark.parametrize("entry", VALID, ids=[e["path"] for e in VALID])
def test_valid_fixture(entry: dict[str, Any]) -> None:
    path = FIXTURES / entry["path"]
    desc = entry["description"]
    info = arrfile.info(path)
    assert info["dtype"] == desc["dtype"]
    assert info["byte_order"] == desc["byte_order"]
    assert info["order"] == desc["order"]
    assert info["shape"] == desc["shape"]
    assert info["attributes"] == entry["attributes"]
    assert info["data_offset"] == entry["data_offset"]
    assert info["data_len"] == entry["data_len"]
    assert info["checksum_state"] == entry["checksum_state"]
    assert info["payload_crc"] == entry["payload_crc"]
    assert info["file_len"] == path.stat().st_size == entry["data_offset"] + entry["data_len"]

    array = arrfile.open(path)
    assert isinstance(array, np.memmap)
    assert array.shape == tuple(desc["shape"])
    assert array.dtype.itemsize * array.size == entry["data_len"]
    if array.dtype.itemsize > 1:  # multi-byte types carry the file's byte order
        stored = {"<": "little", ">": "big", "=": sys.byteorder}[array.dtype.byteorder]
        assert stored == desc["byte_order"]
    if len(desc["shape"]) >= 2 and array.size > 1 and desc["order"] == "F":
        assert array.flags.f_contiguous and not array.flags.c_contiguous
    elif array.size > 1:
        assert array.flags.c_contiguous
    if array.size:
        assert array.offset == entry["data_offset"]
    assert not array.flags.writeable  # mode "r"

    if "values" in entry:
        found = logical_values(array, desc["dtype"])
        assert values_match(found, entry["values"], desc["dtype"]), f"{path}: values {found} != manifest {entry['values']}"

    result = arrfile.verify(path)
    assert result.outcome == entry["verify"]
    assert result.checksum_state == entry["checksum_state"]
    if entry["checksum_state"] == "valid":
        assert result.expected == entry["payload_crc"]
        data = path.read_bytes()[entry["data_offset"]:]
        assert result.found == zlib.crc32(data)
        assert result.ok == (entry["verify"] == "valid")
    else:
        assert result.expected is None and result.found is None and not result.ok


@pytest.mark.parametrize("entry", INVALID, ids=[e["path"] for e in INVALID])
@pytest.mark.parametrize("operation", ["open", "open_c", "info", "verify", "lazy"])
def test_invalid_fixture(entry: dict[str, Any], operation: str) -> None:
    path = FIXTURES / entry["path"]
    before = path.read_bytes()
    calls = {
        "open": lambda: arrfile.open(path),
        "open_c": lambda: arrfile.open(path, "c"),
        "info": lambda: arrfile.info(path),
        "verify": lambda: arrfile.verify(path),
        "lazy": lambda: arrfile.lazy(path),
    }
    with pytest.raises(arrfile.ArrfileError) as excinfo:
        calls[operation]()
    err = excinfo.value
    assert err.kind == entry["error"], str(err)
    assert err.check == entry["check"], str(err)
    assert isinstance(err, arrfile.CHECK_ERRORS[entry["check"]])
    assert err.path is not None and Path(err.path) == path
    message = str(err)
    assert str(path) in message and entry["error"] in message and "expected" in message and "found" in message
    assert path.read_bytes() == before


@pytest.mark.parametrize("entry", INVALID, ids=[e["path"] for e in INVALID])
def test_invalid_fixture_r_plus_leaves_file_untouched(entry: dict[str, Any], tmp_path: Path) -> None:
    copy = tmp_path / "copy.arr"
    copy.write_bytes((FIXTURES / entry["path"]).read_bytes())
    with pytest.raises(arrfile.ArrfileError) as excinfo:
        arrfile.open(copy, "r+")
    assert excinfo.value.kind == entry["error"]
    assert copy.read_bytes() == (FIXTURES / entry["path"]).read_bytes()


def _alignment_for(entry: dict[str, Any], metadata_len: int) -> int:
    """The power-of-two alignment whose recommended data_offset is the fixture's."""
    for shift in range(12, 21):
        alignment = 1 << shift
        if -(-(640 + metadata_len) // alignment) * alignment == entry["data_offset"]:
            return alignment
    raise AssertionError(f"{entry['path']}: data_offset {entry['data_offset']} is not a recommended offset")


REWRITABLE = [
    e for e in VALID
    if e["checksum_state"] == "valid" and e["verify"] == "valid"
    and "minor_version" not in e["path"] and "optional_feature" not in e["path"]
]


@pytest.mark.parametrize("entry", REWRITABLE, ids=[e["path"] for e in REWRITABLE])
def test_save_reproduces_fixture_bytes(entry: dict[str, Any], tmp_path: Path) -> None:
    """Spec §10.2: same description, attributes, alignment and payload give identical files."""
    path = FIXTURES / entry["path"]
    info = arrfile.info(path)
    out = tmp_path / "again.arr"
    arrfile.save(out, arrfile.open(path), attrs=info["attributes"], alignment=_alignment_for(entry, info["metadata_len"]))
    assert out.read_bytes() == path.read_bytes()


def test_smallest_file_matches_spec_test_vector_layout() -> None:
    """Spec §10.3: 0-d u8, C, little-endian, no metadata, state valid, 4097 bytes."""
    path = FIXTURES / "valid" / "smallest.arr"
    data = path.read_bytes()
    assert len(data) == 4097
    assert data[:8] == b"\x89ARR\r\n\x1a\n"
    assert data[640:4096] == bytes(3456)
    info = arrfile.info(path)
    assert (info["dtype"], info["shape"], info["order"], info["byte_order"]) == ("u8", [], "C", "little")
    assert info["attributes"] is None and info["checksum_state"] == "valid"
    assert info["payload_crc"] == zlib.crc32(data[4096:])
    assert int(arrfile.open(path)) == data[4096]


def test_crc_check_value() -> None:
    assert zlib.crc32(b"123456789") == 0xCBF43926
    assert zlib.crc32(b"") == 0
