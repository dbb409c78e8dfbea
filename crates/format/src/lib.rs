//! The arrfile v1 format: header types, parsing and serialisation over byte slices.
//!
//! This crate does no I/O and contains no `unsafe`. Every parsing function is total: whatever
//! bytes it is given, it returns a value or a [`ParseError`], never panics, and allocates
//! nothing beyond the spec's caps (a 16 MiB metadata block, a 64-entry shape). The normative
//! definition of the bytes is `spec/arrfile-v1.md`; the reader checks there (R1–R24) are
//! applied here in the same order, by [`Header::parse`] (R1–R20 and 1.1's R25, which need
//! only the header and the file length) and [`Header::check_prefix`] (R21–R24, metadata and padding).
//!
//! ```
//! use arrfile_format::{parse, Alignment, Description, Dtype, PayloadChecksum, Prefix};
//!
//! // Write: a prefix (header, metadata, padding) then the payload.
//! let desc = Description::c_order(Dtype::U16, vec![2, 2]).unwrap();
//! let payload: Vec<u8> = [1u16, 2, 3, 4].iter().flat_map(|v| v.to_le_bytes()).collect();
//! let prefix = Prefix::new(desc.clone(), None, Alignment::PAGE)
//!     .unwrap()
//!     .with_checksum(PayloadChecksum::Valid(arrfile_format::crc32(&payload)));
//! let mut file = prefix.to_bytes();
//! file.extend_from_slice(&payload);
//!
//! // Read it back: dtype and shape come from the file.
//! let parsed = parse(&file).unwrap();
//! assert_eq!(parsed.header.description(), &desc);
//! assert_eq!(parsed.header.data_offset(), 4096);
//! assert!(parsed.verify().is_valid());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Sizes come from untrusted headers: a silent truncation would be a bug.
#![warn(clippy::cast_possible_truncation)]

mod checksum;
mod description;
mod dtype;
mod error;
mod header;
mod prefix;
pub mod raw;

pub use checksum::{
    ChecksumState, PayloadChecksum, Verification, crc32, crc32_combine, crc32_of_zeros,
};
pub use description::{ByteOrder, Description, DescriptionError, Order};
pub use dtype::{Dtype, UnknownDtypeName};
pub use error::{EncodeError, ParseError, ParseErrorKind};
pub use header::{APPEND_IN_PROGRESS, Header, KNOWN_REQUIRED_FEATURES};
pub use prefix::{
    Alignment, Attributes, MAX_ATTRIBUTE_DEPTH, ParsedFile, Prefix, encode_attributes, parse,
};

/// The 8-byte magic: `\x89ARR\r\n\x1a\n`.
pub const MAGIC: [u8; 8] = *b"\x89ARR\r\n\x1a\n";
/// The major version this crate reads and writes.
pub const VERSION_MAJOR: u16 = 1;
/// The minor version this crate writes: 0, because no file it writes uses a 1.1 feature
/// once committed (an append in progress is a state, not a feature of the array; spec §11).
pub const VERSION_MINOR: u16 = 0;
/// The spec version this crate implements, as text.
pub const SPEC_VERSION: &str = "1.1";
/// Length of the fixed header.
pub const HEADER_LEN: usize = 640;
/// The largest number of dimensions.
pub const MAX_NDIM: usize = 64;
/// The cap on the metadata block: 16 MiB.
pub const MAX_METADATA_LEN: u64 = 16 << 20;
/// Padding between metadata and payload is less than this: 1 MiB.
pub const MAX_PADDING: u64 = 1 << 20;
/// The largest payload the size bound allows: 2^62 bytes.
pub const MAX_DATA_LEN: u64 = 1 << 62;
/// The smallest alignment of `data_offset`.
pub const MIN_ALIGNMENT: u64 = 4096;
