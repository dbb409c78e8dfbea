//! numpy's `.npy` format for arrfile: the header codec, and whole-file conversion both ways.
//!
//! The header functions are pure functions over bytes and readers, total over arbitrary
//! input (no panic, no allocation beyond [`MAX_HEADER_LEN`], no overflow). The numpy
//! `descr` ↔ [`Dtype`](arrfile_format::Dtype) mapping lives here and nowhere else.
//!
//! A `.npy` file (NEP 1, numpy's `_format_impl.py`) is a preamble (the magic `\x93NUMPY`, a
//! version, a little-endian header length: `u16` in version 1.0, `u32` in 2.0 and 3.0), a
//! Python dict literal padded with spaces and a `\n`, then the raw data:
//! prod(shape) × itemsize bytes in C or Fortran order. Version 3.0 differs from 2.0 only in
//! that the header text is UTF-8 rather than latin-1.
//!
//! - [`parse_header`], [`parse_header_with_override`]: over a byte prefix of the file.
//! - [`read_header`]: over a [`std::io::Read`], reading exactly the header.
//! - [`NpyHeader::check_file_len`], [`NpyHeader::check_data_len`]: the data is exactly as
//!   long as the header says.
//! - [`write_header`]: the header `np.save` writes for a [`Description`], byte for byte.
//! - [`import`], [`export`], [`open`]: whole files, streaming in constant memory.
//!
//! ```
//! use arrfile_format::{Description, Dtype};
//! let desc = Description::c_order(Dtype::F32, vec![3, 4]).unwrap();
//! let header = arrfile_npy::write_header(&desc).unwrap();
//! assert_eq!(&header[..6], b"\x93NUMPY");
//! assert_eq!(header.len() % 64, 0); // numpy aligns the data to 64 bytes
//! let parsed = arrfile_npy::parse_header(&header).unwrap();
//! assert_eq!(parsed.description, desc);
//! assert_eq!(parsed.descr, "<f4");
//! ```
//!
//! Accepted descrs are those of the dtype table (`<f4`, `>i2`, `|u1`, `|b1`, `<c16`, ...);
//! refused, each with its own error, are object (`|O`), structured (a list), string
//! (`<U10`, `|S5`), datetime and timedelta (`<M8[ns]`, `<m8`), untyped data (`<V2`) without
//! an override, and anything else.
//!
//! [`Description`]: arrfile_format::Description

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Sizes come from untrusted headers: a silent truncation would be a bug.
#![warn(clippy::cast_possible_truncation)]

mod descr;
mod error;
mod file;
mod header;
mod literal;
mod write;

pub use error::{NpyError, ReadError};
pub use file::{ExportFormat, FileError, export, import, open, read_file_header};
pub use header::{NpyHeader, parse_header, parse_header_with_override, read_header};
pub use write::write_header;

/// The 6-byte magic at the start of every `.npy` file.
pub const MAGIC: [u8; 6] = *b"\x93NUMPY";

/// The largest header length accepted (the length field, not counting the 10- or 12-byte
/// preamble): 1 MiB, checked before anything is allocated.
///
/// numpy's `np.load` refuses headers above 10,000 characters by default (`max_header_size`)
/// but only after reading them; numpy writes at most about 1.6 KiB for a 64-dimensional
/// shape. The cap leaves room for writers that pad the header generously (to a 4 KiB page,
/// say) and matches the spec's 1 MiB cap on padding.
pub const MAX_HEADER_LEN: u32 = 1 << 20;
