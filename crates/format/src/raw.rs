//! The on-disk header exactly as the spec lays it out (§3), with no validation.

use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::{HEADER_LEN, MAX_NDIM};

/// The 640-byte header as stored: every integer little-endian, alignment 1.
///
/// This type can hold any bytes at all; [`crate::Header`] is the validated view. Field
/// names and offsets are those of the spec's table in §3.
#[derive(Clone, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RawHeader {
    /// Offset 0: the magic, [`crate::MAGIC`].
    pub magic: [u8; 8],
    /// Offset 8.
    pub version_major: U16,
    /// Offset 10.
    pub version_minor: U16,
    /// Offset 12: CRC-32 of the header with this field zeroed.
    pub header_crc: U32,
    /// Offset 16.
    pub required_features: U64,
    /// Offset 24.
    pub optional_features: U64,
    /// Offset 32: dtype code (§4).
    pub dtype: U16,
    /// Offset 34: 0 little, 1 big.
    pub byte_order: u8,
    /// Offset 35: 0 C, 1 F.
    pub order: u8,
    /// Offset 36.
    pub ndim: u8,
    /// Offset 37: 0 absent, 1 valid, 2 being modified.
    pub checksum_state: u8,
    /// Offset 38: reserved, zero.
    pub reserved_38: [u8; 2],
    /// Offset 40.
    pub payload_crc: U32,
    /// Offset 44.
    pub metadata_crc: U32,
    /// Offset 48.
    pub metadata_len: U64,
    /// Offset 56.
    pub data_offset: U64,
    /// Offset 64.
    pub data_len: U64,
    /// Offset 72: `append_base_len` while [`crate::APPEND_IN_PROGRESS`] is set (spec §11),
    /// otherwise reserved and zero.
    pub append_base_len: U64,
    /// Offset 80: reserved, zero.
    pub reserved_80: [u8; 48],
    /// Offset 128: 64 dimension slots; slots at and past `ndim` are zero.
    pub shape: [U64; MAX_NDIM],
}

const _: () = assert!(size_of::<RawHeader>() == HEADER_LEN);

/// Byte range of `header_crc`, zeroed when the header CRC is computed.
pub(crate) const HEADER_CRC_RANGE: core::ops::Range<usize> = 12..16;

impl RawHeader {
    /// The header CRC of these bytes: CRC-32 of the 640 bytes with `header_crc` taken as zero.
    pub fn compute_header_crc(&self) -> u32 {
        let bytes = self.as_bytes();
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&bytes[..HEADER_CRC_RANGE.start]);
        hasher.update(&[0; 4]);
        hasher.update(&bytes[HEADER_CRC_RANGE.end..]);
        hasher.finalize()
    }

    /// Offsets (from the start of the file) of the first non-zero reserved byte, if any,
    /// including unused shape slots from `ndim` on (when `ndim` is at most 64). Bytes
    /// `[72, 80)` are reserved only while [`crate::APPEND_IN_PROGRESS`] is clear.
    pub(crate) fn first_nonzero_reserved(&self) -> Option<usize> {
        let bytes = self.as_bytes();
        let ndim = usize::from(self.ndim).min(MAX_NDIM);
        let appending = self.required_features.get() & crate::APPEND_IN_PROGRESS != 0;
        let reserved_72 = if appending { 80..128 } else { 72..128 };
        let ranges = [38..40, reserved_72, 128 + 8 * ndim..HEADER_LEN];
        ranges
            .into_iter()
            .flat_map(|range| range.into_iter())
            .find(|&offset| bytes.get(offset).is_some_and(|&b| b != 0))
    }
}
