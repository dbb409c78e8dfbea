//! The payload checksum and its state (spec §8), and the verification outcome.

use serde::{Deserialize, Serialize};

/// The three states of the payload checksum, without the CRC value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumState {
    /// No checksum was computed.
    Absent,
    /// `payload_crc` is the CRC-32 of the payload as committed.
    Valid,
    /// A writer has the payload open for in-place change; no checksum can be trusted.
    BeingModified,
}

impl ChecksumState {
    /// The header's encoding of this state.
    pub fn code(self) -> u8 {
        match self {
            ChecksumState::Absent => 0,
            ChecksumState::Valid => 1,
            ChecksumState::BeingModified => 2,
        }
    }

    /// The state a header code stands for, if any.
    pub fn from_code(code: u8) -> Option<ChecksumState> {
        match code {
            0 => Some(ChecksumState::Absent),
            1 => Some(ChecksumState::Valid),
            2 => Some(ChecksumState::BeingModified),
            _ => None,
        }
    }

    /// `absent`, `valid` or `being_modified`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumState::Absent => "absent",
            ChecksumState::Valid => "valid",
            ChecksumState::BeingModified => "being_modified",
        }
    }
}

/// The payload checksum field and its state, as one value that cannot be inconsistent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadChecksum {
    /// State *absent*, CRC field zero.
    Absent,
    /// State *valid*, with the payload's CRC-32.
    Valid(u32),
    /// State *being modified*, CRC field zero.
    BeingModified,
}

impl PayloadChecksum {
    /// The checksum the header's `checksum_state` and `payload_crc` fields describe (R12):
    /// states *absent* and *being modified* have a zero CRC field.
    pub fn from_fields(state: u8, crc: u32) -> Option<PayloadChecksum> {
        match (ChecksumState::from_code(state)?, crc) {
            (ChecksumState::Absent, 0) => Some(PayloadChecksum::Absent),
            (ChecksumState::Valid, crc) => Some(PayloadChecksum::Valid(crc)),
            (ChecksumState::BeingModified, 0) => Some(PayloadChecksum::BeingModified),
            _ => None,
        }
    }

    /// The state, without the CRC.
    pub fn state(self) -> ChecksumState {
        match self {
            PayloadChecksum::Absent => ChecksumState::Absent,
            PayloadChecksum::Valid(_) => ChecksumState::Valid,
            PayloadChecksum::BeingModified => ChecksumState::BeingModified,
        }
    }

    /// The value of the `payload_crc` field: the CRC when valid, else 0.
    pub fn crc_field(self) -> u32 {
        match self {
            PayloadChecksum::Valid(crc) => crc,
            PayloadChecksum::Absent | PayloadChecksum::BeingModified => 0,
        }
    }

    /// Compares the stored checksum with the CRC-32 `found` of the payload as it is now.
    pub fn verify_against(self, found: u32) -> Verification {
        match self {
            PayloadChecksum::Valid(expected) if expected == found => {
                Verification::Valid { crc: found }
            }
            PayloadChecksum::Valid(expected) => Verification::Mismatch { expected, found },
            other => Verification::NotVerifiable { state: other.state() },
        }
    }
}

/// The outcome of verifying a payload against its stored checksum (spec §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[must_use]
pub enum Verification {
    /// The payload's CRC-32 equals the stored one.
    Valid {
        /// The CRC.
        crc: u32,
    },
    /// The payload's CRC-32 differs from the stored one: the file is corrupt.
    Mismatch {
        /// The CRC in the header.
        expected: u32,
        /// The CRC of the payload as it is.
        found: u32,
    },
    /// The header holds no checksum to compare with.
    NotVerifiable {
        /// Why: [`ChecksumState::Absent`] or [`ChecksumState::BeingModified`].
        state: ChecksumState,
    },
}

impl Verification {
    /// True only for [`Verification::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, Verification::Valid { .. })
    }

    /// `valid`, `payload_checksum_mismatch` or `not_verifiable`, as in the fixture manifest.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Verification::Valid { .. } => "valid",
            Verification::Mismatch { .. } => "payload_checksum_mismatch",
            Verification::NotVerifiable { .. } => "not_verifiable",
        }
    }
}

/// CRC-32/IEEE of `bytes`, the checksum the spec uses everywhere.
///
/// ```
/// assert_eq!(arrfile_format::crc32(b"123456789"), 0xCBF4_3926);
/// ```
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// CRC-32/ISO-HDLC of `len` zero bytes, in O(log len) steps and without reading anything:
/// the checksum of a freshly created, sparse payload.
///
/// ```
/// assert_eq!(arrfile_format::crc32_of_zeros(10_000), arrfile_format::crc32(&[0; 10_000]));
/// ```
pub fn crc32_of_zeros(len: u64) -> u32 {
    // `block` hashes 2^k zeros; doubling it combines it with itself.
    let mut block = crc32fast::Hasher::new();
    block.update(&[0]);
    let mut total = crc32fast::Hasher::new();
    let mut rest = len;
    while rest > 0 {
        if rest & 1 == 1 {
            total.combine(&block);
        }
        rest >>= 1;
        if rest > 0 {
            let copy = block.clone();
            block.combine(&copy);
        }
    }
    total.finalize()
}

/// The CRC-32 of `a ‖ b` from `crc32(a)`, `crc32(b)` and the length of `b`, without reading
/// either: how an append extends the payload's checksum (spec §11.3).
///
/// ```
/// use arrfile_format::{crc32, crc32_combine};
/// let (a, b) = (b"committed rows ".as_slice(), b"appended rows".as_slice());
/// let whole = [a, b].concat();
/// assert_eq!(crc32_combine(crc32(a), crc32(b), b.len() as u64), crc32(&whole));
/// ```
pub fn crc32_combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    let mut first = crc32fast::Hasher::new_with_initial_len(crc_a, 0);
    first.combine(&crc32fast::Hasher::new_with_initial_len(crc_b, len_b));
    first.finalize()
}

impl PayloadChecksum {
    /// The checksum of the payload after `appended` bytes whose CRC-32 is `appended_crc` are
    /// added after it (spec §11.3): a *valid* CRC is extended without reading the old bytes;
    /// *absent* stays absent and *being modified* stays being modified, because the old
    /// bytes' CRC is unknown and an append never reads them.
    ///
    /// ```
    /// use arrfile_format::{crc32, PayloadChecksum};
    /// let old = PayloadChecksum::Valid(crc32(b"ab"));
    /// assert_eq!(old.appended(crc32(b"cd"), 2), PayloadChecksum::Valid(crc32(b"abcd")));
    /// assert_eq!(PayloadChecksum::Absent.appended(crc32(b"cd"), 2), PayloadChecksum::Absent);
    /// ```
    pub fn appended(self, appended_crc: u32, appended: u64) -> PayloadChecksum {
        match self {
            PayloadChecksum::Valid(crc) => {
                PayloadChecksum::Valid(crc32_combine(crc, appended_crc, appended))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_of_zeros_matches_hashing_them() {
        for len in [0usize, 1, 2, 3, 7, 64, 4095, 4096, 100_003] {
            assert_eq!(crc32_of_zeros(len as u64), crc32(&vec![0; len]), "{len}");
        }
    }

    #[test]
    fn combining_crcs_equals_hashing_the_concatenation() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for split in [0, 1, 4095, 4096, 9_999, 10_000] {
            let (a, b) = data.split_at(split);
            assert_eq!(crc32_combine(crc32(a), crc32(b), b.len() as u64), crc32(&data), "{split}");
        }
    }

    #[test]
    fn header_codes_decode_to_what_they_encode() {
        for state in [ChecksumState::Absent, ChecksumState::Valid, ChecksumState::BeingModified] {
            assert_eq!(ChecksumState::from_code(state.code()), Some(state));
        }
        assert_eq!(ChecksumState::from_code(3), None);
        assert_eq!(PayloadChecksum::from_fields(1, 7), Some(PayloadChecksum::Valid(7)));
        assert_eq!(PayloadChecksum::from_fields(0, 7), None);
        assert_eq!(PayloadChecksum::from_fields(2, 0), Some(PayloadChecksum::BeingModified));
    }
}
