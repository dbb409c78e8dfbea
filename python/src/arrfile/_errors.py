"""Exceptions raised by :mod:`arrfile`.

Every failed reader check of spec §9 raises a subclass of :class:`ArrfileError`
whose ``kind`` is the spec's snake_case error kind (``"bad_magic"``) and whose
``check`` is the number of the check that failed (``"R1"``). The same kind can be
raised by two checks (``truncated_header`` is R2 and R4), so ``check`` is set per
instance while ``kind`` is fixed per class.

Errors that are not reader checks (a dtype that needs ``ml_dtypes``, a file that
is locked by another in-place writer, a payload target whose file is not being
modified) are also :class:`ArrfileError` subclasses, with ``check`` ``None``.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Union

PathLike = Union[str, "os.PathLike[str]"]


class ArrfileError(Exception):
    """Base class of every arrfile error.

    Attributes:
        kind: the snake_case error kind (spec §9 names for reader checks).
        check: the reader check that failed (``"R1"`` .. ``"R25"``), or ``None``
            for errors that are not reader checks.
        path: the file concerned (as given by the caller), or ``None``.
        expected: what the check expected, as text (may be ``None``).
        found: what the file held instead, as text (may be ``None``).
    """

    kind: str = "arrfile_error"

    def __init__(
        self,
        message: str,
        *,
        check: Optional[str] = None,
        path: Optional[PathLike] = None,
        expected: Any = None,
        found: Any = None,
    ) -> None:
        """Build the error; ``message`` is the complete human-readable text."""
        super().__init__(message)
        self.message = message
        self.check = check
        self.path = os.fspath(path) if path is not None else None
        self.expected = expected
        self.found = found

    def __reduce__(self) -> Any:
        """Pickle support (keyword-only constructor arguments), e.g. for Dask."""
        return (
            _rebuild_error,
            (type(self), self.message, self.check, self.path, self.expected, self.found),
        )


def _rebuild_error(
    cls: type,
    message: str,
    check: Optional[str],
    path: Optional[str],
    expected: Any,
    found: Any,
) -> ArrfileError:
    """Unpickle an :class:`ArrfileError` subclass."""
    error: ArrfileError = cls(message, check=check, path=path, expected=expected, found=found)
    return error


# --- one class per reader-check error kind (spec §9) -------------------------


class BadMagicError(ArrfileError):
    """R1: the file does not start with the arrfile magic."""

    kind = "bad_magic"


class TruncatedHeaderError(ArrfileError):
    """R2/R4: the file is shorter than the part of the header needed."""

    kind = "truncated_header"


class UnsupportedVersionError(ArrfileError):
    """R3: the major version is not 1."""

    kind = "unsupported_version"


class HeaderChecksumMismatchError(ArrfileError):
    """R5: the header CRC does not match the header bytes."""

    kind = "header_checksum_mismatch"


class UnsupportedRequiredFeatureError(ArrfileError):
    """R6: a required feature bit unknown to this reader is set."""

    kind = "unsupported_required_feature"


class TooManyDimensionsError(ArrfileError):
    """R7: ndim is larger than 64."""

    kind = "too_many_dimensions"


class NonzeroReservedError(ArrfileError):
    """R8: a reserved header byte or an unused shape slot is not zero."""

    kind = "nonzero_reserved"


class UnknownDtypeError(ArrfileError):
    """R9: the dtype code is not in the table of spec §4."""

    kind = "unknown_dtype"


class InvalidByteOrderError(ArrfileError):
    """R10: byte_order is neither 0 nor 1."""

    kind = "invalid_byte_order"


class InvalidOrderError(ArrfileError):
    """R11: order is neither 0 nor 1."""

    kind = "invalid_order"


class InvalidChecksumStateError(ArrfileError):
    """R12: bad checksum_state, or a non-zero payload_crc outside state 1."""

    kind = "invalid_checksum_state"


class SizeOverflowError(ArrfileError):
    """R13: the shape's size exceeds 2^62 bytes."""

    kind = "size_overflow"


class DataLenMismatchError(ArrfileError):
    """R14: data_len is not element count times itemsize."""

    kind = "data_len_mismatch"


class AppendBaseLenMismatchError(ArrfileError):
    """R25 (format 1.1, applied right after R14): an append is in progress (required bit 0)
    and ``append_base_len`` (offset 72) is not ``data_len``."""

    kind = "append_base_len_mismatch"


class MetadataTooLargeError(ArrfileError):
    """R15: metadata_len exceeds 16 MiB."""

    kind = "metadata_too_large"


class MisalignedDataOffsetError(ArrfileError):
    """R16: data_offset is not a multiple of 4096."""

    kind = "misaligned_data_offset"


class DataOffsetOverlapsMetadataError(ArrfileError):
    """R17: data_offset lies before the end of the metadata."""

    kind = "data_offset_overlaps_metadata"


class ExcessivePaddingError(ArrfileError):
    """R18: the padding between metadata and payload is 1 MiB or more."""

    kind = "excessive_padding"


class TruncatedPayloadError(ArrfileError):
    """R19: the file ends before data_offset + data_len."""

    kind = "truncated_payload"


class TrailingBytesError(ArrfileError):
    """R20: the file continues after data_offset + data_len."""

    kind = "trailing_bytes"


class MetadataChecksumMismatchError(ArrfileError):
    """R21: metadata_crc does not match the metadata bytes."""

    kind = "metadata_checksum_mismatch"


class MetadataNotUtf8Error(ArrfileError):
    """R22: the metadata bytes are not valid UTF-8."""

    kind = "metadata_not_utf8"


class MetadataNotObjectError(ArrfileError):
    """R23: the metadata is not exactly one JSON value whose top level is an object."""

    kind = "metadata_not_object"


class NonzeroPaddingError(ArrfileError):
    """R24: a padding byte between metadata and payload is not zero."""

    kind = "nonzero_padding"


# --- errors that are not reader checks ---------------------------------------


class DtypeUnavailableError(ArrfileError):
    """The file's dtype (bf16, fp8) needs the optional ``ml_dtypes`` package."""

    kind = "dtype_unavailable"


class LockedError(ArrfileError):
    """Another process holds a conflicting advisory lock on the file.

    Raised, without ``wait=True``, by an ``r+`` open while another in-place writer (or a
    reader) holds the file, by a writer replacing a file that an ``r+`` session holds, and by
    :func:`arrfile.verify` while a writer holds the file. The message says "locked by another
    process".
    """

    kind = "locked"


class ReplacedError(ArrfileError):
    """An ``r+`` session's file was replaced at its path by a program that ignores locks.

    The session's changes are only in the old file, which is no longer at the path; the
    commit did not happen there, and is never reported as a success.
    """

    kind = "replaced"


class NotBeingModifiedError(ArrfileError):
    """A payload target was used on a file that is not in state *being modified*."""

    kind = "not_being_modified"


class AppendMismatchError(ArrfileError, ValueError):
    """Rows given to an appender do not fit the file: another dtype, another trailing shape.

    ``expected`` and ``found`` say what differs (also a ``ValueError``).
    """

    kind = "append_mismatch"


class NotAppendableError(ArrfileError, ValueError):
    """The file holds a 0-d array, which has no outer axis to append along (spec §11.1)."""

    kind = "not_appendable"


class PartialRowError(ArrfileError, ValueError):
    """A commit with a partial row written (raw bytes that are not a whole number of rows);
    nothing is committed and the appender stays open."""

    kind = "partial_row"


#: Map from reader check to the class raised when it fails (spec §9 order; R25 right after R14).
CHECK_ERRORS: dict[str, type[ArrfileError]] = {
    "R1": BadMagicError,
    "R2": TruncatedHeaderError,
    "R3": UnsupportedVersionError,
    "R4": TruncatedHeaderError,
    "R5": HeaderChecksumMismatchError,
    "R6": UnsupportedRequiredFeatureError,
    "R7": TooManyDimensionsError,
    "R8": NonzeroReservedError,
    "R9": UnknownDtypeError,
    "R10": InvalidByteOrderError,
    "R11": InvalidOrderError,
    "R12": InvalidChecksumStateError,
    "R13": SizeOverflowError,
    "R14": DataLenMismatchError,
    "R25": AppendBaseLenMismatchError,  # 1.1: applied right after R14
    "R15": MetadataTooLargeError,
    "R16": MisalignedDataOffsetError,
    "R17": DataOffsetOverlapsMetadataError,
    "R18": ExcessivePaddingError,
    "R19": TruncatedPayloadError,
    "R20": TrailingBytesError,
    "R21": MetadataChecksumMismatchError,
    "R22": MetadataNotUtf8Error,
    "R23": MetadataNotObjectError,
    "R24": NonzeroPaddingError,
}


def check_failed(
    check: str,
    path: Optional[PathLike],
    expected: Any,
    found: Any,
    what: str,
) -> ArrfileError:
    """Build the error for a failed reader check.

    Args:
        check: the check that failed, ``"R1"`` .. ``"R25"``.
        path: the file being read.
        expected: what the check expected (rendered with ``str``).
        found: what the file held (rendered with ``str``).
        what: a short description of the field or region checked.

    Returns:
        The exception to raise; its message reads
        ``"<path>: <kind> (<check>): <what>: expected <expected>, found <found>"``.
    """
    cls = CHECK_ERRORS[check]
    where = os.fspath(path) if path is not None else "<file>"
    message = f"{where}: {cls.kind} ({check}): {what}: expected {expected}, found {found}"
    return cls(message, check=check, path=path, expected=expected, found=found)
