"""The *being modified* protocol of spec §8: open r+, commit, c and r modes, locks."""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import arrfile
from conftest import FIXTURES
from helpers import header_bytes, header_crc_ok, payload_crc_on_disk, u32


@pytest.fixture
def f32_file(tmp_path: Path) -> Path:
    path = tmp_path / "x.arr"
    arrfile.save(path, np.arange(12, dtype=np.float32).reshape(3, 4), {"k": 1})
    return path


def test_open_r_plus_sets_being_modified_before_handing_out_the_map(f32_file: Path) -> None:
    before = header_bytes(f32_file)
    assert before[37] == 1 and u32(before, 40) != 0
    mm = arrfile.open(f32_file, "r+")
    head = header_bytes(f32_file)
    assert head[37] == 2                      # checksum_state: being modified
    assert u32(head, 40) == 0                 # payload_crc 0
    assert header_crc_ok(head)                # new header_crc
    assert head[:37] == before[:12] + head[12:16] + before[16:37]  # nothing else changed
    assert head[38:40] == before[38:40] and head[44:] == before[44:]
    assert arrfile.info(f32_file)["checksum_state"] == "being_modified"
    assert arrfile.verify(f32_file).outcome == "not_verifiable"
    assert mm.flags.writeable and mm.mode == "r+"
    arrfile.commit(mm)


def test_commit_writes_valid_state_and_crc_of_bytes_on_disk(f32_file: Path) -> None:
    mm = arrfile.open(f32_file, "r+")
    mm[1, 2] = -7.5
    mm[2] *= 2
    crc = arrfile.commit(mm)
    head = header_bytes(f32_file)
    assert head[37] == 1
    assert u32(head, 40) == crc == payload_crc_on_disk(f32_file)
    assert header_crc_ok(head)
    expected = np.arange(12, dtype=np.float32).reshape(3, 4)
    expected[1, 2] = -7.5
    expected[2] *= 2
    assert np.array_equal(arrfile.open(f32_file), expected)
    assert arrfile.verify(f32_file).ok
    assert arrfile.info(f32_file)["attributes"] == {"k": 1}
    assert not mm.flags.writeable  # committed maps are frozen


def test_commit_through_a_view(f32_file: Path) -> None:
    mm = arrfile.open(f32_file, "r+")
    view = mm[1:, ::2]
    view[...] = 0
    arrfile.commit(view)
    assert arrfile.verify(f32_file).ok
    assert np.count_nonzero(arrfile.open(f32_file)[1:, ::2]) == 0


def test_commit_by_path_of_own_session(f32_file: Path) -> None:
    mm = arrfile.open(f32_file, "r+")
    mm[0, 0] = 99
    arrfile.commit(str(f32_file))
    assert arrfile.open(f32_file)[0, 0] == 99 and arrfile.verify(f32_file).ok


def test_commit_by_path_of_file_left_being_modified(tmp_path: Path) -> None:
    path = tmp_path / "bm.arr"
    path.write_bytes((FIXTURES / "valid" / "checksum_being_modified.arr").read_bytes())
    crc = arrfile.commit(path)
    assert arrfile.info(path)["checksum_state"] == "valid"
    assert crc == payload_crc_on_disk(path) and arrfile.verify(path).ok


def test_commit_of_plain_array_is_refused(f32_file: Path) -> None:
    with pytest.raises(TypeError, match="r\\+"):
        arrfile.commit(np.zeros(3))
    with pytest.raises(TypeError):
        arrfile.commit(arrfile.open(f32_file))  # read-only map: not an r+ map


def test_second_in_place_writer_is_locked_out(f32_file: Path) -> None:
    mm = arrfile.open(f32_file, "r+")
    with pytest.raises(arrfile.LockedError) as excinfo:
        arrfile.open(f32_file, "r+")
    assert excinfo.value.kind == "locked" and str(f32_file) in str(excinfo.value)
    # another process is locked out as well
    code = f"import arrfile,sys\ntry:\n arrfile.open({str(f32_file)!r},'r+')\nexcept arrfile.LockedError:\n sys.exit(3)\n"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 3
    arrfile.commit(mm)
    again = arrfile.open(f32_file, "r+")  # lock released by commit
    arrfile.commit(again)


def test_garbage_collected_map_releases_lock_and_leaves_state_2(f32_file: Path) -> None:
    mm = arrfile.open(f32_file, "r+")
    mm[0, 0] = 5
    mm.flush()
    del mm
    gc.collect()
    assert header_bytes(f32_file)[37] == 2
    mm2 = arrfile.open(f32_file, "r+")
    assert mm2[0, 0] == 5
    arrfile.commit(mm2)
    assert arrfile.verify(f32_file).ok


def test_crashed_writer_leaves_honest_state(f32_file: Path) -> None:
    code = (
        "import arrfile, os\n"
        f"mm = arrfile.open({str(f32_file)!r}, 'r+')\n"
        "mm[0, 1] = 1234.0\n"
        "mm.flush()\n"
        "os._exit(0)\n"  # dies without commit
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    info = arrfile.info(f32_file)
    assert info["checksum_state"] == "being_modified" and info["payload_crc"] == 0
    assert arrfile.verify(f32_file).outcome == "not_verifiable"
    assert arrfile.open(f32_file)[0, 1] == 1234.0


def test_r_plus_of_state_absent_file_commits_to_valid(tmp_path: Path) -> None:
    path = tmp_path / "abs.arr"
    path.write_bytes((FIXTURES / "valid" / "checksum_absent.arr").read_bytes())
    mm = arrfile.open(path, "r+")
    assert header_bytes(path)[37] == 2
    mm[0] = 200
    arrfile.commit(mm)
    assert arrfile.verify(path).ok and arrfile.open(path)[0] == 200


def test_r_plus_keeps_unknown_optional_bits_and_minor_version(tmp_path: Path) -> None:
    for name in ("unknown_optional_feature.arr", "minor_version_7.arr"):
        path = tmp_path / name
        original = (FIXTURES / "valid" / name).read_bytes()
        path.write_bytes(original)
        arrfile.commit(arrfile.open(path, "r+"))
        after = path.read_bytes()
        assert after[:12] == original[:12] and after[16:] == original[16:]  # only the header CRC could differ
        assert arrfile.verify(path).ok


def test_r_plus_empty_payload(tmp_path: Path) -> None:
    path = tmp_path / "e.arr"
    arrfile.save(path, np.zeros((0, 4), np.float64))
    mm = arrfile.open(path, "r+")
    assert isinstance(mm, np.memmap) and mm.shape == (0, 4) and mm.size == 0
    assert header_bytes(path)[37] == 2
    assert arrfile.commit(mm) == 0
    assert header_bytes(path)[37] == 1 and arrfile.verify(path).ok


def test_r_plus_zero_d(tmp_path: Path) -> None:
    path = tmp_path / "z.arr"
    arrfile.save(path, np.float64(2.5))
    mm = arrfile.open(path, "r+")
    mm[...] = 7.25
    arrfile.commit(mm)
    assert float(arrfile.open(path)) == 7.25 and arrfile.verify(path).ok


def _digest(path: Path) -> tuple[str, int]:
    st = path.stat()
    return hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mtime_ns


def test_copy_on_write_never_changes_the_file(f32_file: Path) -> None:
    before = _digest(f32_file)
    mm = arrfile.open(f32_file, "c")
    assert mm.flags.writeable and mm.mode == "c"
    mm[:] = -1
    mm.flush()
    assert np.all(mm == -1)
    del mm
    gc.collect()
    assert _digest(f32_file) == before
    assert arrfile.verify(f32_file).ok


def test_read_only_map_refuses_writes(f32_file: Path) -> None:
    mm = arrfile.open(f32_file)
    with pytest.raises(ValueError):
        mm[0, 0] = 1
    empty = f32_file.with_name("e.arr")
    arrfile.save(empty, np.zeros(0))
    empty_map = arrfile.open(empty)
    assert not empty_map.flags.writeable and empty_map.filename == str(empty) and empty_map.offset == 4096


def test_open_never_reads_the_payload_for_r_plus_failure(tmp_path: Path) -> None:
    """A file that fails a check is not touched by r+ (no state change)."""
    path = tmp_path / "bad.arr"
    arrfile.save(path, np.zeros(4))
    data = bytearray(path.read_bytes())
    data[700] = 1  # non-zero padding: R24
    path.write_bytes(bytes(data))
    with pytest.raises(arrfile.NonzeroPaddingError):
        arrfile.open(path, "r+")
    assert path.read_bytes() == bytes(data)


def test_bad_mode() -> None:
    with pytest.raises(ValueError, match="mode"):
        arrfile.open(FIXTURES / "valid" / "smallest.arr", "w+")


def test_payload_target_for_existing_file(f32_file: Path) -> None:
    with pytest.raises(arrfile.NotBeingModifiedError):
        arrfile.payload_target(f32_file)
    mm = arrfile.open(f32_file, "r+")
    target = arrfile.payload_target(f32_file)
    code = (
        "import pickle, sys, numpy as np\n"
        "t = pickle.loads(sys.stdin.buffer.read())\n"
        "t[0] = np.array([10, 20, 30, 40], dtype=np.float32)\n"
    )
    subprocess.run([sys.executable, "-c", code], input=pickle.dumps(target), check=True)
    arrfile.commit(mm)
    assert np.array_equal(arrfile.open(f32_file)[0], [10, 20, 30, 40]) and arrfile.verify(f32_file).ok
    with pytest.raises(arrfile.NotBeingModifiedError):
        target[0] = 1  # state is valid again: workers may not write


def test_payload_target_refuses_a_different_file(f32_file: Path) -> None:
    mm = arrfile.open(f32_file, "r+")
    target = arrfile.payload_target(f32_file)
    arrfile.commit(mm)
    arrfile.save(f32_file, np.zeros((4, 3), np.float32))
    other = arrfile.open(f32_file, "r+")
    with pytest.raises(arrfile.TargetMismatchError) as excinfo:
        target[0] = 1
    assert "shape" in str(excinfo.value)
    arrfile.commit(other)


def test_commit_refuses_when_the_path_now_names_another_file(f32_file: Path, tmp_path: Path) -> None:
    mm = arrfile.open(f32_file, "r+")
    # save() now refuses to replace a file an r+ session holds (issue 12); a program that
    # ignores locks can still rename another file over the path while the r+ map is out.
    with pytest.raises(arrfile.LockedError):
        arrfile.save(f32_file, np.ones(2))
    arrfile.save(tmp_path / "other.arr", np.ones(2))
    os.replace(tmp_path / "other.arr", f32_file)
    with pytest.raises(arrfile.ArrfileError, match="replaced"):
        arrfile.commit(mm)
    assert arrfile.verify(f32_file).ok  # the new file is untouched
