"""arrfile: a pure-Python implementation of the arrfile v1 format.

An arrfile holds one dense n-dimensional array: a fixed 640-byte header, optional
JSON attributes, and the raw elements at a page-aligned offset, so the payload is
memory-mapped in place. This package was written from the specification
(``spec/arrfile-v1.md``) alone.

Reading::

    a = arrfile.open("x.arr")            # numpy.memmap, read-only
    arrfile.info("x.arr")                # description dict, attributes included
    arrfile.verify("x.arr").outcome      # "valid" / "payload_checksum_mismatch" / "not_verifiable"

Writing::

    arrfile.save("x.arr", array, attrs={"units": "K"})
    with arrfile.create("y.arr", "f32", (1000, 3)) as w:
        w.array[:] = 1.0                 # renamed into place on exit

In place::

    a = arrfile.open("x.arr", "r+")      # header now says "being modified"
    a[0] = 42
    arrfile.commit(a)                    # payload CRC recorded, state "valid"

Growing (format 1.1: rows appended along the outer axis, O(appended bytes))::

    arrfile.append("x.arr", rows)        # rows of shape (k, *x.shape[1:]) in C order
    with arrfile.appender("x.arr") as w: # committed on a clean exit, rolled back on an exception
        w.write(more_rows)
    arrfile.recover("x.arr")             # rolls back an append a killed process left
"""

from __future__ import annotations

from typing import Any

from ._append import Appender, Recovery, append, appender, recover
from ._errors import (
    CHECK_ERRORS,
    AppendBaseLenMismatchError,
    AppendMismatchError,
    ArrfileError,
    BadMagicError,
    DataLenMismatchError,
    DataOffsetOverlapsMetadataError,
    DtypeUnavailableError,
    ExcessivePaddingError,
    HeaderChecksumMismatchError,
    InvalidByteOrderError,
    InvalidChecksumStateError,
    InvalidOrderError,
    LockedError,
    MetadataChecksumMismatchError,
    MetadataNotObjectError,
    MetadataNotUtf8Error,
    MetadataTooLargeError,
    MisalignedDataOffsetError,
    NonzeroPaddingError,
    NonzeroReservedError,
    NotAppendableError,
    NotBeingModifiedError,
    PartialRowError,
    ReplacedError,
    SizeOverflowError,
    TooManyDimensionsError,
    TrailingBytesError,
    TruncatedHeaderError,
    TruncatedPayloadError,
    UnknownDtypeError,
    UnsupportedRequiredFeatureError,
    UnsupportedVersionError,
)
from ._inplace import PayloadTarget, TargetMismatchError, commit, payload_target
from ._mapping import MappedArray
from ._read import LazyArray, VerifyResult, info, lazy, open, verify
from ._spec import APPEND_IN_PROGRESS, DTYPES, HEADER_LEN, MAGIC, DtypeInfo
from ._write import ArrayWriter, create, save

__version__ = "0.1.0"


def to_arrfile(array: Any, path: Any, *, alignment: int = 4096) -> None:
    """Save an ``xarray.DataArray`` with its dims, coords, name and attrs (spec Appendix A).

    Imports xarray on first use; see :func:`arrfile.xarray_backend.to_arrfile`.
    """
    from .xarray_backend import to_arrfile as _to_arrfile

    _to_arrfile(array, path, alignment=alignment)

__all__ = [
    "APPEND_IN_PROGRESS",
    "AppendBaseLenMismatchError",
    "AppendMismatchError",
    "Appender",
    "ArrayWriter",
    "ArrfileError",
    "BadMagicError",
    "CHECK_ERRORS",
    "DTYPES",
    "DataLenMismatchError",
    "DataOffsetOverlapsMetadataError",
    "DtypeInfo",
    "DtypeUnavailableError",
    "ExcessivePaddingError",
    "HEADER_LEN",
    "HeaderChecksumMismatchError",
    "InvalidByteOrderError",
    "InvalidChecksumStateError",
    "InvalidOrderError",
    "LazyArray",
    "LockedError",
    "MAGIC",
    "MappedArray",
    "MetadataChecksumMismatchError",
    "MetadataNotObjectError",
    "MetadataNotUtf8Error",
    "MetadataTooLargeError",
    "MisalignedDataOffsetError",
    "NonzeroPaddingError",
    "NonzeroReservedError",
    "NotAppendableError",
    "NotBeingModifiedError",
    "PartialRowError",
    "PayloadTarget",
    "Recovery",
    "ReplacedError",
    "SizeOverflowError",
    "TargetMismatchError",
    "TooManyDimensionsError",
    "TrailingBytesError",
    "TruncatedHeaderError",
    "TruncatedPayloadError",
    "UnknownDtypeError",
    "UnsupportedRequiredFeatureError",
    "UnsupportedVersionError",
    "VerifyResult",
    "append",
    "appender",
    "commit",
    "create",
    "info",
    "lazy",
    "open",
    "payload_target",
    "recover",
    "save",
    "to_arrfile",
    "verify",
]
