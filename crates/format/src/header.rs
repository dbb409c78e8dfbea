//! The validated header (spec §3) and the reader checks R1–R20 that need only its bytes.

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use crate::description::bounded_nonzero_size;
use crate::raw::RawHeader;
use crate::{
    ByteOrder, ChecksumState, Description, Dtype, HEADER_LEN, MAGIC, MAX_METADATA_LEN, MAX_NDIM,
    MAX_PADDING, MIN_ALIGNMENT, Order, ParseError, PayloadChecksum, VERSION_MAJOR, VERSION_MINOR,
};

/// Required feature bit 0 (format 1.1, spec §11): an append is in progress or was
/// interrupted. The header still describes the last committed array; the bytes after it are
/// rows not yet committed, and `append_base_len` (offset 72) equals `data_len`.
pub const APPEND_IN_PROGRESS: u64 = 1;

/// Feature bits this reader knows in `required_features`: [`APPEND_IN_PROGRESS`] (format 1.1).
pub const KNOWN_REQUIRED_FEATURES: u64 = APPEND_IN_PROGRESS;

/// A header that passed reader checks R1–R20 and R25: every field is meaningful and
/// consistent with the file's length.
///
/// A header with [`APPEND_IN_PROGRESS`] set ([`Header::append_in_progress`]) describes the
/// last committed array; the file may hold uncommitted bytes after [`Header::file_len`].
///
/// ```
/// use arrfile_format::{Alignment, Description, Dtype, Header, Prefix};
/// let desc = Description::c_order(Dtype::U8, vec![3]).unwrap();
/// let prefix = Prefix::new(desc, None, Alignment::PAGE).unwrap();
/// let header = prefix.header();
/// assert_eq!(header.data_offset(), 4096);
/// let parsed = Header::parse(&prefix.header_bytes(), header.file_len()).unwrap();
/// assert_eq!(&parsed, header);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    version_minor: u16,
    optional_features: u64,
    description: Description,
    checksum: PayloadChecksum,
    metadata_len: u64,
    metadata_crc: u32,
    data_offset: u64,
    data_len: u64,
    append_in_progress: bool,
}

impl Header {
    /// Applies reader checks R1–R20 and R25 (spec §9, format 1.1) to the start of a file.
    ///
    /// `prefix` holds the file's first bytes, at least `min(file_len, 640)` of them; `file_len`
    /// is the file's length. Metadata and padding are checked by [`Header::check_prefix`].
    ///
    /// # Errors
    /// The first failing check, as a [`ParseError`].
    pub fn parse(prefix: &[u8], file_len: u64) -> Result<Header, ParseError> {
        let available = prefix.len().min(usize::try_from(file_len).unwrap_or(usize::MAX));
        let bytes = &prefix[..available];

        // R1: the magic, compared over as many of its bytes as the file has.
        let magic_len = bytes.len().min(MAGIC.len());
        if bytes[..magic_len] != MAGIC[..magic_len] {
            return Err(ParseError::BadMagic { found: bytes[..magic_len].to_vec() });
        }
        // R2, R3: the version needs 12 bytes; it decides the layout of the rest.
        if bytes.len() < 12 {
            return Err(ParseError::TruncatedHeader { expected: 12, len: file_len });
        }
        let major = u16::from_le_bytes([bytes[8], bytes[9]]);
        let minor = u16::from_le_bytes([bytes[10], bytes[11]]);
        if major != VERSION_MAJOR {
            return Err(ParseError::UnsupportedVersion { major, minor });
        }
        // R4.
        let Ok((raw, _)) = RawHeader::read_from_prefix(bytes) else {
            return Err(ParseError::TruncatedHeader { expected: HEADER_LEN as u64, len: file_len });
        };
        // R5.
        let stored = raw.header_crc.get();
        let computed = raw.compute_header_crc();
        if stored != computed {
            return Err(ParseError::HeaderChecksumMismatch { stored, computed });
        }
        // R6.
        let unknown = raw.required_features.get() & !KNOWN_REQUIRED_FEATURES;
        if unknown != 0 {
            return Err(ParseError::UnsupportedRequiredFeature { bits: unknown });
        }
        // R7.
        if usize::from(raw.ndim) > MAX_NDIM {
            return Err(ParseError::TooManyDimensions { ndim: raw.ndim });
        }
        // R8.
        if let Some(offset) = raw.first_nonzero_reserved() {
            let value = raw.as_bytes()[offset];
            return Err(ParseError::NonZeroReserved { offset, value });
        }
        // R9.
        let code = raw.dtype.get();
        let dtype = Dtype::from_code(code).ok_or(ParseError::UnknownDtype { code })?;
        // R10.
        let byte_order = ByteOrder::from_code(raw.byte_order)
            .ok_or(ParseError::InvalidByteOrder { value: raw.byte_order })?;
        // R11.
        let order =
            Order::from_code(raw.order).ok_or(ParseError::InvalidOrder { value: raw.order })?;
        // R12.
        let crc = raw.payload_crc.get();
        let state = raw.checksum_state;
        let checksum = PayloadChecksum::from_fields(state, crc)
            .ok_or(ParseError::InvalidChecksumState { state, crc })?;
        // R13. At most 64 dimensions here (R7), so the vector is small.
        let shape: Vec<u64> = raw.shape[..usize::from(raw.ndim)].iter().map(|d| d.get()).collect();
        if bounded_nonzero_size(&shape, dtype.itemsize()).is_none() {
            return Err(ParseError::SizeOverflow { dtype, shape });
        }
        let description = Description::new(dtype, shape, order, byte_order)
            .map_err(|_| ParseError::TooManyDimensions { ndim: raw.ndim })?;
        // R14.
        let stored_len = raw.data_len.get();
        let expected_len = description.data_len();
        if stored_len != expected_len {
            return Err(ParseError::DataLenMismatch { stored: stored_len, expected: expected_len });
        }
        // R25 (1.1): while an append runs, offset 72 repeats the committed length.
        let append_in_progress = raw.required_features.get() & APPEND_IN_PROGRESS != 0;
        let base_len = raw.append_base_len.get();
        if append_in_progress && base_len != stored_len {
            return Err(ParseError::AppendBaseLenMismatch {
                stored: base_len,
                expected: stored_len,
            });
        }
        // R15.
        let metadata_len = raw.metadata_len.get();
        if metadata_len > MAX_METADATA_LEN {
            return Err(ParseError::MetadataTooLarge { len: metadata_len });
        }
        // R16.
        let data_offset = raw.data_offset.get();
        if !data_offset.is_multiple_of(MIN_ALIGNMENT) {
            return Err(ParseError::MisalignedDataOffset { offset: data_offset });
        }
        // R17. Cannot overflow: metadata_len ≤ 16 MiB.
        let metadata_end = HEADER_LEN as u64 + metadata_len;
        if data_offset < metadata_end {
            return Err(ParseError::DataOffsetOverlapsMetadata {
                offset: data_offset,
                metadata_end,
            });
        }
        // R18.
        let padding = data_offset - metadata_end;
        if padding >= MAX_PADDING {
            return Err(ParseError::ExcessivePadding { padding });
        }
        // R19, R20. Cannot overflow: data_offset < 18 MiB and data_len ≤ 2^62. Bytes after
        // the committed payload are an append's uncommitted rows (1.1).
        let expected = data_offset + expected_len;
        if file_len < expected {
            return Err(ParseError::TruncatedPayload { expected, len: file_len });
        }
        if file_len > expected && !append_in_progress {
            return Err(ParseError::TrailingBytes { expected, len: file_len });
        }
        Ok(Header {
            version_minor: minor,
            optional_features: raw.optional_features.get(),
            description,
            checksum,
            metadata_len,
            metadata_crc: raw.metadata_crc.get(),
            data_offset,
            data_len: expected_len,
            append_in_progress,
        })
    }

    pub(crate) fn for_new_file(
        description: Description,
        metadata_len: u64,
        metadata_crc: u32,
        data_offset: u64,
    ) -> Header {
        let data_len = description.data_len();
        Header {
            version_minor: VERSION_MINOR,
            optional_features: 0,
            description,
            checksum: PayloadChecksum::Absent,
            metadata_len,
            metadata_crc,
            data_offset,
            data_len,
            append_in_progress: false,
        }
    }

    /// The array's description.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.description.dtype()
    }

    /// The dimensions.
    pub fn shape(&self) -> &[u64] {
        self.description.shape()
    }

    /// The minor format version of the file.
    pub fn version_minor(&self) -> u16 {
        self.version_minor
    }

    /// The optional feature bits, which a reader may ignore.
    pub fn optional_features(&self) -> u64 {
        self.optional_features
    }

    /// The payload checksum and its state.
    pub fn checksum(&self) -> PayloadChecksum {
        self.checksum
    }

    /// The payload checksum's state.
    pub fn checksum_state(&self) -> ChecksumState {
        self.checksum.state()
    }

    /// The same header with another payload checksum (for writers).
    pub fn with_checksum(mut self, checksum: PayloadChecksum) -> Header {
        self.checksum = checksum;
        self
    }

    /// Whether [`APPEND_IN_PROGRESS`] is set: an append runs, or one was interrupted and
    /// the file needs recovery (spec §11). The header describes the committed array either
    /// way.
    pub fn append_in_progress(&self) -> bool {
        self.append_in_progress
    }

    /// The header an appender writes before its first row (spec §11.3, step 1): this one
    /// with [`APPEND_IN_PROGRESS`] set and `append_base_len` = `data_len`. Every other field,
    /// the checksum included, still describes the committed array.
    pub fn begin_append(&self) -> Header {
        Header { append_in_progress: true, ..self.clone() }
    }

    /// This header with [`APPEND_IN_PROGRESS`] cleared: what recovery writes once the file
    /// is cut back to [`Header::file_len`] (spec §11.4).
    pub fn end_append(&self) -> Header {
        Header { append_in_progress: false, ..self.clone() }
    }

    /// The header that commits an append (spec §11.3, step 3): the outer axis `outer_len`
    /// long, `data_len` to match, `checksum` for the grown payload, [`APPEND_IN_PROGRESS`]
    /// cleared. The metadata, data offset, version and optional bits are kept.
    ///
    /// ```
    /// use arrfile_format::{crc32, Alignment, Description, Dtype, PayloadChecksum, Prefix};
    /// let desc = Description::c_order(Dtype::U8, vec![2, 3]).unwrap();
    /// let old = Prefix::new(desc, None, Alignment::PAGE).unwrap().header().clone();
    /// let new = old.begin_append().committed_append(5, PayloadChecksum::Absent).unwrap();
    /// assert_eq!(new.shape(), &[5, 3]);
    /// assert_eq!(new.data_len(), 15);
    /// assert!(!new.append_in_progress());
    /// ```
    ///
    /// # Errors
    /// As [`Description::with_outer_len`]: a 0-d array, or a grown size over 2^62 bytes.
    pub fn committed_append(
        &self,
        outer_len: u64,
        checksum: PayloadChecksum,
    ) -> Result<Header, crate::DescriptionError> {
        let description = self.description.with_outer_len(outer_len)?;
        let data_len = description.data_len();
        // data_offset < 18 MiB and data_len ≤ 2^62: the file length cannot overflow.
        Ok(Header { description, data_len, checksum, append_in_progress: false, ..self.clone() })
    }

    /// Length of the metadata block; 0 when there is none.
    pub fn metadata_len(&self) -> u64 {
        self.metadata_len
    }

    /// The `metadata_crc` field.
    pub fn metadata_crc(&self) -> u32 {
        self.metadata_crc
    }

    /// Where the payload starts: a multiple of 4096.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Payload length in bytes.
    pub fn data_len(&self) -> u64 {
        self.data_len
    }

    /// The committed file's length: `data_offset + data_len`. While an append runs, the
    /// file may be longer (its uncommitted rows).
    pub fn file_len(&self) -> u64 {
        self.data_offset + self.data_len
    }

    /// The 640 header bytes, with the header CRC filled in.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut raw = RawHeader::new_zeroed();
        raw.magic = MAGIC;
        raw.version_major = U16::new(VERSION_MAJOR);
        raw.version_minor = U16::new(self.version_minor);
        raw.optional_features = U64::new(self.optional_features);
        let desc = &self.description;
        raw.dtype = U16::new(desc.dtype().code());
        raw.byte_order = desc.byte_order().code();
        raw.order = desc.order().code();
        // A Description has at most 64 dimensions.
        raw.ndim = u8::try_from(desc.ndim()).unwrap_or(u8::MAX);
        for (slot, &dim) in raw.shape.iter_mut().zip(desc.shape()) {
            *slot = U64::new(dim);
        }
        raw.checksum_state = self.checksum.state().code();
        raw.payload_crc = U32::new(self.checksum.crc_field());
        raw.metadata_crc = U32::new(self.metadata_crc);
        raw.metadata_len = U64::new(self.metadata_len);
        raw.data_offset = U64::new(self.data_offset);
        raw.data_len = U64::new(self.data_len);
        if self.append_in_progress {
            raw.required_features = U64::new(APPEND_IN_PROGRESS);
            raw.append_base_len = U64::new(self.data_len);
        }
        raw.header_crc = U32::new(raw.compute_header_crc());
        let mut out = [0; HEADER_LEN];
        out.copy_from_slice(raw.as_bytes());
        out
    }
}

/// The header as JSON: every field a reader may want, with names as in the spec.
impl serde::Serialize for Header {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let desc = &self.description;
        let mut s = serializer.serialize_struct("Header", 14)?;
        s.serialize_field("version", &format!("{VERSION_MAJOR}.{}", self.version_minor))?;
        s.serialize_field("dtype", &desc.dtype())?;
        s.serialize_field("shape", desc.shape())?;
        s.serialize_field("order", &desc.order())?;
        s.serialize_field("byte_order", &desc.byte_order())?;
        s.serialize_field("itemsize", &desc.dtype().itemsize())?;
        s.serialize_field("element_count", &desc.element_count())?;
        s.serialize_field("data_offset", &self.data_offset)?;
        s.serialize_field("data_len", &self.data_len)?;
        s.serialize_field("metadata_len", &self.metadata_len)?;
        s.serialize_field("checksum_state", &self.checksum.state())?;
        s.serialize_field("payload_crc", &self.checksum.crc_field())?;
        s.serialize_field("optional_features", &self.optional_features)?;
        s.serialize_field("append_in_progress", &self.append_in_progress)?;
        s.end()
    }
}
