//! Reading a `.npy` header: preamble, length cap, dict, descr, description.

use std::io::{self, Read};

use arrfile_format::{Description, Dtype, Order};

use super::descr::resolve;
use super::error::{NpyError, ReadError};
use super::literal::{DescrValue, Encoding, parse_dict};
use super::{MAGIC, MAX_HEADER_LEN};

/// The shortest preamble: magic, version and a version 1.0 length field.
const MIN_PREAMBLE_LEN: usize = 10;

/// A parsed `.npy` header: what the array is and where its data starts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NpyHeader {
    /// The format version: (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    /// The `descr` string as the file spells it (`<f4`, `<V2`, ...).
    pub descr: String,
    /// Dtype, shape, order (`fortran_order`) and byte order.
    pub description: Description,
    /// Where the data begins: preamble plus header length. numpy aligns it to 64 bytes; files
    /// from other writers and old numpy (16 bytes) may not be aligned, and are accepted.
    pub data_offset: u64,
}

impl NpyHeader {
    /// Bytes of data the header describes: element count × itemsize.
    pub fn data_len(&self) -> u64 {
        self.description.data_len()
    }

    /// The length of a file holding exactly this header and its data.
    pub fn file_len(&self) -> u64 {
        // Cannot overflow: data_len ≤ 2^62 and data_offset ≤ 12 + MAX_HEADER_LEN.
        self.data_offset.saturating_add(self.data_len())
    }

    /// Checks that `found` bytes of data, counted after [`NpyHeader::data_offset`], are
    /// exactly [`NpyHeader::data_len`].
    ///
    /// # Errors
    /// [`NpyError::TruncatedData`] or [`NpyError::TrailingBytes`], with both counts.
    pub fn check_data_len(&self, found: u64) -> Result<(), NpyError> {
        let expected = self.data_len();
        match found.cmp(&expected) {
            core::cmp::Ordering::Less => Err(NpyError::TruncatedData { expected, found }),
            core::cmp::Ordering::Greater => Err(NpyError::TrailingBytes { expected, found }),
            core::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// Checks that a file of `file_len` bytes holds this header and exactly its data.
    ///
    /// # Errors
    /// As [`NpyHeader::check_data_len`]; a file shorter than the header counts as no data.
    pub fn check_file_len(&self, file_len: u64) -> Result<(), NpyError> {
        self.check_data_len(file_len.saturating_sub(self.data_offset))
    }
}

/// Magic, version and header length: the first 10 or 12 bytes.
#[derive(Clone, Copy, Debug)]
struct Preamble {
    version: (u8, u8),
    /// 10 for version 1.0, 12 for 2.0 and 3.0.
    len: usize,
    /// The header length field, at most [`MAX_HEADER_LEN`].
    header_len: u32,
}

impl Preamble {
    fn encoding(self) -> Encoding {
        if self.version == (3, 0) { Encoding::Utf8 } else { Encoding::Latin1 }
    }

    fn header_end(self) -> usize {
        // Cannot overflow: header_len ≤ MAX_HEADER_LEN (1 MiB).
        self.len.saturating_add(usize::try_from(self.header_len).unwrap_or(usize::MAX))
    }
}

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// Checks the magic and version in `bytes` (the start of the input, any length), then the
/// length field and its cap.
fn parse_preamble(bytes: &[u8]) -> Result<Preamble, NpyError> {
    let truncated = |needed: usize| NpyError::TruncatedHeader {
        needed: len_u64(needed),
        found: len_u64(bytes.len()),
    };
    let magic_seen = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if !MAGIC.starts_with(magic_seen) {
        return Err(NpyError::BadMagic { found: magic_seen.to_vec() });
    }
    let (Some(&major), Some(&minor)) = (bytes.get(6), bytes.get(7)) else {
        return Err(truncated(MIN_PREAMBLE_LEN));
    };
    let len = match (major, minor) {
        (1, 0) => 10,
        (2, 0) | (3, 0) => 12,
        _ => return Err(NpyError::UnsupportedVersion { major, minor }),
    };
    let header_len = match bytes.get(8..len) {
        Some(&[a, b]) => u32::from(u16::from_le_bytes([a, b])),
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => return Err(truncated(len)),
    };
    if header_len > MAX_HEADER_LEN {
        return Err(NpyError::HeaderTooLarge {
            limit: u64::from(MAX_HEADER_LEN),
            found: u64::from(header_len),
        });
    }
    Ok(Preamble { version: (major, minor), len, header_len })
}

/// Parses the header text that follows `preamble`.
fn parse_text(
    preamble: Preamble,
    text: &[u8],
    dtype_override: Option<Dtype>,
) -> Result<NpyHeader, NpyError> {
    let base = len_u64(preamble.len);
    let encoding = preamble.encoding();
    if encoding == Encoding::Utf8
        && let Err(error) = core::str::from_utf8(text)
    {
        return Err(NpyError::HeaderEncoding {
            offset: base.saturating_add(len_u64(error.valid_up_to())),
        });
    }
    let dict = parse_dict(text, base, encoding)?;
    let descr = match dict.descr {
        DescrValue::Text(descr) => descr,
        DescrValue::Structured(descr) => return Err(NpyError::StructuredDtype { descr }),
    };
    let (dtype, byte_order) = resolve(&descr, dtype_override)?;
    let order = if dict.fortran_order { Order::F } else { Order::C };
    let description =
        Description::new(dtype, dict.shape, order, byte_order).map_err(NpyError::Shape)?;
    Ok(NpyHeader {
        version: preamble.version,
        descr,
        description,
        data_offset: base.saturating_add(u64::from(preamble.header_len)),
    })
}

/// Parses the `.npy` header at the start of `prefix`, which may hold more of the file (or
/// all of it); the data then starts at [`NpyHeader::data_offset`].
///
/// Checks, in order: the magic `\x93NUMPY`; the version (1.0, 2.0 or 3.0); the header
/// length against [`MAX_HEADER_LEN`]; that `prefix` holds the whole header; UTF-8 for version
/// 3.0; the dict literal (exactly `descr`, `fortran_order` and `shape`, in any order, with any
/// padding); the descr; at most 64 dimensions and at most 2^62 bytes of data.
///
/// Untyped data (`<V2`, `|V1`, ml_dtypes' `<f1`) is refused: use
/// [`parse_header_with_override`] for bfloat16 and fp8 files.
///
/// # Errors
/// The first [`NpyError`] of the checks above.
///
/// # Example
/// ```
/// use arrfile_npy as npy;
/// use arrfile_format::{ByteOrder, Dtype, Order};
///
/// let mut file = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
/// file.extend_from_slice(b"{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }");
/// file.resize(127, b' ');
/// file.push(b'\n');
/// let header = npy::parse_header(&file).unwrap();
/// assert_eq!(header.data_offset, 128);
/// assert_eq!(header.description.dtype(), Dtype::I16);
/// assert_eq!(header.description.shape(), &[2, 3]);
/// assert_eq!(header.description.order(), Order::F);
/// assert_eq!(header.description.byte_order(), ByteOrder::Big);
/// assert_eq!(header.data_len(), 12);
/// ```
pub fn parse_header(prefix: &[u8]) -> Result<NpyHeader, NpyError> {
    parse_header_with_override(prefix, None)
}

/// As [`parse_header`], with an element type for untyped data.
///
/// numpy has no bfloat16 or fp8; ml_dtypes' arrays save as raw bytes (`<V2` for bfloat16,
/// `<V1` for float8_e4m3fn, `<f1` for float8_e5m2). With `dtype_override`, a `V<n>` or `f1`
/// descr is read as that dtype if its itemsize is `n`. For a descr that names a dtype, the
/// override must be that same dtype.
///
/// # Errors
/// As [`parse_header`]; [`NpyError::OverrideSizeMismatch`] and
/// [`NpyError::OverrideConflict`] when the override does not fit.
pub fn parse_header_with_override(
    prefix: &[u8],
    dtype_override: Option<Dtype>,
) -> Result<NpyHeader, NpyError> {
    let preamble = parse_preamble(prefix)?;
    let Some(text) = prefix.get(preamble.len..preamble.header_end()) else {
        return Err(NpyError::TruncatedHeader {
            needed: len_u64(preamble.header_end()),
            found: len_u64(prefix.len()),
        });
    };
    parse_text(preamble, text, dtype_override)
}

/// Reads exactly the `.npy` header from `reader` and parses it, leaving the reader at the
/// first data byte.
///
/// Reads the 10- or 12-byte preamble first and checks the header length against
/// [`MAX_HEADER_LEN`] before it allocates or reads anything more.
///
/// # Errors
/// [`ReadError::Io`] if the reader fails; [`ReadError::Npy`] as
/// [`parse_header_with_override`], where an early end of input is
/// [`NpyError::TruncatedHeader`].
pub fn read_header<R: Read>(
    mut reader: R,
    dtype_override: Option<Dtype>,
) -> Result<NpyHeader, ReadError> {
    let mut start = [0u8; 12];
    let mut got = read_up_to(&mut reader, start.get_mut(..MIN_PREAMBLE_LEN).unwrap_or(&mut []))?;
    let preamble = match parse_preamble(start.get(..got).unwrap_or(&[])) {
        Err(NpyError::TruncatedHeader { .. }) if got == MIN_PREAMBLE_LEN => {
            // Version 2.0 or 3.0: two more bytes of length.
            got += read_up_to(&mut reader, start.get_mut(MIN_PREAMBLE_LEN..).unwrap_or(&mut []))?;
            parse_preamble(start.get(..got).unwrap_or(&[]))?
        }
        other => other?,
    };
    let mut text = vec![0u8; usize::try_from(preamble.header_len).unwrap_or(0)];
    let text_got = read_up_to(&mut reader, &mut text)?;
    if text_got < text.len() {
        return Err(NpyError::TruncatedHeader {
            needed: len_u64(preamble.header_end()),
            found: len_u64(preamble.len.saturating_add(text_got)),
        }
        .into());
    }
    Ok(parse_text(preamble, &text, dtype_override)?)
}

/// Fills `buf` from `reader` until it is full or the input ends; returns the bytes read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, ReadError> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..) {
        if rest.is_empty() {
            break;
        }
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n.min(rest.len()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(ReadError::Io(error)),
        }
    }
    Ok(filled)
}
