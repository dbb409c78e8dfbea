"""create()/finish(): in-place filling of a new file, atomicity, cleanup."""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import arrfile
from helpers import header_bytes, payload_crc_on_disk, u32


def temps(directory: Path) -> list[str]:
    """Names of arrfile temporary files in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if ".arrtmp-" in p.name)


def test_nothing_at_final_path_before_finish(tmp_path: Path) -> None:
    final = tmp_path / "out.arr"
    writer = arrfile.create(final, "f32", (4, 5))
    assert not final.exists()
    [temp] = temps(tmp_path)
    assert temp.startswith(".out.arr.arrtmp-")
    assert Path(writer.temp_path).name == temp
    assert header_bytes(Path(writer.temp_path))[37] == 2  # being modified while filled
    assert isinstance(writer.array, np.memmap) and writer.array.dtype == np.float32
    assert np.all(writer.array == 0)
    writer.array[:] = np.arange(20, dtype=np.float32).reshape(4, 5)
    assert not final.exists()
    assert writer.finish() == str(final)
    assert final.exists() and temps(tmp_path) == []
    head = header_bytes(final)
    assert head[37] == 1 and u32(head, 40) == payload_crc_on_disk(final)
    assert np.array_equal(arrfile.open(final), np.arange(20, dtype=np.float32).reshape(4, 5))
    assert arrfile.verify(final).ok
    assert not writer.array.flags.writeable
    with pytest.raises(RuntimeError):
        writer.finish()


def test_create_f_order_attrs_and_spec_names(tmp_path: Path) -> None:
    final = tmp_path / "f.arr"
    with arrfile.create(final, "i8", (3, 4), order="F", attrs={"a": [1]}) as w:
        assert w.array.dtype == np.int8  # spec name i8 = int8
        assert w.array.flags.f_contiguous
        w.array[...] = np.arange(12).reshape(3, 4)
    info = arrfile.info(final)
    assert (info["dtype"], info["order"], info["attributes"]) == ("i8", "F", {"a": [1]})
    assert np.array_equal(arrfile.open(final), np.arange(12).reshape(3, 4))
    assert final.read_bytes()[4096:] == np.arange(12, dtype=np.int8).reshape(3, 4).T.tobytes()


@pytest.mark.parametrize("dtype, name, byte_order", [
    (np.float64, "f64", sys.byteorder), (">i4", "i32", "big"), ("bf16", "bf16", "little"),
    (ml_dtypes.float8_e4m3fn, "f8_e4m3fn", "little"), (np.complex64, "c64", sys.byteorder), ("bool", "bool", "little"),
])
def test_create_dtypes(dtype: object, name: str, byte_order: str, tmp_path: Path) -> None:
    final = tmp_path / "d.arr"
    with arrfile.create(final, dtype, (6,)) as w:
        w.array[:] = np.arange(6) % 2
    info = arrfile.info(final)
    assert info["dtype"] == name and info["byte_order"] == byte_order
    values = np.asarray(arrfile.open(final))
    if values.dtype.kind != "c":
        values = values.astype(np.float32)
    assert np.array_equal(values, np.arange(6) % 2)
    assert arrfile.verify(final).ok


def test_create_zero_d_and_empty(tmp_path: Path) -> None:
    with arrfile.create(tmp_path / "z.arr", "f64", ()) as w:
        w.array[...] = 1.5
    assert float(arrfile.open(tmp_path / "z.arr")) == 1.5
    with arrfile.create(tmp_path / "e.arr", "u16", (5, 0)) as w:
        assert w.array.shape == (5, 0) and isinstance(w.array, np.memmap)
    assert (tmp_path / "e.arr").stat().st_size == 4096
    assert arrfile.verify(tmp_path / "e.arr").ok and arrfile.info(tmp_path / "e.arr")["payload_crc"] == 0
    assert temps(tmp_path) == []


def test_exception_in_with_block_leaves_nothing(tmp_path: Path) -> None:
    final = tmp_path / "x.arr"
    with pytest.raises(KeyError):
        with arrfile.create(final, "f32", (10,)) as w:
            w.array[:] = 1
            raise KeyError("boom")
    assert not final.exists() and temps(tmp_path) == []


def test_abort_keeps_previous_file(tmp_path: Path) -> None:
    final = tmp_path / "x.arr"
    arrfile.save(final, np.ones(3))
    before = final.read_bytes()
    w = arrfile.create(final, "f32", (10,))
    w.array[:] = 5
    w.abort()
    assert final.read_bytes() == before and temps(tmp_path) == []


def test_failed_finish_removes_temp(tmp_path: Path) -> None:
    final = tmp_path / "dir.arr"
    final.mkdir()  # os.replace of a file over a directory fails
    w = arrfile.create(final, "f32", (3,))
    with pytest.raises(OSError):
        w.finish()
    assert final.is_dir() and temps(tmp_path) == []


def test_finish_rechecks_the_temp_file(tmp_path: Path) -> None:
    final = tmp_path / "x.arr"
    w = arrfile.create(final, "u8", (4,))
    with open(w.temp_path, "ab") as f:  # someone appended bytes: R20 must fail
        f.write(b"junk")
    with pytest.raises(arrfile.TrailingBytesError):
        w.finish()
    assert not final.exists() and temps(tmp_path) == []


def test_unfinished_writer_is_cleaned_up_when_collected(tmp_path: Path) -> None:
    w = arrfile.create(tmp_path / "x.arr", "f32", (3,))
    assert temps(tmp_path)
    del w
    gc.collect()
    assert temps(tmp_path) == [] and not (tmp_path / "x.arr").exists()


def test_killed_writer_leaves_only_a_recognisable_temp(tmp_path: Path) -> None:
    code = (
        "import arrfile, os\n"
        f"w = arrfile.create({str(tmp_path / 'k.arr')!r}, 'f32', (3,))\n"
        "os._exit(1)\n"
    )
    subprocess.run([sys.executable, "-c", code])
    assert not (tmp_path / "k.arr").exists()
    [temp] = temps(tmp_path)
    assert temp.startswith(".k.arr.arrtmp-")


def test_save_failure_midway_leaves_no_temp_and_keeps_old(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "x.arr"
    arrfile.save(final, np.zeros(3))
    before = final.read_bytes()
    calls = {"n": 0}
    real = arrfile._write.pwrite_all

    def failing(fd: int, data: object, offset: int) -> None:
        calls["n"] += 1
        if offset >= 4096:
            raise OSError(28, "No space left on device (simulated)")
        real(fd, data, offset)

    monkeypatch.setattr(arrfile._write, "pwrite_all", failing)
    with pytest.raises(OSError, match="simulated"):
        arrfile.save(final, np.ones(1000))
    assert calls["n"] >= 1
    assert final.read_bytes() == before and temps(tmp_path) == []


def test_target_is_picklable_and_writes_from_another_process(tmp_path: Path) -> None:
    final = tmp_path / "t.arr"
    w = arrfile.create(final, ">f8", (4, 3))
    code = (
        "import pickle, sys, numpy as np\n"
        "t = pickle.loads(sys.stdin.buffer.read())\n"
        "t[2:, :] = np.full((2, 3), 9.0)\n"
        "m = t.memmap(); m[0, 0] = -1.0; m.flush()\n"
    )
    subprocess.run([sys.executable, "-c", code], input=pickle.dumps(w.target), check=True)
    w.array[1] = 4.0
    w.finish()
    expected = np.zeros((4, 3))
    expected[2:] = 9.0
    expected[0, 0] = -1.0
    expected[1] = 4.0
    assert np.array_equal(arrfile.open(final), expected) and arrfile.verify(final).ok
    assert arrfile.info(final)["byte_order"] == "big"


@pytest.mark.parametrize("kwargs, error", [
    (dict(dtype="f32", shape=(2,), order="X"), ValueError),
    (dict(dtype="f32", shape=(-1,)), ValueError),
    (dict(dtype="f32", shape=(1,) * 65), ValueError),
    (dict(dtype="u8", shape=(1 << 32, 1 << 31)), ValueError),
    (dict(dtype="U4", shape=(2,)), TypeError),
    (dict(dtype="f32", shape=(2,), attrs={"arrfile.x": 1}), ValueError),
])
def test_create_argument_errors(kwargs: dict, error: type, tmp_path: Path) -> None:
    with pytest.raises(error):
        arrfile.create(tmp_path / "x.arr", **kwargs)
    assert list(tmp_path.iterdir()) == []
