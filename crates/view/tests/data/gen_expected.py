#!/usr/bin/env python3
"""Writes what numpy (and ml_dtypes) say about test arrays, for crates/view/tests/numpy.rs.

    python3 -m venv .venv && .venv/bin/pip install numpy ml_dtypes
    .venv/bin/python crates/view/tests/data/gen_expected.py

Makes npy/*.npy and npy/*.dat (raw bf16/fp8) with real numpy, then expected.json: for every
valid arrfile fixture and every file made here, numpy's str() of the array and of a few
slices, nanmin/nanmax/nanmean/nanstd and the NaN/inf/zero counts (whole and along axis 0),
and np.isclose-based difference counts for pairs. The Rust tests need no Python.
"""
import json
import struct
import sys
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
NPY = HERE / "npy"

CODES = {1: "bool", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 6: "uint8", 7: "uint16",
         8: "uint32", 9: "uint64", 10: "float16", 11: "bfloat16", 12: "float32", 13: "float64",
         14: "complex64", 15: "complex128", 16: "float8_e4m3fn", 17: "float8_e5m2"}
NAMES = {"bool": "bool", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
         "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64", "float16": "f16",
         "bfloat16": "bf16", "float32": "f32", "float64": "f64", "complex64": "c64",
         "complex128": "c128", "float8_e4m3fn": "f8_e4m3fn", "float8_e5m2": "f8_e5m2"}


def np_dtype(name):
    return np.dtype(getattr(ml_dtypes, name)) if name in ("bfloat16", "float8_e4m3fn", "float8_e5m2") else np.dtype(name)


def read_arrfile(path):
    data = path.read_bytes()
    code, byte_order, order, ndim = struct.unpack_from("<HBBB", data, 32)
    offset, length = struct.unpack_from("<QQ", data, 56)
    shape = struct.unpack_from(f"<{ndim}Q", data, 128)
    name = CODES[code]
    dt = np_dtype(name).newbyteorder(">" if byte_order else "<") if np_dtype(name).itemsize > 1 else np_dtype(name)
    a = np.frombuffer(data[offset:offset + length], dtype=dt).reshape(shape, order="F" if order else "C")
    desc = {"dtype": NAMES[name], "shape": list(shape), "order": "F" if order else "C",
            "byte_order": "big" if byte_order else "little"}
    return a, desc


def as_float(v):
    v = float(v)
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return v


def summary(a):
    """The statistics, as numpy's nan* functions give them (float64 accumulation)."""
    flat = a.reshape(-1)
    if flat.dtype.kind == "c":
        return None
    integer = flat.dtype.kind in "biu"
    f = flat.astype(np.float64)
    out = {"count": int(flat.size), "nan": int(np.isnan(f).sum()), "pos_inf": int(np.isposinf(f).sum()),
           "neg_inf": int(np.isneginf(f).sum()), "zeros": int((f == 0).sum())}
    nonnan = f[~np.isnan(f)]
    if nonnan.size == 0:
        out.update(min=None, max=None, mean="nan", std="nan")
        return out
    if integer:
        ints = [int(x) for x in flat.astype(object)]
        out["min"], out["max"] = min(ints), max(ints)
        # numpy's mean of integers is exact up to its float64 sum; this is the exact one.
        out["mean"] = float(Fraction(sum(ints), len(ints)))
        out["numpy_mean"] = float(np.mean(flat, dtype=np.float64))
    else:
        out["min"], out["max"] = as_float(np.nanmin(f)), as_float(np.nanmax(f))
        with np.errstate(invalid="ignore"):
            out["mean"] = as_float(np.nanmean(f))
    with np.errstate(invalid="ignore"):
        out["std"] = as_float(np.nanstd(f))
    return out


def slices_for(a):
    exprs = []
    if a.ndim >= 1:
        exprs += ["..., -1", "::-1", "-1", "1:"]
    if a.ndim >= 2:
        exprs += ["0:5, :", ":, ::2", "::-2, 1"]
    if a.ndim >= 3:
        exprs += ["1, ..., 0"]
    out = {}
    for e in exprs:
        try:
            view = eval(f"a[{e}]", {"a": a})
        except IndexError:
            continue
        out[e] = str(view)
    return out


def entry(kind, rel, a, desc, offset=None):
    e = {"kind": kind, "path": rel, "description": desc, "str": str(a), "slices": slices_for(a),
         "stats": summary(a)}
    if offset is not None:
        e["offset"] = offset
    if a.ndim >= 1 and 0 < a.shape[0] <= 64 and a.dtype.kind != "c":
        e["axis0"] = [summary(a[i]) for i in range(a.shape[0])]
    return e


def make_npy():
    """Arrays saved by real numpy: every numpy dtype, both byte orders and orders, 0-d,
    empty, special values, summarised sizes."""
    rng = np.random.default_rng(15)
    arrays = {}
    for name in ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                 "float16", "float32", "float64", "complex64", "complex128"]:
        dt = np.dtype(name)
        if dt.kind == "b":
            base = rng.integers(0, 2, (3, 4)).astype(bool)
        elif dt.kind in "iu":
            info = np.iinfo(dt)
            base = rng.integers(info.min, info.max, (3, 4), dtype=dt, endpoint=True)
        elif dt.kind == "f":
            base = (rng.standard_normal((3, 4)) * 100).astype(dt)
        else:
            base = (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype(dt)
        for bo in "<>":
            for order in "CF":
                a = np.asarray(base, dtype=dt.newbyteorder(bo) if dt.itemsize > 1 else dt, order=order)
                arrays[f"{name}_{'le' if bo == '<' else 'be'}_{order}"] = a
    arrays["f64_0d"] = np.array(3.25)
    arrays["c128_0d"] = np.array(1.5 - 2j)
    arrays["i32_0d"] = np.array(-7, dtype=np.int32)
    arrays["f32_empty"] = np.zeros((0,), dtype=np.float32)
    arrays["i16_empty_2d"] = np.zeros((3, 0), dtype=np.int16)
    arrays["f64_special"] = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-300, 1.5, -2.25])
    arrays["f32_all_nan"] = np.full((4,), np.nan, dtype=np.float32)
    arrays["f64_exp"] = np.array([1e10, 2.5e-7, 3.0, -4e12])
    arrays["f64_big_1d"] = rng.standard_normal(2000)
    arrays["f32_big_2d_F"] = np.asfortranarray(rng.standard_normal((60, 50)).astype(np.float32))
    arrays["i64_big_3d"] = rng.integers(-10**15, 10**15, (12, 11, 10))
    arrays["u64_extremes"] = np.array([0, 2**64 - 1, 2**63, 12345], dtype=np.uint64)
    arrays["i64_extremes"] = np.array([-2**63, 2**63 - 1, -1, 0], dtype=np.int64)
    arrays["f16_special"] = np.array([0.1, 1e-7, 65504, np.inf, np.nan, -0.0], dtype=np.float16)
    arrays["f64_wrap"] = np.arange(40.0) / 3
    arrays["f64_mean_stable"] = 1e9 + rng.standard_normal(3000)
    arrays["c64_special"] = np.array([1 + 2j, complex(np.nan, -3.5), 0, complex(np.inf, 1)], dtype=np.complex64)
    out = []
    for name, a in arrays.items():
        path = NPY / f"{name}.npy"
        np.save(path, a)
        offset = path.stat().st_size - a.nbytes
        order = "F" if (a.ndim > 1 and a.flags.f_contiguous and not a.flags.c_contiguous) else "C"
        bo = "big" if a.dtype.byteorder == ">" else "little"
        desc = {"dtype": NAMES[a.dtype.name], "shape": list(a.shape), "order": order, "byte_order": bo}
        out.append(entry("npy", f"npy/{name}.npy", a, desc, offset))
    # ml_dtypes types: numpy saves them untyped, so they are tested as raw files.
    for name in ["bfloat16", "float8_e4m3fn", "float8_e5m2"]:
        a = np.array([[0.1, -1.5, 3.0], [100.0, np.nan, 0.0]], dtype=np.float32).astype(np_dtype(name))
        path = NPY / f"{name}.dat"
        path.write_bytes(a.tobytes())
        desc = {"dtype": NAMES[name], "shape": list(a.shape), "order": "C", "byte_order": "little"}
        out.append(entry("raw", f"npy/{name}.dat", a, desc, 0))
    return out, arrays


def main():
    NPY.mkdir(exist_ok=True)
    files = []
    for path in sorted((REPO / "fixtures" / "valid").glob("*.arr")):
        a, desc = read_arrfile(path)
        files.append(entry("arr", f"fixtures/valid/{path.name}", a, desc))
    made, arrays = make_npy()
    files += made
    # diff pairs: the same values in another byte order / order, then perturbed copies.
    pairs = []
    for name in ["float32_le_C", "int16_le_C", "complex128_le_C", "f64_special", "f64_big_1d"]:
        a = arrays[name]
        b = a.copy()
        flat = b.reshape(-1)
        if flat.size > 3:
            flat[1] = flat[1] + (1 if a.dtype.kind in "iu" else 1e-7 * (abs(flat[1]) + 1))
            flat[-1] = flat[-1] + 3
        bname = f"diff_{name}_b"
        np.save(NPY / f"{bname}.npy", np.asfortranarray(b).astype(b.dtype.newbyteorder(">")) if b.dtype.itemsize > 1 else b)
        bb = np.load(NPY / f"{bname}.npy")
        desc_b = {"dtype": NAMES[bb.dtype.name], "shape": list(bb.shape),
                  "order": "F" if (bb.ndim > 1 and not bb.flags.c_contiguous) else "C",
                  "byte_order": "big" if bb.dtype.byteorder == ">" else "little"}
        exact = ~((a == bb) | (np.isnan(a) & np.isnan(bb)))
        close = ~np.isclose(a, bb, rtol=1e-5, atol=1e-8, equal_nan=True) if a.dtype.kind != "b" else exact
        first = [list(map(int, i)) for i in zip(*np.nonzero(exact))][:10] if a.ndim else []
        pairs.append({"a": f"npy/{name}.npy", "b": f"npy/{bname}.npy",
                      "b_description": desc_b, "b_offset": (NPY / f"{bname}.npy").stat().st_size - bb.nbytes,
                      "differing_exact": int(exact.sum()), "differing_default_tol": int(close.sum()),
                      "first": first})
    doc = {"numpy": np.__version__, "ml_dtypes": ml_dtypes.__version__,
           "python": sys.version.split()[0], "files": files, "pairs": pairs}
    (HERE / "expected.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"{len(files)} files, {len(pairs)} pairs, numpy {np.__version__}")


if __name__ == "__main__":
    main()
