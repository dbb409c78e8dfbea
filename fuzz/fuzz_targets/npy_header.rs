//! The `.npy` header parser of `arrfile_npy` over arbitrary bytes: `parse_header`,
//! `parse_header_with_override` (with a dtype chosen by the input's last byte) and
//! `read_header` over a reader must agree, never panic, and accept only headers that
//! `write_header` writes back to an equal array description.
#![no_main]

use arrfile_npy::{self as npy, ReadError};
use arrfile_format::Dtype;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let plain = npy::parse_header(data);
    let dtype_override =
        data.last().and_then(|&b| Dtype::ALL.get(usize::from(b) % (Dtype::ALL.len() + 1))).copied();
    let with_override = npy::parse_header_with_override(data, dtype_override);
    if dtype_override.is_none() {
        assert_eq!(plain, with_override);
    }

    // Reading from a stream gives the same answer as parsing the bytes.
    match (npy::read_header(data, dtype_override), &with_override) {
        (Ok(read), Ok(parsed)) => assert_eq!(&read, parsed),
        (Err(ReadError::Npy(read)), Err(parsed)) => assert_eq!(read.kind(), parsed.kind()),
        (read, parsed) => panic!("read_header gave {read:?}, parse_header {parsed:?}"),
    }

    for result in [&plain, &with_override] {
        match result {
            Ok(header) => {
                let desc = &header.description;
                assert!(header.data_offset <= data.len() as u64);
                let _ = header.check_file_len(data.len() as u64);
                // What numpy would write for this array parses back to the same array.
                let written = npy::write_header(desc).expect("every dtype has a descr");
                assert_eq!(written.len() % 64, 0, "np.save aligns the data to 64 bytes");
                let back = npy::parse_header_with_override(&written, Some(desc.dtype()))
                    .expect("a written header parses");
                assert_eq!(back.description.dtype(), desc.dtype());
                assert_eq!(back.description.shape(), desc.shape());
                if desc.dtype().itemsize() > 1 {
                    assert_eq!(back.description.byte_order(), desc.byte_order());
                }
                assert_eq!(back.data_offset, written.len() as u64);
            }
            Err(e) => {
                let _ = (e.kind(), e.to_string());
            }
        }
    }
});
