//! Parses arbitrary bytes as an arrfile, in memory: `parse` (R1–R24) and `Header::parse`
//! (R1–R20) over the whole input, over its first 640 bytes, and with other claimed file
//! lengths. Nothing may panic; the results must agree with each other.
//!
//! Each input is parsed twice: as it is, and with its metadata and header CRCs recomputed,
//! so that mutations reach the checks after R5 (a random header fails its CRC).
#![no_main]

use arrfile_format::{HEADER_LEN, Header, parse};
use libfuzzer_sys::fuzz_target;

/// Recomputes `metadata_crc` (when the claimed metadata lies within the input) and
/// `header_crc`, in place. Inputs shorter than a header are left alone.
fn fix_crcs(data: &mut [u8]) {
    if data.len() < HEADER_LEN {
        return;
    }
    let metadata_len = u64::from_le_bytes(data[48..56].try_into().expect("8 bytes"));
    if let Some(metadata) = usize::try_from(metadata_len)
        .ok()
        .and_then(|len| len.checked_add(HEADER_LEN))
        .and_then(|end| data.get(HEADER_LEN..end))
    {
        let crc = arrfile_format::crc32(metadata);
        data[44..48].copy_from_slice(&crc.to_le_bytes());
    }
    data[12..16].fill(0);
    let crc = arrfile_format::crc32(&data[..HEADER_LEN]);
    data[12..16].copy_from_slice(&crc.to_le_bytes());
}

fn check(data: &[u8]) {
    let len = data.len() as u64;
    let whole = Header::parse(data, len);

    // A reader that has only read the header (as `arrfile_mmap` does) decides R1–R20 alike.
    let head = &data[..data.len().min(HEADER_LEN)];
    assert_eq!(Header::parse(head, len), whole, "R1-R20 need only the header and the length");

    match parse(data) {
        Ok(file) => {
            let header = whole.expect("parse accepted what Header::parse refused");
            assert_eq!(file.header, header);
            assert_eq!(header.file_len(), len);
            assert_eq!(file.payload.len() as u64, header.data_len());
            assert_eq!(header.data_offset() % 4096, 0);
            // A valid header re-encodes to exactly its bytes: every byte is accounted for.
            assert_eq!(&header.to_bytes()[..], &data[..HEADER_LEN]);
            let _ = file.verify();
        }
        Err(e) => {
            let _ = (e.kind(), e.to_string());
            if let Ok(header) = &whole {
                // R1-R20 passed, so R21-R24 failed: check_prefix must say the same.
                assert_eq!(header.check_prefix(data).err(), Some(e));
            }
        }
    }

    // Other claimed lengths, one taken from the input's last bytes: a reader that trusts a
    // stat() must still not panic, read past the slice or allocate by it.
    let mut word = [0u8; 8];
    let tail = &data[data.len().saturating_sub(8)..];
    word[..tail.len()].copy_from_slice(tail);
    for claimed in
        [u64::from_le_bytes(word), len.saturating_add(1), len.saturating_sub(1), u64::MAX]
    {
        if let Ok(header) = Header::parse(data, claimed) {
            assert_eq!(header.file_len(), claimed);
            let _ = header.check_prefix(data);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut fixed = data.to_vec();
    fix_crcs(&mut fixed);
    if fixed != data {
        check(&fixed);
    }
});
