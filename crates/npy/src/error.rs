//! Why a `.npy` file cannot be read or written.

use std::io;

use arrfile_format::{DescriptionError, Dtype};

use super::MAGIC;

/// Untrusted text quoted in an error is cut to this many characters.
pub(crate) const MAX_QUOTE: usize = 80;

/// A `.npy` header that this crate refuses, or data whose length does not match it.
///
/// Every variant carries what was found. [`NpyError::kind`] gives a stable snake_case name
/// per variant, which is what `fixtures/npy/manifest.json` lists.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NpyError {
    /// The input ends before the header does.
    #[error("truncated .npy header: expected at least {needed} bytes, found {found}")]
    TruncatedHeader {
        /// Bytes needed as far as known: 10 before the version is known, then the preamble
        /// (10 or 12 bytes), then the preamble and the header length it states.
        needed: u64,
        /// Bytes available.
        found: u64,
    },
    /// The input does not start with `\x93NUMPY`.
    #[error("not a .npy file: expected the magic {expected}, found {found}", expected = hex(&MAGIC), found = hex(found))]
    BadMagic {
        /// The first bytes of the input (at most 6).
        found: Vec<u8>,
    },
    /// A format version other than 1.0, 2.0 and 3.0.
    #[error("unsupported .npy format version {major}.{minor}: expected 1.0, 2.0 or 3.0")]
    UnsupportedVersion {
        /// The major version byte.
        major: u8,
        /// The minor version byte.
        minor: u8,
    },
    /// The header length field is above [`MAX_HEADER_LEN`](super::MAX_HEADER_LEN); checked before anything is
    /// allocated or read.
    #[error("the .npy header is too large: the limit is {limit} bytes, the file states {found}")]
    HeaderTooLarge {
        /// The limit, [`MAX_HEADER_LEN`](super::MAX_HEADER_LEN).
        limit: u64,
        /// The header length the file states.
        found: u64,
    },
    /// A version 3.0 header that is not UTF-8.
    #[error(
        "the .npy header is not valid UTF-8 (required by version 3.0): bad byte at offset {offset}"
    )]
    HeaderEncoding {
        /// File offset of the first byte that is not UTF-8.
        offset: u64,
    },
    /// The header is not a Python dict literal of the accepted form.
    #[error("malformed .npy header at offset {offset}: expected {expected}, found {found}")]
    Syntax {
        /// File offset of the offending token.
        offset: u64,
        /// What the parser expected there.
        expected: &'static str,
        /// What it found.
        found: String,
    },
    /// A key other than `descr`, `fortran_order` and `shape`.
    #[error(
        "unexpected key {key:?} in the .npy header: expected only 'descr', 'fortran_order' and 'shape'"
    )]
    UnknownKey {
        /// The key.
        key: String,
    },
    /// A key given twice.
    #[error("key {key:?} appears twice in the .npy header")]
    DuplicateKey {
        /// The key.
        key: &'static str,
    },
    /// One of the three keys is absent.
    #[error("the .npy header has no {key:?} key")]
    MissingKey {
        /// The missing key.
        key: &'static str,
    },
    /// A key's value has the wrong type or range.
    #[error("invalid {key:?} in the .npy header: expected {expected}, found {found}")]
    InvalidValue {
        /// The key.
        key: &'static str,
        /// What the value must be.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// `descr` is the object dtype (`|O`), whose data is pickled Python objects.
    #[error("refused dtype {descr:?}: Python objects (pickled data) cannot be converted")]
    ObjectDtype {
        /// The descr.
        descr: String,
    },
    /// `descr` is a list or dict: a structured (record) dtype.
    #[error(
        "refused dtype {descr}: structured (record) dtypes are not supported; save each field as its own array"
    )]
    StructuredDtype {
        /// The descr's source text, possibly cut short.
        descr: String,
    },
    /// A fixed-width string dtype (`<U10`, `|S5`, `|a5`).
    #[error("refused dtype {descr:?}: fixed-width strings are not supported")]
    StringDtype {
        /// The descr.
        descr: String,
    },
    /// A datetime or timedelta dtype (`<M8[ns]`, `<m8[s]`).
    #[error("refused dtype {descr:?}: datetime and timedelta are not supported")]
    DatetimeDtype {
        /// The descr.
        descr: String,
    },
    /// Raw bytes (`<V2`, `|V1`, and ml_dtypes' `<f1`) with no dtype override: ml_dtypes saves
    /// bfloat16 as `<V2` and fp8 as `<V1` or `<f1`, so the file does not say what they are.
    #[error(
        "dtype {descr:?} is {itemsize}-byte untyped data (ml_dtypes saves bfloat16 as '<V2' and fp8 as '<V1' or '<f1'); give the element type explicitly"
    )]
    UntypedDescr {
        /// The descr.
        descr: String,
        /// Bytes per element the descr states.
        itemsize: u64,
    },
    /// A descr that is none of the above and not in the dtype table.
    #[error(
        "unknown dtype {descr:?}: expected a numpy type string such as '<f4', '>i2' or '|u1' for bool, int and uint 8 to 64, float16/32/64 or complex64/128"
    )]
    UnknownDescr {
        /// The descr.
        descr: String,
    },
    /// The override's itemsize differs from the untyped descr's.
    #[error("dtype {dtype_override} ({size} bytes) cannot stand for {descr:?}, which has {itemsize}-byte elements", size = dtype_override.itemsize())]
    OverrideSizeMismatch {
        /// The descr.
        descr: String,
        /// Bytes per element the descr states.
        itemsize: u64,
        /// The override given.
        dtype_override: Dtype,
    },
    /// An override for a descr that already names a different dtype.
    #[error("dtype {dtype_override} was given, but the file's descr {descr:?} says {found}")]
    OverrideConflict {
        /// The descr.
        descr: String,
        /// The dtype the descr names.
        found: Dtype,
        /// The override given.
        dtype_override: Dtype,
    },
    /// The shape has more than 64 dimensions or more than 2^62 bytes of data.
    #[error("invalid shape in the .npy header: {0}")]
    Shape(DescriptionError),
    /// Fewer data bytes than the header describes.
    #[error("truncated .npy data: the header describes {expected} bytes, found {found}")]
    TruncatedData {
        /// Bytes the header describes.
        expected: u64,
        /// Bytes present after the header.
        found: u64,
    },
    /// More data bytes than the header describes.
    #[error(
        "trailing bytes after the .npy data: the header describes {expected} bytes, found {found}"
    )]
    TrailingBytes {
        /// Bytes the header describes.
        expected: u64,
        /// Bytes present after the header.
        found: u64,
    },
    /// Writing: the dtype has no `.npy` spelling (a dtype added to the table after this
    /// code was written).
    #[error("dtype {dtype} has no .npy descr")]
    NoNumpyDescr {
        /// The dtype.
        dtype: Dtype,
    },
}

impl NpyError {
    /// The variant's stable snake_case name (`bad_magic`, `untyped_descr`, ...); for
    /// [`NpyError::Shape`], the name of the shape problem (`too_many_dimensions`,
    /// `size_overflow`).
    pub fn kind(&self) -> &'static str {
        use NpyError as E;
        match self {
            E::TruncatedHeader { .. } => "truncated_header",
            E::BadMagic { .. } => "bad_magic",
            E::UnsupportedVersion { .. } => "unsupported_version",
            E::HeaderTooLarge { .. } => "header_too_large",
            E::HeaderEncoding { .. } => "header_encoding",
            E::Syntax { .. } => "syntax",
            E::UnknownKey { .. } => "unknown_key",
            E::DuplicateKey { .. } => "duplicate_key",
            E::MissingKey { .. } => "missing_key",
            E::InvalidValue { .. } => "invalid_value",
            E::ObjectDtype { .. } => "object_dtype",
            E::StructuredDtype { .. } => "structured_dtype",
            E::StringDtype { .. } => "string_dtype",
            E::DatetimeDtype { .. } => "datetime_dtype",
            E::UntypedDescr { .. } => "untyped_descr",
            E::UnknownDescr { .. } => "unknown_descr",
            E::OverrideSizeMismatch { .. } => "override_size_mismatch",
            E::OverrideConflict { .. } => "override_conflict",
            E::Shape(DescriptionError::TooManyDimensions { .. }) => "too_many_dimensions",
            E::Shape(DescriptionError::SizeOverflow { .. }) => "size_overflow",
            E::Shape(_) => "invalid_shape",
            E::TruncatedData { .. } => "truncated_data",
            E::TrailingBytes { .. } => "trailing_bytes",
            E::NoNumpyDescr { .. } => "no_numpy_descr",
        }
    }
}

/// Reading a `.npy` header from a [`std::io::Read`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The reader failed (an early end of input is [`NpyError::TruncatedHeader`] instead).
    #[error("cannot read the .npy header")]
    Io(#[source] io::Error),
    /// The bytes are not a header this crate accepts.
    #[error(transparent)]
    Npy(#[from] NpyError),
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing (empty input)".to_owned();
    }
    let parts: Vec<String> = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    parts.join(" ")
}

/// `text`, cut to [`MAX_QUOTE`] characters with a marker when longer.
pub(crate) fn quote(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTE) {
        Some((cut, _)) => format!("{}... ({} bytes)", text.get(..cut).unwrap_or(""), text.len()),
        None => text.to_owned(),
    }
}
