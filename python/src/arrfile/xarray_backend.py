"""xarray support: the ``engine="arrfile"`` backend and :func:`to_arrfile`.

::

    import xarray as xr
    da = xr.open_dataarray("x.arr", engine="arrfile", chunks={})   # lazy, Dask chunks
    ds = xr.open_dataset("https://host/x.arr", engine="arrfile")    # fsspec URL: byte ranges only
    arrfile.to_arrfile(da, "y.arr")                                  # dims, coords, name, attrs

Dimension names, coordinates, the name and the attributes of the array follow
the attribute convention of the spec's informative appendix
("Appendix A. xarray attribute convention", ``spec/arrfile-v1.md``): the
top-level attribute keys ``"dims"``, ``"coords"`` and ``"name"`` belong to the
convention; every other top-level key is an attribute of the DataArray.

This module imports xarray; ``import arrfile`` does not.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Optional, cast

import numpy as np
import xarray as xr
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from ._errors import PathLike
from ._read import LazyArray
from ._remote import is_url
from ._spec import MAGIC

#: Top-level attribute keys that belong to the convention.
CONVENTION_KEYS = ("dims", "coords", "name")
#: Name used for the variable when the file has no ``"name"``.
DEFAULT_NAME = "data"
_DATETIME = re.compile(r"^(datetime64|timedelta64)\[(ns|us|ms|s|m|h|D)\]$")
_COORD_DTYPES = ("bool", "int64", "float64", "str")
#: The largest coordinate (in elements) that to_arrfile writes into the attributes.
MAX_COORD_ELEMENTS = 1_000_000


class ConventionError(ValueError):
    """The attributes break the xarray attribute convention (spec Appendix A)."""


def _fail(where: str, key: str, expected: str, found: Any) -> ConventionError:
    text = repr(found)
    if len(text) > 200:
        text = text[:200] + "..."
    return ConventionError(f"{where}: xarray attribute convention: {key}: expected {expected}, found {text}")


def decode_convention(
    attributes: Optional[Mapping[str, Any]], shape: tuple[int, ...], where: str
) -> tuple[tuple[str, ...], dict[str, xr.Variable], Optional[str], dict[str, Any]]:
    """Dimension names, coordinates, name and remaining attributes from a file's attributes.

    Raises:
        ConventionError: a convention key has the wrong form (the message names
            the file, the key, what was expected and what was found).
    """
    attrs = dict(attributes or {})
    ndim = len(shape)
    dims_raw = attrs.pop("dims", None)
    if dims_raw is None:
        dims = tuple(f"dim_{i}" for i in range(ndim))
    else:
        if (not isinstance(dims_raw, list) or len(dims_raw) != ndim
                or not all(isinstance(d, str) and d for d in dims_raw) or len(set(dims_raw)) != ndim):
            raise _fail(where, "dims", f"a list of {ndim} distinct non-empty strings", dims_raw)
        dims = tuple(dims_raw)
    name_raw = attrs.pop("name", None)
    if name_raw is not None and not isinstance(name_raw, str):
        raise _fail(where, "name", "a string", name_raw)
    coords_raw = attrs.pop("coords", None)
    coords: dict[str, xr.Variable] = {}
    if coords_raw is not None:
        if not isinstance(coords_raw, dict):
            raise _fail(where, "coords", "an object of coordinates", coords_raw)
        sizes = dict(zip(dims, shape))
        for cname, spec in coords_raw.items():
            coords[cname] = _decode_coord(where, cname, spec, sizes)
    return dims, coords, name_raw, attrs


def _decode_coord(where: str, cname: str, spec: Any, sizes: Mapping[str, int]) -> xr.Variable:
    """One coordinate of the convention as an ``xarray.Variable``."""
    key = f"coords.{cname}"
    if not isinstance(spec, dict) or "data" not in spec:
        raise _fail(where, key, 'an object with "dims" and "data"', spec)
    cdims = spec.get("dims", [cname])
    if not isinstance(cdims, list) or not all(isinstance(d, str) and d in sizes for d in cdims) or len(set(cdims)) != len(cdims):
        raise _fail(where, f"{key}.dims", f"a list of the array's dimension names {list(sizes)}", cdims)
    dtype_name = spec.get("dtype")
    if dtype_name is None:
        dtype: Optional[np.dtype] = None
    elif isinstance(dtype_name, str) and (dtype_name in _COORD_DTYPES or _DATETIME.match(dtype_name)):
        dtype = np.dtype(dtype_name) if dtype_name != "str" else np.dtype(str)
    else:
        raise _fail(where, f"{key}.dtype", f"one of {list(_COORD_DTYPES)} or datetime64[unit]/timedelta64[unit]", dtype_name)
    expected_shape = tuple(sizes[d] for d in cdims)
    try:
        values = np.array(spec["data"], dtype=dtype)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _fail(where, f"{key}.data", f"values of dtype {dtype_name or 'inferred'}", str(exc)) from exc
    if values.shape != expected_shape or values.dtype.kind not in "biufcUMm":
        raise _fail(where, f"{key}.data", f"an array of shape {list(expected_shape)} of numbers, strings or booleans",
                    f"shape {list(values.shape)} of {values.dtype}")
    cattrs = spec.get("attrs", {})
    if not isinstance(cattrs, dict):
        raise _fail(where, f"{key}.attrs", "an object", cattrs)
    return xr.Variable(tuple(cdims), values, attrs=cattrs)


def _json_value(value: Any, where: str) -> Any:
    """A numpy/xarray attribute value as a JSON value (numpy scalars and arrays to Python)."""
    if isinstance(value, np.ndarray):
        return _json_value(value.tolist(), where)
    if isinstance(value, np.generic):
        return _json_value(value.item(), where)
    if isinstance(value, (list, tuple)):
        return [_json_value(v, where) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v, where) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: {value!r} is not representable in JSON (RFC 8259)")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{where}: attribute value of type {type(value).__name__} cannot be stored as JSON")


def encode_convention(array: xr.DataArray) -> dict[str, Any]:
    """The attributes that :func:`to_arrfile` writes for ``array`` (spec Appendix A)."""
    clash = [k for k in array.attrs if k in CONVENTION_KEYS]
    if clash:
        raise ValueError(f"DataArray attributes {clash} clash with the convention's keys {list(CONVENTION_KEYS)}; rename them")
    attrs: dict[str, Any] = {str(k): _json_value(v, f"attrs[{k!r}]") for k, v in array.attrs.items()}
    attrs["dims"] = [str(d) for d in array.dims]
    if array.name is not None:
        attrs["name"] = str(array.name)
    coords: dict[str, Any] = {}
    for cname, coord in array.coords.items():
        if coord.size > MAX_COORD_ELEMENTS:
            raise ValueError(f"coordinate {cname!r} has {coord.size} elements; at most {MAX_COORD_ELEMENTS} go into attributes")
        values = np.asarray(coord.values)
        entry: dict[str, Any] = {"dims": [str(d) for d in coord.dims]}
        if values.dtype.kind in "Mm":
            unit = np.datetime_data(values.dtype)[0]
            entry["dtype"] = f"{'datetime64' if values.dtype.kind == 'M' else 'timedelta64'}[{unit}]"
            entry["data"] = np.datetime_as_string(values, unit=cast(Any, unit)).tolist() if values.dtype.kind == "M" else values.astype(np.int64).tolist()
        elif values.dtype.kind == "b":
            entry["dtype"], entry["data"] = "bool", values.tolist()
        elif values.dtype.kind in "iu":
            entry["dtype"], entry["data"] = "int64", values.astype(np.int64).tolist()
        elif values.dtype.kind == "f":
            if not np.isfinite(values).all():
                raise ValueError(f"coordinate {cname!r} holds NaN or infinity, which JSON cannot store")
            entry["dtype"], entry["data"] = "float64", values.astype(np.float64).tolist()
        elif values.dtype.kind in "UO":
            entry["dtype"], entry["data"] = "str", [str(v) for v in values.reshape(-1)]
            entry["data"] = np.array(entry["data"], dtype=object).reshape(values.shape).tolist()
        else:
            raise TypeError(f"coordinate {cname!r} of dtype {values.dtype} cannot be stored in the attributes")
        if coord.attrs:
            entry["attrs"] = _json_value(dict(coord.attrs), f"coords[{cname!r}].attrs")
        coords[str(cname)] = entry
    if coords:
        attrs["coords"] = coords
    return attrs


def to_arrfile(array: xr.DataArray, path: PathLike, *, alignment: int = 4096) -> None:
    """Save a DataArray: its data as the payload, dims/coords/name/attrs as attributes (spec Appendix A).

    The data is streamed (a Dask-backed DataArray is computed slab by slab, or
    by the workers of an active dask.distributed client); see :func:`arrfile.save`.
    """
    from ._write import save

    if not isinstance(array, xr.DataArray):
        raise TypeError(f"to_arrfile needs an xarray.DataArray, found {type(array).__name__}")
    save(path, array.data, encode_convention(array), alignment=alignment)


class ArrfileBackendArray(BackendArray):
    """The payload as xarray's lazily indexed backend array (basic indexing on a :class:`LazyArray`)."""

    def __init__(self, lazy: LazyArray) -> None:
        self.lazy = lazy
        self.shape = lazy.shape
        self.dtype = lazy.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> Any:
        return indexing.explicit_indexing_adapter(key, self.shape, indexing.IndexingSupport.BASIC, self._getitem)

    def _getitem(self, key: tuple[Any, ...]) -> np.ndarray:
        return self.lazy[key]


class ArrfileBackendEntrypoint(BackendEntrypoint):
    """``xr.open_dataset(path, engine="arrfile")``: one variable, lazily read (Dask with ``chunks=``)."""

    description = "arrfile: one checksummed, page-aligned, memory-mappable array per file (local or fsspec URL)"
    open_dataset_parameters = ("filename_or_obj", "drop_variables")

    def open_dataset(  # type: ignore[override,unused-ignore]
        self, filename_or_obj: Any, *, drop_variables: Optional[Iterable[str]] = None,
    ) -> xr.Dataset:
        path = filename_or_obj if is_url(filename_or_obj) else os.fspath(filename_or_obj)
        lazy = LazyArray(path)
        where = str(path)
        dims, coords, name, attrs = decode_convention(lazy.attrs, lazy.shape, where)
        data = indexing.LazilyIndexedArray(ArrfileBackendArray(lazy))
        var_name = name if name is not None else DEFAULT_NAME
        variables = {var_name: xr.Variable(dims, data, attrs=attrs)}
        drop = set(drop_variables or ())
        ds = xr.Dataset({k: v for k, v in variables.items() if k not in drop},
                        coords={k: v for k, v in coords.items() if k not in drop})
        ds.set_close(lazy.close)
        return ds

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        if isinstance(filename_or_obj, (str, os.PathLike)):
            text = os.fspath(filename_or_obj)
            if str(text).endswith(".arr"):
                return True
            if not is_url(text) and os.path.isfile(text):
                try:
                    with open(text, "rb") as f:
                        return f.read(8) == MAGIC
                except OSError:
                    return False
        return False


__all__ = ["ArrfileBackendArray", "ArrfileBackendEntrypoint", "ConventionError", "decode_convention",
           "encode_convention", "to_arrfile"]
