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
from helpers import header_bytes, header_crc_ok, logical_values, rewrite_header, u64, values_match

MANIFEST = load_manifest()
ENTRIES = MANIFEST["files"]
VALID = [e for e in ENTRIES if e["valid"]]
INVALID = [e for e in ENTRIES if not e["valid"]]


def test_manifest_is_spec_1_1_and_covers_every_check() -> None:
    assert MANIFEST["spec_version"] == "1.1"
    assert len(VALID) > 0 and len(INVALID) > 0
    checks = {e["check"] for e in INVALID}
    every = {f"R{i}" for i in range(1, 26)}
    assert checks == every, f"checks without an invalid fixture: {sorted(every - checks)}"
    assert set(arrfile.CHECK_ERRORS) == every
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
    # 1.1: a file mid-append holds uncommitted_len bytes after its committed payload.
    uncommitted = entry.get("uncommitted_len", 0)
    assert info["file_len"] == entry["data_offset"] + entry["data_len"]
    assert path.stat().st_size == info["file_len"] + uncommitted
    assert info["append_in_progress"] == ("uncommitted_len" in entry)
    assert info["uncommitted_len"] == uncommitted
    assert info["append_running"] is False

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
        data = path.read_bytes()[entry["data_offset"]:entry["data_offset"] + entry["data_len"]]
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


ONE_BYTE_TYPES = {"bool", "i8", "u8", "f8_e4m3fn", "f8_e5m2"}
#: Valid files that a 1.0 writer does not make: a newer version's fields, duplicate or
#: reserved keys, a non-recommended data_offset, bool bytes other than 0/1.
NOT_WRITTEN_BY_1_0 = {
    "valid/unknown_optional_feature.arr", "valid/minor_version_7.arr",
    "valid/metadata_duplicate_keys.arr", "valid/metadata_reserved_key_minor_1.arr",
    "valid/bool_bytes_not_0_or_1.arr",
}
REWRITABLE = [
    e for e in VALID
    if e["checksum_state"] == "valid" and e["verify"] == "valid" and e["path"] not in NOT_WRITTEN_BY_1_0
    # A file mid-append (1.1, required bit 0) is made by an appender, not by a writer.
    and "reader_1_0" not in e
    # Writers write byte order 0 for one-byte types (spec §5).
    and not (e["description"]["dtype"] in ONE_BYTE_TYPES and e["description"]["byte_order"] == "big")
]


@pytest.mark.parametrize("entry", REWRITABLE, ids=[e["path"] for e in REWRITABLE])
def test_save_reproduces_fixture_bytes(entry: dict[str, Any], tmp_path: Path) -> None:
    """Spec §10.2: same description, attributes, alignment and payload give identical files."""
    path = FIXTURES / entry["path"]
    info = arrfile.info(path)
    out = tmp_path / "again.arr"
    arrfile.save(out, arrfile.open(path), attrs=info["attributes"], alignment=_alignment_for(entry, info["metadata_len"]))
    assert out.read_bytes() == path.read_bytes()


# --------------------------------------------------------------------------- format 1.1

FOR_1_0 = [e for e in ENTRIES if "reader_1_0" in e]


@pytest.mark.parametrize("entry", FOR_1_0, ids=[e["path"] for e in FOR_1_0])
def test_a_1_0_reader_refuses_every_file_mid_append_at_r6(entry: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """``reader_1_0``: the raw bits (R1–R5 pass, then bit 0 set), and this reader with the
    known required bits of 1.0 (none) fails exactly as the entry says."""
    path = FIXTURES / entry["path"]
    expected = entry["reader_1_0"]
    data = path.read_bytes()
    head = data[:640]
    assert head[:8] == arrfile.MAGIC and int.from_bytes(head[8:10], "little") == 1  # R1, R3
    assert len(data) >= 640 and header_crc_ok(head)  # R4, R5
    assert u64(head, 16) == arrfile.APPEND_IN_PROGRESS  # bit 0 alone: R6 for a 1.0 reader
    assert (expected["valid"], expected["error"], expected["check"]) == (False, "unsupported_required_feature", "R6")
    from arrfile import _spec

    monkeypatch.setattr(_spec, "KNOWN_REQUIRED_FEATURES", 0)
    for call in (arrfile.info, arrfile.open, arrfile.verify, arrfile.lazy):
        with pytest.raises(arrfile.ArrfileError) as excinfo:
            call(path)
        assert (excinfo.value.kind, excinfo.value.check) == (expected["error"], expected["check"])


def test_entries_for_1_0_readers_are_the_append_fixtures() -> None:
    names = {e["path"] for e in FOR_1_0}
    assert names == {
        "valid/append_in_progress.arr", "valid/append_in_progress_no_crc.arr",
        "valid/append_in_progress_no_tail.arr", "invalid/append_base_len_mismatch.arr",
        "invalid/append_in_progress_truncated.arr", "invalid/append_in_progress_reserved_80.arr",
    }
    # Every other entry reads the same in 1.0 and 1.1: bit 0 clear.
    for e in ENTRIES:
        if "reader_1_0" not in e and e["path"] != "invalid/unknown_required_feature.arr":
            assert u64(header_bytes(FIXTURES / e["path"]), 16) & 1 == 0, e["path"]
    assert u64(header_bytes(FIXTURES / "invalid/unknown_required_feature.arr"), 16) == 2


RECOVERED = [e for e in ENTRIES if "recovered_from" in e]
APPENDED = [e for e in ENTRIES if "appended_to" in e]


@pytest.mark.parametrize("entry", RECOVERED, ids=[e["path"] for e in RECOVERED])
def test_recovered_from(entry: dict[str, Any], tmp_path: Path) -> None:
    """Recovery of a copy of ``recovered_from`` gives this file byte for byte, and again (idempotent)."""
    copy = tmp_path / "copy.arr"
    source = FIXTURES / entry["recovered_from"]
    copy.write_bytes(source.read_bytes())
    done = arrfile.recover(copy)
    assert done.recovered and done.cut_bytes == next(e for e in ENTRIES if e["path"] == entry["recovered_from"])["uncommitted_len"]
    assert done.shape == tuple(entry["description"]["shape"])
    assert copy.read_bytes() == (FIXTURES / entry["path"]).read_bytes()
    again = arrfile.recover(copy)
    assert not again.recovered and again.cut_bytes == 0
    assert copy.read_bytes() == (FIXTURES / entry["path"]).read_bytes()


@pytest.mark.parametrize("entry", APPENDED, ids=[e["path"] for e in APPENDED])
def test_appended_to(entry: dict[str, Any], tmp_path: Path) -> None:
    """Appending this file's extra rows to a copy of the mid-append ``appended_to`` (whose
    interrupted append the appender rolls back first) gives this file byte for byte."""
    base = FIXTURES / entry["appended_to"]
    grown = arrfile.open(FIXTURES / entry["path"])
    committed = arrfile.info(base)["shape"]
    copy = tmp_path / "copy.arr"
    copy.write_bytes(base.read_bytes())
    with arrfile.appender(copy) as w:
        assert w.recovered == next(e for e in ENTRIES if e["path"] == entry["appended_to"])["uncommitted_len"]
        assert w.shape == tuple(committed)
        w.write(grown[committed[0]:])
    assert copy.read_bytes() == (FIXTURES / entry["path"]).read_bytes()
    # The same through append(), row by row, from a recovered copy.
    copy.write_bytes(base.read_bytes())
    arrfile.recover(copy)
    arrfile.append(copy, [row for row in np.array(grown[committed[0]:])])
    assert copy.read_bytes() == (FIXTURES / entry["path"]).read_bytes()


def test_the_1_1_entries_are_present() -> None:
    assert [e["path"] for e in RECOVERED] == ["valid/append_recovered.arr"]
    assert [e["path"] for e in APPENDED] == ["valid/append_committed.arr"]


@pytest.mark.parametrize("entry", MANIFEST["built_by_tests"], ids=[e["name"] for e in MANIFEST["built_by_tests"]])
def test_file_built_by_the_tests(entry: dict[str, Any], tmp_path: Path) -> None:
    """R15's and R18's bounds exactly: valid files too large to commit, built as the manifest says."""
    assert entry["valid"] and entry["check"] in ("R15", "R18")
    values = np.array(entry["values"], dtype=np.uint8)
    attrs = {"pad": "x" * entry["pad_len"]}
    written = tmp_path / "written.arr"
    arrfile.save(written, values, attrs=attrs)
    data = written.read_bytes()
    # The writer's recommended offset, moved to the entry's.
    metadata_end = 640 + entry["metadata_len"]
    header = rewrite_header(bytearray(data[:640]))
    header[56:64] = entry["data_offset"].to_bytes(8, "little")
    path = tmp_path / f"{entry['name']}.arr"
    path.write_bytes(bytes(rewrite_header(header)) + data[640:metadata_end]
                     + bytes(entry["data_offset"] - metadata_end) + values.tobytes())
    info = arrfile.info(path)
    assert (info["metadata_len"], info["data_offset"], info["data_len"]) == (entry["metadata_len"], entry["data_offset"], entry["data_len"])
    assert info["attributes"] == attrs
    assert info["payload_crc"] == entry["payload_crc"]
    assert arrfile.open(path).tolist() == entry["values"]
    assert arrfile.verify(path).outcome == entry["verify"]


def test_16_mib_and_one_byte_of_metadata_is_refused_by_the_writer(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        arrfile.save(tmp_path / "over.arr", np.zeros(4, np.uint8), attrs={"pad": "x" * (16 * 1024 * 1024 - 9)})


def test_bool_bytes_other_than_0_or_1_read_as_true_and_are_counted_by_verify() -> None:
    path = FIXTURES / "valid" / "bool_bytes_not_0_or_1.arr"
    assert path.read_bytes()[4096:] == b"\x01\x00\x02\xff"
    assert arrfile.open(path).tolist() == [True, False, True, True]
    assert arrfile.verify(path).invalid_bool_bytes == 2


def test_one_byte_types_read_the_same_in_either_byte_order() -> None:
    for name in sorted(ONE_BYTE_TYPES):
        big = FIXTURES / "valid" / f"byte_order_1_{name}.arr"
        little = FIXTURES / "valid" / f"dtype_{name}.arr"
        assert arrfile.info(big)["byte_order"] == "big"
        assert arrfile.open(big).tobytes() == arrfile.open(little).tobytes()
        assert arrfile.open(big).dtype == arrfile.open(little).dtype


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
