"""Cross-implementation tests against the Rust CLI (``ARRFILE_BIN``, default target/debug/arrfile).

Run separately with ``pytest -m cli``; without the binary these tests FAIL with a
message saying how to build it (CI builds it first).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

import arrfile

pytestmark = pytest.mark.cli

COMPARED_KEYS = ("dtype", "shape", "order", "byte_order", "data_offset", "data_len",
                 "checksum_state", "payload_crc", "attributes")


def run(binary: Path, *args: Any) -> subprocess.CompletedProcess:
    """Run the CLI, capturing output."""
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=120)


def describe(result: subprocess.CompletedProcess) -> str:
    """Command, exit code and output, for failure messages."""
    return f"`{' '.join(result.args)}` exited {result.returncode}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"


def cli_info(binary: Path, path: Path) -> dict[str, Any]:
    """``arrfile info PATH --json`` parsed."""
    result = run(binary, "info", path, "--json")
    assert result.returncode == 0, describe(result)
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"`arrfile info --json` did not print JSON\n{describe(result)}")
    assert isinstance(data, dict), describe(result)
    return data


def cli_ok(binary: Path, *args: Any) -> subprocess.CompletedProcess:
    """Run the CLI and require exit code 0."""
    result = run(binary, *args)
    assert result.returncode == 0, describe(result)
    return result


ARRAYS = {
    "f32_c": lambda: np.arange(12, dtype=np.float32).reshape(3, 4) / 3,
    "f64_big": lambda: np.linspace(-1, 1, 10).astype(">f8").reshape(2, 5),
    "i16_f3d": lambda: np.asfortranarray(np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 12),
    "bf16": lambda: np.arange(6, dtype=np.float32).astype(ml_dtypes.bfloat16),
    "f8_e5m2": lambda: np.arange(6, dtype=np.float32).astype(ml_dtypes.float8_e5m2),
    "bool": lambda: np.array([[True, False], [False, True]]),
    "c128": lambda: (np.arange(4) + 1j * np.arange(4)[::-1]).astype(np.complex128),
    "u64_0d": lambda: np.array(2**63 + 5, dtype=np.uint64),
    "empty": lambda: np.zeros((0, 3), np.float32),
}


@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_python_files_pass_cli_verify_and_info_agrees(name: str, tmp_path: Path, arrfile_bin: Path) -> None:
    path = tmp_path / f"{name}.arr"
    attrs = {"source": "python", "name": name, "µ": [1, 2.5, None]} if name in ("f32_c", "bool") else None
    arrfile.save(path, ARRAYS[name](), attrs, alignment=65536 if name == "c128" else 4096)
    cli_ok(arrfile_bin, "verify", path)
    theirs = cli_info(arrfile_bin, path)
    ours = arrfile.info(path)
    for key in COMPARED_KEYS:
        assert key in theirs, f"`arrfile info --json` lacks key {key!r}: {theirs}"
        assert theirs[key] == ours[key], f"{key}: CLI says {theirs[key]!r}, Python says {ours[key]!r}"


def test_cli_verify_exit_codes(tmp_path: Path, arrfile_bin: Path) -> None:
    good = tmp_path / "good.arr"
    bad = tmp_path / "bad.arr"
    arrfile.save(good, np.arange(100, dtype=np.float64))
    arrfile.save(bad, np.arange(100, dtype=np.float64))
    data = bytearray(bad.read_bytes())
    data[4096 + 17] ^= 0x40  # flip a payload bit: the valid CRC no longer matches
    bad.write_bytes(bytes(data))
    assert arrfile.verify(bad).corrupt
    cli_ok(arrfile_bin, "verify", good)
    assert run(arrfile_bin, "verify", bad).returncode == 1, describe(run(arrfile_bin, "verify", bad))
    assert run(arrfile_bin, "verify", good, bad).returncode == 1
    missing = run(arrfile_bin, "verify", tmp_path / "missing.arr")
    assert missing.returncode == 2, describe(missing)


def test_python_r_plus_commit_passes_cli_verify(tmp_path: Path, arrfile_bin: Path) -> None:
    path = tmp_path / "m.arr"
    arrfile.save(path, np.zeros((50, 20), np.float32))
    mm = arrfile.open(path, "r+")
    assert cli_info(arrfile_bin, path)["checksum_state"] == "being_modified"
    mm[10:20] = 3.0
    arrfile.commit(mm)
    cli_ok(arrfile_bin, "verify", path)
    assert cli_info(arrfile_bin, path)["payload_crc"] == arrfile.info(path)["payload_crc"]


NPY_ARRAYS = {
    "f32_c": lambda: np.arange(30, dtype=np.float32).reshape(10, 3) * 0.5,
    "f64_fortran": lambda: np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
    "i32_big": lambda: np.arange(8, dtype=">i4").reshape(2, 4) - 3,
    "bool": lambda: np.array([True, False, True]),
    "c64": lambda: np.array([1 + 2j, -3.5j], dtype=np.complex64),
    "u8_0d": lambda: np.array(42, dtype=np.uint8),
    "empty": lambda: np.zeros((0, 5), np.int64),
}


@pytest.mark.parametrize("name", sorted(NPY_ARRAYS))
def test_cli_convert_of_numpy_npy_reads_in_python(name: str, tmp_path: Path, arrfile_bin: Path) -> None:
    original = NPY_ARRAYS[name]()
    npy = tmp_path / f"{name}.npy"
    np.save(npy, original)
    out = tmp_path / f"{name}.arr"
    cli_ok(arrfile_bin, "convert", npy, "-o", out)
    loaded = arrfile.open(out)
    assert loaded.shape == original.shape
    assert loaded.dtype == original.dtype
    assert np.array_equal(loaded, original)
    info = arrfile.info(out)
    if original.ndim >= 2 and original.flags.f_contiguous and not original.flags.c_contiguous:
        assert info["order"] == "F"
    assert arrfile.verify(out).outcome in ("valid", "not_verifiable")
    assert arrfile.verify(out).outcome == "valid" or info["checksum_state"] == "absent"


@pytest.mark.parametrize("name", ["f32_c", "f64_fortran", "i32_big", "bool", "u8_0d", "empty"])
def test_python_save_and_cli_convert_are_byte_identical(name: str, tmp_path: Path, arrfile_bin: Path) -> None:
    """Spec §10.2: same description, no attributes, default alignment, same payload."""
    npy = tmp_path / f"{name}.npy"
    np.save(npy, NPY_ARRAYS[name]())
    theirs = tmp_path / "cli.arr"
    ours = tmp_path / "py.arr"
    cli_ok(arrfile_bin, "convert", npy, "-o", theirs)
    arrfile.save(ours, np.load(npy))
    assert theirs.read_bytes() == ours.read_bytes(), (
        f"CLI header {theirs.read_bytes()[:128].hex()} != Python header {ours.read_bytes()[:128].hex()}"
    )


def test_cli_convert_raw(tmp_path: Path, arrfile_bin: Path) -> None:
    original = (np.arange(30, dtype="<f4") - 7.25).reshape(10, 3)
    raw = tmp_path / "raw.dat"
    raw.write_bytes(original.tobytes())
    out = tmp_path / "raw.arr"
    cli_ok(arrfile_bin, "convert", raw, "--dtype", "f32", "--shape", "10,3", "-o", out)
    info = arrfile.info(out)
    assert (info["dtype"], info["shape"], info["order"], info["byte_order"]) == ("f32", [10, 3], "C", "little")
    assert np.array_equal(arrfile.open(out), original)
    assert arrfile.verify(out).outcome != "payload_checksum_mismatch"


@pytest.mark.parametrize("order", ["C", "F"])
def test_cli_create_reads_in_python(order: str, tmp_path: Path, arrfile_bin: Path) -> None:
    out = tmp_path / "c.arr"
    args = ["create", out, "--dtype", "f32", "--shape", "4,5"] + (["--order", "F"] if order == "F" else [])
    cli_ok(arrfile_bin, *args)
    info = arrfile.info(out)
    assert (info["dtype"], info["shape"], info["order"]) == ("f32", [4, 5], order)
    assert info["checksum_state"] in ("absent", "valid")
    assert arrfile.verify(out).outcome != "payload_checksum_mismatch"
    loaded = arrfile.open(out)
    assert loaded.shape == (4, 5) and np.all(loaded == 0)
    assert loaded.flags.f_contiguous == (order == "F")
    loaded.close()  # a reader's shared lock would refuse the r+ open below (issue 12)
    # Python can then fill it in place, and the CLI agrees with the result
    mm = arrfile.open(out, "r+")
    mm[:] = np.arange(20, dtype=np.float32).reshape(4, 5)
    arrfile.commit(mm)
    cli_ok(arrfile_bin, "verify", out)


@pytest.mark.parametrize("name", ["f32_c", "f64_big", "i16_f3d", "bool", "u64_0d", "empty"])
def test_cli_export_of_python_file(name: str, tmp_path: Path, arrfile_bin: Path) -> None:
    original = ARRAYS[name]()
    path = tmp_path / "e.arr"
    arrfile.save(path, original)
    npy = tmp_path / "e.npy"
    cli_ok(arrfile_bin, "export", path, "-o", npy)
    back = np.load(npy)
    assert back.shape == original.shape
    assert back.dtype.newbyteorder("=") == original.dtype.newbyteorder("=")
    assert np.array_equal(back, original)


def test_cli_clean_recognises_python_temp_files(tmp_path: Path, arrfile_bin: Path) -> None:
    """A killed Python writer leaves `.<name>.arrtmp-*`; the CLI's `clean` recognises it."""
    code = (
        "import arrfile, os\n"
        f"w = arrfile.create({str(tmp_path / 'k.arr')!r}, 'f32', (3,))\n"
        "os._exit(1)\n"
    )
    subprocess.run([sys.executable, "-c", code])
    arrfile.save(tmp_path / "keep.arr", np.zeros(2))
    assert [p.name for p in tmp_path.iterdir() if ".arrtmp-" in p.name]
    cli_ok(arrfile_bin, "clean", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.arr"]
