"""Reader checks on crafted files: the order of §9, boundaries, JSON edge cases, error objects."""

from __future__ import annotations

import pickle
import sys
import zlib
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest

import arrfile
from helpers import rewrite_header


def build(tmp_path: Path, mutate: Callable[[bytearray], Optional[bytearray]], *, metadata: Optional[bytes] = None,
          fix_crc: bool = True, name: str = "f.arr", array: Optional[np.ndarray] = None) -> Path:
    """A valid file (u8 [1,2,3,4] unless ``array``), mutated, with its header CRC recomputed."""
    path = tmp_path / name
    arrfile.save(path, np.array([1, 2, 3, 4], np.uint8) if array is None else array)
    data = bytearray(path.read_bytes())
    if metadata is not None:  # splice in raw metadata bytes (must fit before 4096)
        data[640:640 + len(metadata)] = metadata
        data[44:48] = zlib.crc32(metadata).to_bytes(4, "little")
        data[48:56] = len(metadata).to_bytes(8, "little")
    result = mutate(data)
    data = result if result is not None else data
    if fix_crc:
        rewrite_header(data)
    path.write_bytes(bytes(data))
    return path


def error_of(path: Path) -> arrfile.ArrfileError:
    """The error raised by opening ``path``."""
    with pytest.raises(arrfile.ArrfileError) as excinfo:
        arrfile.open(path)
    return excinfo.value


def put(data: bytearray, offset: int, size: int, value: int) -> None:
    """Store a little-endian integer."""
    data[offset:offset + size] = value.to_bytes(size, "little")


def test_short_prefix_of_magic_is_truncated_not_bad_magic(tmp_path: Path) -> None:
    for n in range(0, 8):
        p = tmp_path / f"p{n}"
        p.write_bytes(arrfile.MAGIC[:n])
        assert error_of(p).check == "R2"
    p = tmp_path / "x"
    p.write_bytes(b"\x89AR!")
    assert error_of(p).check == "R1"


def test_version_checked_before_header_length(tmp_path: Path) -> None:
    p = tmp_path / "v"
    p.write_bytes(arrfile.MAGIC + (2).to_bytes(2, "little") + bytes(2))
    err = error_of(p)
    assert (err.kind, err.check) == ("unsupported_version", "R3")
    p.write_bytes(arrfile.MAGIC + (1).to_bytes(2, "little") + (9).to_bytes(2, "little") + bytes(100))
    assert error_of(p).check == "R4"


def test_header_crc_checked_before_other_fields(tmp_path: Path) -> None:
    def bad(d: bytearray) -> None:
        put(d, 32, 2, 0)  # unknown dtype too
        d[12] ^= 0xFF

    path = build(tmp_path, bad, fix_crc=False)
    rewrite = bytearray(path.read_bytes())
    put(rewrite, 32, 2, 0)
    path.write_bytes(bytes(rewrite))
    assert error_of(path).check == "R5"


@pytest.mark.parametrize("mutate, check", [
    (lambda d: (put(d, 16, 8, 1 << 63), put(d, 36, 1, 65)), "R6"),
    (lambda d: (put(d, 36, 1, 65), put(d, 38, 1, 1)), "R7"),
    (lambda d: (put(d, 100, 1, 1), put(d, 32, 2, 40)), "R8"),
    (lambda d: (put(d, 32, 2, 18), put(d, 34, 1, 7)), "R9"),
    (lambda d: (put(d, 34, 1, 2), put(d, 35, 1, 2)), "R10"),
    (lambda d: (put(d, 35, 1, 9), put(d, 37, 1, 3)), "R11"),
    (lambda d: (put(d, 37, 1, 2), put(d, 64, 8, 5)), "R12"),  # state 2 with payload_crc != 0
    (lambda d: (put(d, 128, 8, 1 << 63), put(d, 48, 8, 1 << 40)), "R13"),
    (lambda d: (put(d, 64, 8, 5), put(d, 48, 8, 1 << 40)), "R14"),
    (lambda d: (put(d, 48, 8, (16 << 20) + 1), put(d, 56, 8, 100)), "R15"),
    (lambda d: (put(d, 56, 8, 4097), put(d, 48, 8, 10000)), "R16"),
    (lambda d: (put(d, 48, 8, 3457),), "R17"),
    (lambda d: (put(d, 56, 8, 4096 + (1 << 20)),), "R18"),
])
def test_first_failing_check_wins(tmp_path: Path, mutate: Callable, check: str) -> None:
    path = build(tmp_path, lambda d: (mutate(d), None)[1])
    err = error_of(path)
    assert err.check == check, str(err)
    assert isinstance(err, arrfile.CHECK_ERRORS[check])


def test_state_2_with_crc_is_invalid(tmp_path: Path) -> None:
    path = build(tmp_path, lambda d: put(d, 37, 1, 2))  # keeps the valid payload_crc
    assert error_of(path).kind == "invalid_checksum_state"


def test_size_bound_applies_with_a_zero_dimension(tmp_path: Path) -> None:
    def m(d: bytearray) -> None:
        put(d, 36, 1, 3)
        put(d, 128, 8, 0)
        put(d, 136, 8, 1 << 61)
        put(d, 144, 8, 4)
        put(d, 64, 8, 0)

    assert error_of(build(tmp_path, m)).check == "R13"


def test_size_bound_is_inclusive(tmp_path: Path) -> None:
    def m(d: bytearray) -> None:
        put(d, 128, 8, 1 << 62)  # u8 x 2^62 bytes: exactly the bound
        put(d, 64, 8, 1 << 62)

    err = error_of(build(tmp_path, m))
    assert err.check == "R19"  # passes R13..R18, then the file is too short


def test_padding_just_under_one_mib_is_fine(tmp_path: Path) -> None:
    arr_path = tmp_path / "p.arr"
    arrfile.save(arr_path, np.zeros(1, np.uint8), {"k": "x" * (3456 - 8)}, alignment=1 << 20)
    info = arrfile.info(arr_path)
    assert info["data_offset"] == 1 << 20 and info["data_offset"] - 4096 == (1 << 20) - 4096


def test_padding_of_exactly_one_mib_is_excessive(tmp_path: Path) -> None:
    meta = b'{"k":"' + b"x" * (3456 - 8) + b'"}'
    path = build(tmp_path, lambda d: put(d, 56, 8, 4096 + (1 << 20)), metadata=meta)
    assert error_of(path).check == "R18"


def test_length_checks_before_metadata_checks(tmp_path: Path) -> None:
    def m(d: bytearray) -> bytearray:
        put(d, 44, 4, 1234)  # metadata_crc wrong with no metadata
        return d[:-1]        # and the payload truncated

    assert error_of(build(tmp_path, m)).check == "R19"


def test_metadata_crc_nonzero_without_metadata(tmp_path: Path) -> None:
    assert error_of(build(tmp_path, lambda d: put(d, 44, 4, 1))).check == "R21"


@pytest.mark.parametrize("meta, check", [
    (b"\xef\xbb\xbf{}", "R23"),            # a BOM is valid UTF-8 but not JSON
    (b'{"a":NaN}', "R23"),
    (b'{"a":Infinity}', "R23"),
    (b'{"a":-Infinity}', "R23"),
    (b"{} {}", "R23"),
    (b"[]", "R23"),
    (b'"text"', "R23"),
    (b"null", "R23"),
    (b"", None),                            # metadata_len 0: no metadata
    (b"{'a':1}", "R23"),
    (b'{"a":1,}', "R23"),
    (b'{"a":"\\ud800"}', "R23"),           # lone surrogate escape
    (b'{"a":"\xed\xa0\x80"}', "R22"),      # UTF-8-encoded surrogate is not UTF-8
    (b'{"a":"\xc0\xaf"}', "R22"),          # overlong encoding
    (b'{"a":"\x01"}', "R23"),              # raw control character in a string
    (b'{"n":1e400}', "R23"),                # beyond binary64: refused, as the Rust reader does
    (b'{"n":-1e309}', "R23"),
    (b'{"n":1' + b"0" * 400 + b'}', "R23"),  # the same rule for integers (spec §7.1, one rule)
    (b'{"n":[-1' + b"0" * 309 + b']}', "R23"),
])
def test_metadata_validation(tmp_path: Path, meta: bytes, check: Optional[str]) -> None:
    path = build(tmp_path, lambda d: None, metadata=meta)
    if check is None:
        assert arrfile.info(path)["attributes"] is None
    else:
        assert error_of(path).check == check


@pytest.mark.parametrize("meta, attrs", [
    (b' \t\r\n{"a" : [1, 2] }\n ', {"a": [1, 2]}),
    (b'{"a":1,"a":2}', {"a": 2}),           # duplicate names: the last wins
    (b'{"\\u00b5":"\\ud83d\\ude00"}', {"µ": "😀"}),
    (b'{"n":1.7e308,"m":-0,"big":123456789012345678901234567890}', {"n": 1.7e308, "m": 0, "big": 123456789012345678901234567890}),
])
def test_metadata_accepted(tmp_path: Path, meta: bytes, attrs: dict) -> None:
    path = build(tmp_path, lambda d: None, metadata=meta)
    assert arrfile.info(path)["attributes"] == attrs


def test_writers_refuse_an_integer_no_reader_accepts(tmp_path: Path) -> None:
    """Spec §7.1: a number beyond binary64's range fails R23 in every reader, so no writer
    writes one (Python used to write and read 10**400, which the Rust reader refuses)."""
    biggest = int(sys.float_info.max)
    arrfile.save(tmp_path / "ok.arr", np.zeros(1), attrs={"n": biggest, "m": -biggest})
    assert arrfile.info(tmp_path / "ok.arr")["attributes"] == {"n": biggest, "m": -biggest}
    for attrs in ({"n": 10**400}, {"deep": {"list": [1, -(10**309)]}}):
        with pytest.raises(ValueError, match="beyond binary64"):
            arrfile.save(tmp_path / "bad.arr", np.zeros(1), attrs=attrs)
    assert not (tmp_path / "bad.arr").exists()


def test_nesting_of_64_levels_is_accepted(tmp_path: Path) -> None:
    meta = b'{"a":' + b"[" * 63 + b"1" + b"]" * 63 + b"}"
    path = build(tmp_path, lambda d: None, metadata=meta)
    value = arrfile.info(path)["attributes"]["a"]
    depth = 1
    while isinstance(value, list):
        value, depth = value[0], depth + 1
    assert depth == 64


def test_absurd_nesting_is_reported_not_crashing(tmp_path: Path) -> None:
    """Nesting beyond what the parser handles (CPython's recursion limit) is R23, not a crash."""
    meta = b'{"a":' + b"[" * 1700 + b"]" * 1700 + b"}"
    path = build(tmp_path, lambda d: None, metadata=meta)
    with pytest.raises(arrfile.MetadataNotObjectError) as excinfo:
        arrfile.info(path)
    assert excinfo.value.check == "R23" and "at most 64 levels deep" in str(excinfo.value)


def test_nesting_of_65_levels_is_refused(tmp_path: Path) -> None:
    """Spec §7.1: readers refuse nesting beyond 64 levels (R23), naming the depth found."""
    meta = b'{"a":{"b":' + b"[" * 63 + b"1" + b"]" * 63 + b"}}"
    path = build(tmp_path, lambda d: None, metadata=meta)
    with pytest.raises(arrfile.MetadataNotObjectError) as excinfo:
        arrfile.info(path)
    assert excinfo.value.check == "R23" and "found 65 levels" in str(excinfo.value)


def test_nonzero_padding_reports_offset(tmp_path: Path) -> None:
    path = build(tmp_path, lambda d: put(d, 4095, 1, 0x7F))
    err = error_of(path)
    assert err.check == "R24" and "4095" in str(err) and "0x7f" in str(err)


def test_error_object(tmp_path: Path) -> None:
    path = build(tmp_path, lambda d: put(d, 34, 1, 9))
    err = error_of(path)
    assert isinstance(err, arrfile.InvalidByteOrderError) and isinstance(err, arrfile.ArrfileError)
    assert (err.kind, err.check, err.path) == ("invalid_byte_order", "R10", str(path))
    assert err.found == "9" and "0 (little) or 1 (big)" in str(err.expected)
    assert str(err).startswith(f"{path}: invalid_byte_order (R10):")
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is type(err) and (clone.kind, clone.check, clone.path, str(clone)) == (err.kind, err.check, err.path, str(err))


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        arrfile.open(tmp_path / "nope.arr")


def test_every_kind_has_a_class() -> None:
    kinds = {cls.kind for cls in arrfile.CHECK_ERRORS.values()}
    assert len(arrfile.CHECK_ERRORS) == 25 and len(kinds) == 24  # truncated_header is R2 and R4
    assert list(arrfile.CHECK_ERRORS)[14] == "R25"  # 1.1: applied right after R14


# --------------------------------------------------------------------------- format 1.1


def test_r25_comes_right_after_r14_and_before_r15(tmp_path: Path) -> None:
    def m(d: bytearray) -> None:
        put(d, 16, 8, 1)  # APPEND_IN_PROGRESS
        put(d, 72, 8, 3)  # append_base_len != data_len (4)
        put(d, 48, 8, (16 << 20) + 1)  # R15 too

    err = error_of(build(tmp_path, m))
    assert (err.kind, err.check) == ("append_base_len_mismatch", "R25")
    assert isinstance(err, arrfile.AppendBaseLenMismatchError)
    assert "append_base_len" in str(err) and err.found == "3"

    def r14(d: bytearray) -> None:
        m(d)
        put(d, 64, 8, 5)  # data_len wrong: R14 first

    assert error_of(build(tmp_path, r14, name="g.arr")).check == "R14"


def test_offset_72_is_reserved_only_while_bit_0_is_clear(tmp_path: Path) -> None:
    assert error_of(build(tmp_path, lambda d: put(d, 72, 8, 4))).check == "R8"
    ok = build(tmp_path, lambda d: (put(d, 16, 8, 1), put(d, 72, 8, 4))[0], name="ok.arr")
    assert arrfile.info(ok)["append_in_progress"] and arrfile.open(ok).tolist() == [1, 2, 3, 4]
    for offset in (80, 127):
        err = error_of(build(tmp_path, lambda d: (put(d, 16, 8, 1), put(d, 72, 8, 4), put(d, offset, 1, 1))[0], name=f"r{offset}.arr"))
        assert (err.check, err.found) == ("R8", f"0x01 at offset {offset}")


def test_trailing_bytes_are_uncommitted_rows_only_while_bit_0_is_set(tmp_path: Path) -> None:
    tail = lambda d: d + b"\x07\x08\x09"  # noqa: E731
    assert error_of(build(tmp_path, tail)).check == "R20"
    path = build(tmp_path, lambda d: (put(d, 16, 8, 1), put(d, 72, 8, 4), tail(d))[2], name="mid.arr")
    a = arrfile.open(path)
    assert a.tolist() == [1, 2, 3, 4] and a.shape == (4,)  # the committed array only
    info = arrfile.info(path)
    assert (info["file_len"], info["uncommitted_len"]) == (4100, 3)
    assert arrfile.verify(path).ok  # the base CRC covers the committed payload
    assert np.array(arrfile.lazy(path)).tolist() == [1, 2, 3, 4]
    # R19 still applies.
    short = build(tmp_path, lambda d: (put(d, 16, 8, 1), put(d, 72, 8, 4), d[:-1])[2], name="short.arr")
    assert error_of(short).check == "R19"


def test_other_required_bits_are_still_refused(tmp_path: Path) -> None:
    for bit in (1, 2, 63):
        err = error_of(build(tmp_path, lambda d: (put(d, 16, 8, 1 | (1 << bit)), put(d, 72, 8, 4))[0], name=f"b{bit}.arr"))
        assert (err.check, err.kind) == ("R6", "unsupported_required_feature")
