//! Writes arbitrary bytes to a file and opens it as `arrfile_mmap` would: `open` then
//! `verify`, and `open_copy` (mode `c`), whose writes must not reach the file. The outcome
//! must agree with the in-memory parser.
//!
//! Each input is tried as it is and with its metadata and header CRCs recomputed, so that
//! mutations reach the checks after R5.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arrfile_format::HEADER_LEN;
use arrfile_mmap::{ReadArray, WriteArray, open, open_copy};
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"));
        dir.path().join("input.arr")
    })
}

/// Recomputes `metadata_crc` (when the claimed metadata lies within the input) and
/// `header_crc`, in place.
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

fn check(path: &Path, data: &[u8]) {
    std::fs::write(path, data).expect("writing the input file");
    let expected = arrfile_format::parse(data);

    match open(path) {
        Ok(array) => {
            let file = expected.as_ref().expect("open accepted what parse refused");
            assert_eq!(array.header(), &file.header);
            assert_eq!(array.attributes(), file.attributes.as_ref());
            assert_eq!(array.as_bytes(), file.payload);
            assert_eq!(array.verify(), file.verify());
        }
        Err(e) => {
            let _ = e.to_string();
            let parse_error =
                e.parse_error().expect("a file on a local disk fails only a reader check");
            assert_eq!(Some(parse_error), expected.as_ref().err());
        }
    }

    if let Ok(mut copy) = open_copy(path) {
        let verification = copy.verify();
        if let Ok(bytes) = copy.as_bytes_mut() {
            bytes.iter_mut().for_each(|b| *b = !*b);
        }
        drop(copy);
        let on_disk = std::fs::read(path).expect("reading the file back");
        assert_eq!(on_disk, data, "mode c wrote to the file");
        assert_eq!(Some(verification), expected.as_ref().ok().map(|f| f.verify()));
    }
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    check(path, data);
    let mut fixed = data.to_vec();
    fix_crcs(&mut fixed);
    if fixed != data {
        check(path, &fixed);
    }
});
