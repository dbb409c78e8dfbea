"""The xarray backend (engine="arrfile"), the attribute convention and to_arrfile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import arrfile
from arrfile.xarray_backend import ConventionError, decode_convention
from http_server import RangeServer, time_limit


@pytest.fixture(autouse=True)
def bounded_time() -> Iterator[None]:
    """Every test here is bounded in time: a hung request fails it instead of hanging CI."""
    with time_limit(120):
        yield

X = np.random.default_rng(5).standard_normal((48, 6)).astype(np.float32)


@pytest.fixture
def labelled() -> xr.DataArray:
    return xr.DataArray(
        X,
        dims=("time", "sensor"),
        coords={
            "time": pd.date_range("2026-01-01", periods=48, freq="h"),
            "sensor": ["a", "b", "c", "d", "e", "f"],
            "height": ("sensor", np.arange(6, dtype=np.float64) * 1.5, {"units": "m"}),
            "good": ("sensor", np.array([True, False] * 3)),
        },
        name="temperature",
        attrs={"units": "K", "scale": np.float32(0.5), "history": ["made", "saved"]},
    )


def test_backend_is_registered() -> None:
    assert "arrfile" in xr.backends.list_engines()


def test_round_trip_through_to_arrfile(tmp_path: Path, labelled: xr.DataArray) -> None:
    p = tmp_path / "t.arr"
    arrfile.to_arrfile(labelled, p)
    stored = arrfile.info(p)["attributes"]
    assert stored["dims"] == ["time", "sensor"] and stored["name"] == "temperature" and stored["units"] == "K"
    assert stored["coords"]["time"]["dtype"] == f"datetime64[{np.datetime_data(labelled.time.dtype)[0]}]"
    back = xr.open_dataarray(p, engine="arrfile")
    xr.testing.assert_identical(back.load(), labelled.assign_attrs(scale=0.5))
    assert arrfile.verify(p).ok


def test_open_dataarray_is_lazy_with_dask_chunks(tmp_path: Path, labelled: xr.DataArray) -> None:
    p = tmp_path / "t.arr"
    arrfile.to_arrfile(labelled, p)
    back = xr.open_dataarray(p, engine="arrfile", chunks={"time": 10})
    assert isinstance(back.data, da.Array) and back.chunks == ((10, 10, 10, 10, 8), (6,))
    np.testing.assert_allclose(back.mean("time").values, X.mean(axis=0, dtype=np.float64), rtol=1e-4, atol=1e-6)
    assert back.sel(sensor="c").isel(time=slice(3, 7)).values.tolist() == X[3:7, 2].tolist()
    back.close()


def test_open_dataset_without_chunks_reads_lazily(tmp_path: Path, labelled: xr.DataArray) -> None:
    p = tmp_path / "t.arr"
    arrfile.to_arrfile(labelled, p)
    ds = xr.open_dataset(p, engine="arrfile")
    assert list(ds.data_vars) == ["temperature"] and not ds["temperature"].variable._in_memory
    assert ds["temperature"][5, 1].item() == pytest.approx(float(X[5, 1]))
    assert ds["temperature"].isel(sensor=[0, 2]).values.tolist() == X[:, [0, 2]].tolist()  # outer indexing
    ds.close()


def test_plain_file_gets_default_dims_and_name(tmp_path: Path) -> None:
    p = tmp_path / "plain.arr"
    arrfile.save(p, np.arange(24, dtype=np.int16).reshape(2, 3, 4), {"units": "counts"})
    back = xr.open_dataarray(p, engine="arrfile")
    assert back.dims == ("dim_0", "dim_1", "dim_2") and back.name == "data" and back.attrs == {"units": "counts"}
    assert np.array_equal(back.values, np.arange(24).reshape(2, 3, 4))
    with open(p, "rb"):
        pass
    assert xr.open_dataarray(str(p)).dims == ("dim_0", "dim_1", "dim_2")  # guessed from the extension


def test_dask_backed_data_array_is_saved_slab_by_slab(tmp_path: Path, labelled: xr.DataArray) -> None:
    chunked = labelled.chunk({"time": 7}) * 2
    p = tmp_path / "c.arr"
    arrfile.to_arrfile(chunked, p)
    back = xr.open_dataarray(p, engine="arrfile").load()
    np.testing.assert_array_equal(back.values, X * 2)
    assert back.dims == ("time", "sensor")


def test_over_http(tmp_path: Path, labelled: xr.DataArray) -> None:
    arrfile.to_arrfile(labelled, tmp_path / "t.arr")
    with RangeServer(tmp_path) as server:
        back = xr.open_dataarray(server.url("t.arr"), engine="arrfile", chunks={"time": 16})
        server.reset()
        part = back.isel(time=slice(16, 32)).values
        assert part.tolist() == X[16:32].tolist()
        assert server.gets() == [f"bytes={4096 + 16 * 24}-{4096 + 32 * 24 - 1}"]
        back.close()


@pytest.mark.parametrize("attrs, key", [
    ({"dims": ["a"]}, "dims"),
    ({"dims": ["a", "a"]}, "dims"),
    ({"dims": "ab"}, "dims"),
    ({"dims": ["a", ""]}, "dims"),
    ({"name": 3}, "name"),
    ({"coords": []}, "coords"),
    ({"dims": ["a", "b"], "coords": {"a": [1, 2]}}, "coords.a"),
    ({"dims": ["a", "b"], "coords": {"a": {"data": [1, 2, 3]}}}, "coords.a.data"),
    ({"dims": ["a", "b"], "coords": {"z": {"dims": ["q"], "data": [1]}}}, "coords.z.dims"),
    ({"dims": ["a", "b"], "coords": {"a": {"data": [1, 2], "dtype": "object"}}}, "coords.a.dtype"),
    ({"dims": ["a", "b"], "coords": {"a": {"data": [{"x": 1}, 2]}}}, "coords.a.data"),
    ({"dims": ["a", "b"], "coords": {"a": {"data": ["x", "y"], "dtype": "datetime64[ns]"}}}, "coords.a.data"),
    ({"dims": ["a", "b"], "coords": {"a": {"data": [1, 2], "attrs": 5}}}, "coords.a.attrs"),
])
def test_malformed_convention_is_a_clear_error(tmp_path: Path, attrs: dict[str, Any], key: str) -> None:
    p = tmp_path / "bad.arr"
    arrfile.save(p, np.zeros((2, 3), np.uint8), attrs)
    with pytest.raises(ConventionError) as excinfo:
        xr.open_dataarray(p, engine="arrfile")
    message = str(excinfo.value)
    assert str(p) in message and f"{key}:" in message and "expected" in message and "found" in message


def test_decode_convention_direct() -> None:
    dims, coords, name, rest = decode_convention({"dims": ["x"], "coords": {"x": {"data": [1.5, 2.5]}}, "k": 1}, (2,), "f")
    assert dims == ("x",) and name is None and rest == {"k": 1} and coords["x"].values.tolist() == [1.5, 2.5]


def test_to_arrfile_refusals(tmp_path: Path, labelled: xr.DataArray) -> None:
    with pytest.raises(ValueError, match="clash"):
        arrfile.to_arrfile(labelled.assign_attrs(dims="x"), tmp_path / "a.arr")
    with pytest.raises(ValueError, match="NaN"):
        arrfile.to_arrfile(labelled.assign_coords(height=("sensor", [np.nan] * 6)), tmp_path / "b.arr")
    with pytest.raises(TypeError):
        arrfile.to_arrfile(X, tmp_path / "c.arr")
    assert not list(tmp_path.iterdir())


def test_attribute_bytes_are_plain_json(tmp_path: Path, labelled: xr.DataArray) -> None:
    p = tmp_path / "t.arr"
    arrfile.to_arrfile(labelled, p)
    raw = p.read_bytes()[640:640 + arrfile.info(p)["metadata_len"]]
    doc = json.loads(raw)
    assert doc["coords"]["sensor"] == {"dims": ["sensor"], "dtype": "str", "data": list("abcdef")}
    assert doc["coords"]["height"]["attrs"] == {"units": "m"}
