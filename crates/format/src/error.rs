//! Why a file is not a valid arrfile: one variant per reader check of the spec (§9).

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::{Dtype, HEADER_LEN, MAGIC, MAX_METADATA_LEN, MAX_NDIM, MAX_PADDING};

/// A reader check failed. Each variant is one check of spec §9 and carries what was found.
///
/// [`ParseError::kind`] gives the check's stable name, which is what `fixtures/manifest.json`
/// lists.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// R1.
    #[error("not an arrfile: expected the magic {expected}, found {found}", expected = hex(&MAGIC), found = hex(found))]
    BadMagic {
        /// The first bytes of the file (at most 8).
        found: Vec<u8>,
    },
    /// R2, R4.
    #[error("truncated header: expected at least {expected} bytes, found a file of {len}")]
    TruncatedHeader {
        /// The bytes needed at this check: 12, then 640.
        expected: u64,
        /// The file's length.
        len: u64,
    },
    /// R3.
    #[error("unsupported format version {major}.{minor}: expected major version 1")]
    UnsupportedVersion {
        /// The major version found.
        major: u16,
        /// The minor version found.
        minor: u16,
    },
    /// R5.
    #[error(
        "header checksum mismatch: the header says {stored:#010x}, its bytes give {computed:#010x}"
    )]
    HeaderChecksumMismatch {
        /// The `header_crc` field.
        stored: u32,
        /// The CRC of the header bytes.
        computed: u32,
    },
    /// R6.
    #[error(
        "unsupported required feature bits {bits:#x}: this reader (format 1.1) knows only bit 0, an append in progress"
    )]
    UnsupportedRequiredFeature {
        /// The unknown bits.
        bits: u64,
    },
    /// R7.
    #[error("too many dimensions: expected at most {MAX_NDIM}, found {ndim}")]
    TooManyDimensions {
        /// The `ndim` field.
        ndim: u8,
    },
    /// R8.
    #[error("reserved byte at offset {offset} is {value:#04x}, expected zero")]
    NonZeroReserved {
        /// Offset in the file.
        offset: usize,
        /// The byte found.
        value: u8,
    },
    /// R9.
    #[error("unknown dtype code {code}: expected 1 to 17")]
    UnknownDtype {
        /// The `dtype` field.
        code: u16,
    },
    /// R10.
    #[error("invalid byte order {value}: expected 0 (little) or 1 (big)")]
    InvalidByteOrder {
        /// The `byte_order` field.
        value: u8,
    },
    /// R11.
    #[error("invalid order {value}: expected 0 (C) or 1 (F)")]
    InvalidOrder {
        /// The `order` field.
        value: u8,
    },
    /// R12.
    #[error(
        "invalid checksum state {state} with payload CRC {crc:#010x}: expected state 0, 1 or 2, and CRC 0 unless the state is 1"
    )]
    InvalidChecksumState {
        /// The `checksum_state` field.
        state: u8,
        /// The `payload_crc` field.
        crc: u32,
    },
    /// R13.
    #[error("shape {shape:?} of {dtype} needs more than 2^62 bytes")]
    SizeOverflow {
        /// The dtype.
        dtype: Dtype,
        /// The shape (at most 64 dimensions).
        shape: Vec<u64>,
    },
    /// R14.
    #[error("data length mismatch: the shape needs {expected} bytes, the header says {stored}")]
    DataLenMismatch {
        /// The `data_len` field.
        stored: u64,
        /// Element count × itemsize.
        expected: u64,
    },
    /// R25 (format 1.1), applied right after R14.
    #[error(
        "append in progress with append_base_len {stored}, expected the committed data_len {expected}"
    )]
    AppendBaseLenMismatch {
        /// The `append_base_len` field.
        stored: u64,
        /// The `data_len` field.
        expected: u64,
    },
    /// R15.
    #[error("metadata too large: expected at most {MAX_METADATA_LEN} bytes, found {len}")]
    MetadataTooLarge {
        /// The `metadata_len` field.
        len: u64,
    },
    /// R16.
    #[error("misaligned data offset: expected a multiple of 4096, found {offset}")]
    MisalignedDataOffset {
        /// The `data_offset` field.
        offset: u64,
    },
    /// R17.
    #[error("data offset {offset} overlaps the metadata, which ends at {metadata_end}")]
    DataOffsetOverlapsMetadata {
        /// The `data_offset` field.
        offset: u64,
        /// 640 + `metadata_len`.
        metadata_end: u64,
    },
    /// R18.
    #[error(
        "excessive padding: expected less than {MAX_PADDING} bytes before the data, found {padding}"
    )]
    ExcessivePadding {
        /// `data_offset` − metadata end.
        padding: u64,
    },
    /// R19.
    #[error("truncated payload: expected a file of {expected} bytes, found {len}")]
    TruncatedPayload {
        /// `data_offset` + `data_len`.
        expected: u64,
        /// The file's length.
        len: u64,
    },
    /// R20.
    #[error("trailing bytes: expected a file of {expected} bytes, found {len}")]
    TrailingBytes {
        /// `data_offset` + `data_len`.
        expected: u64,
        /// The file's length.
        len: u64,
    },
    /// R21.
    #[error(
        "metadata checksum mismatch: the header says {stored:#010x}, the metadata gives {computed:#010x}"
    )]
    MetadataChecksumMismatch {
        /// The `metadata_crc` field.
        stored: u32,
        /// The CRC of the metadata bytes.
        computed: u32,
    },
    /// R22.
    #[error("metadata is not UTF-8: invalid byte at metadata offset {valid_up_to}")]
    MetadataNotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// R23.
    #[error("metadata is not a JSON object: {reason}")]
    MetadataNotObject {
        /// What the JSON parser said, or what kind of value was found.
        reason: String,
    },
    /// R24.
    #[error("padding byte at offset {offset} is {value:#04x}, expected zero")]
    NonZeroPadding {
        /// Offset in the file.
        offset: u64,
        /// The byte found.
        value: u8,
    },
}

/// Declares [`ParseErrorKind`] from one list: each [`ParseError`] variant, in the order of
/// the reader checks, with its stable name. The enum, [`ParseErrorKind::ALL`],
/// [`ParseErrorKind::as_str`] and [`ParseError::kind`] all come from this one list, so they
/// cannot disagree.
macro_rules! parse_error_kinds {
    ($($variant:ident => $name:literal,)*) => {
        /// The stable name of a reader check's error, as the spec and the fixture manifest
        /// spell it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        #[allow(missing_docs)]
        pub enum ParseErrorKind {
            $($variant,)*
        }

        impl ParseErrorKind {
            /// Every kind, in the order of the reader checks.
            pub const ALL: &'static [ParseErrorKind] = &[$(ParseErrorKind::$variant,)*];

            /// The snake_case name used by the spec and the manifest.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ParseErrorKind::$variant => $name,)*
                }
            }
        }

        impl ParseError {
            /// The check that failed, by its stable name.
            pub fn kind(&self) -> ParseErrorKind {
                match self {
                    $(ParseError::$variant { .. } => ParseErrorKind::$variant,)*
                }
            }
        }
    };
}

parse_error_kinds! {
    BadMagic => "bad_magic",
    TruncatedHeader => "truncated_header",
    UnsupportedVersion => "unsupported_version",
    HeaderChecksumMismatch => "header_checksum_mismatch",
    UnsupportedRequiredFeature => "unsupported_required_feature",
    TooManyDimensions => "too_many_dimensions",
    NonZeroReserved => "nonzero_reserved",
    UnknownDtype => "unknown_dtype",
    InvalidByteOrder => "invalid_byte_order",
    InvalidOrder => "invalid_order",
    InvalidChecksumState => "invalid_checksum_state",
    SizeOverflow => "size_overflow",
    DataLenMismatch => "data_len_mismatch",
    AppendBaseLenMismatch => "append_base_len_mismatch",
    MetadataTooLarge => "metadata_too_large",
    MisalignedDataOffset => "misaligned_data_offset",
    DataOffsetOverlapsMetadata => "data_offset_overlaps_metadata",
    ExcessivePadding => "excessive_padding",
    TruncatedPayload => "truncated_payload",
    TrailingBytes => "trailing_bytes",
    MetadataChecksumMismatch => "metadata_checksum_mismatch",
    MetadataNotUtf8 => "metadata_not_utf8",
    MetadataNotObject => "metadata_not_object",
    NonZeroPadding => "nonzero_padding",
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing (an empty file)".to_owned();
    }
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Why a header could not be encoded for a new file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The attributes serialise to more than 16 MiB.
    #[error("attributes too large: expected at most {MAX_METADATA_LEN} bytes of JSON, found {len}")]
    MetadataTooLarge {
        /// The serialised length.
        len: usize,
    },
    /// An attribute key starts with `arrfile.`, which the spec reserves.
    #[error(
        "attribute key {key:?} is reserved: keys beginning with \"arrfile.\" belong to the spec"
    )]
    ReservedAttributeKey {
        /// The key.
        key: String,
    },
    /// Attributes nested deeper than the spec allows writers.
    #[error("attributes nested {depth} levels deep; at most 64 are allowed")]
    MetadataTooDeep {
        /// The depth found.
        depth: usize,
    },
    /// The alignment is not a power of two from 4096 to 2^20.
    #[error("alignment {alignment}: expected a power of two from 4096 to 1048576")]
    InvalidAlignment {
        /// The alignment given.
        alignment: u64,
    },
}

// `HEADER_LEN` is referenced by the docs of `TruncatedHeader`.
const _: usize = HEADER_LEN;
