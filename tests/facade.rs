//! The facade re-exports the libraries: `arrfile::open`, `arrfile::Description`, ... and the
//! modules `arrfile::format`, `arrfile::mmap` and `arrfile::npy`; it forwards `ndarray`.

use std::path::PathBuf;

use arrfile::{
    ByteOrder, ChecksumState, Description, Dtype, ErrorKind, Order, ReadArray, Verification,
    WriteArray,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/valid").join(name)
}

#[test]
fn open_a_fixture_through_the_facade() {
    // fixtures/manifest.json: f32 [2, 3], C order, little endian, payload_crc 3547370123.
    let array = arrfile::open(fixture("dtype_f32.arr")).unwrap();
    assert_eq!(array.dtype(), Dtype::F32);
    assert_eq!(array.shape(), &[2, 3]);
    assert_eq!(array.order(), Order::C);
    assert_eq!(array.byte_order(), ByteOrder::Little);
    assert_eq!(array.checksum_state(), ChecksumState::Valid);
    assert_eq!(array.to_vec::<f32>().unwrap(), [-1.25, -0.75, -0.25, 0.25, 0.75, 1.25]);
    if ByteOrder::NATIVE == ByteOrder::Little {
        assert_eq!(array.view::<f32>().unwrap(), [-1.25, -0.75, -0.25, 0.25, 0.75, 1.25]);
    }
    assert_eq!(array.verify(), Verification::Valid { crc: 3_547_370_123 });
    assert_eq!(arrfile::verify_file(fixture("dtype_f32.arr")).unwrap(), array.verify());

    // The same through the modules, and through the format crate alone.
    let via_module = arrfile::mmap::open(fixture("dtype_f32.arr")).unwrap();
    assert_eq!(via_module.description(), array.description());
    let bytes = std::fs::read(fixture("dtype_f32.arr")).unwrap();
    let parsed = arrfile::format::parse(&bytes).unwrap();
    assert_eq!(parsed.header.description(), array.description());
    assert_eq!(arrfile::format::crc32(array.as_bytes()), 3_547_370_123);

    // A wrong dtype is an error, not a panic.
    let error = array.view::<f64>().unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::View(_)), "{error}");
}

#[test]
fn attributes_and_errors_through_the_facade() {
    let array = arrfile::open(fixture("metadata.arr")).unwrap();
    let attributes: &arrfile::Attributes = array.attributes().unwrap();
    assert_eq!(attributes["units"], "kelvin");
    assert_eq!(attributes["instrument"]["name"], "µ-probe");
    assert_eq!(array.to_vec::<f32>().unwrap(), [-1.25, -0.75, -0.25, 0.25]);

    // Big-endian payloads convert through to_vec.
    let big = arrfile::open(fixture("big_endian_f64.arr")).unwrap();
    assert_eq!(big.byte_order(), ByteOrder::Big);
    assert_eq!(big.to_vec::<f64>().unwrap()[0], 1e10);

    // ArrayFile is not Debug, so `unwrap_err` is not available: `.err()` instead.
    let missing = arrfile::open(fixture("no_such_file.arr")).err().unwrap();
    assert!(matches!(missing.kind(), ErrorKind::NotFound));
    let invalid = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/invalid/data_offset_overlaps_metadata.arr");
    let error = arrfile::open(invalid).err().unwrap();
    let parse: &arrfile::ParseError = error.parse_error().unwrap();
    assert_eq!(parse.kind(), arrfile::ParseErrorKind::DataOffsetOverlapsMetadata);
}

#[test]
fn create_and_reopen_through_the_facade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.arr");
    let desc = Description::c_order(Dtype::I64, vec![3, 2]).unwrap();
    let mut new: arrfile::NewArrayFile = arrfile::create(&path, desc.clone(), None).unwrap();
    new.view_mut::<i64>().unwrap().copy_from_slice(&[1, 2, 3, 4, 5, 6]);
    let header: arrfile::Header = new.finish().unwrap();
    assert_eq!(header.description(), &desc);

    let mut edit: arrfile::ArrayFileMut = arrfile::open_mut(&path).unwrap();
    edit.view_mut::<i64>().unwrap()[5] = 60;
    edit.commit().unwrap();
    drop(edit);

    let array: arrfile::ArrayFile =
        arrfile::Options::new().lock_wait(arrfile::LockWait::Wait).open(&path).unwrap();
    assert_eq!(array.to_vec::<i64>().unwrap(), [1, 2, 3, 4, 5, 60]);
    assert!(array.verify().is_valid());
}

#[test]
fn npy_through_the_facade_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (npy, back) = (dir.path().join("x.npy"), dir.path().join("back.arr"));
    // Big endian, so that the way back to an arrfile swaps every value.
    let array = arrfile::open(fixture("big_endian_f64.arr")).unwrap();
    assert_eq!(array.byte_order(), ByteOrder::Big);
    let reader = arrfile::Options::new().open_reader(fixture("big_endian_f64.arr")).unwrap();
    arrfile::npy::export(&reader, &npy, arrfile::npy::ExportFormat::Npy, false, |_| {
        std::ops::ControlFlow::Continue(())
    })
    .unwrap();
    let header = arrfile::npy::import(&npy, &back, &arrfile::Options::new()).unwrap();
    assert_eq!(header.shape(), array.shape());
    assert_eq!(header.description().byte_order(), ByteOrder::Little, "stored little endian");
    let again = arrfile::open(&back).unwrap();
    assert!(again.verify().is_valid());
    assert_eq!(again.dtype(), array.dtype());
    // The same values, though the two files store them in opposite byte orders.
    let bits = |values: Vec<f64>| values.into_iter().map(f64::to_bits).collect::<Vec<_>>();
    assert_eq!(bits(again.to_vec().unwrap()), bits(array.to_vec().unwrap()), "NaN payloads too");
    assert_ne!(again.as_bytes(), array.as_bytes());
}

#[cfg(feature = "ndarray")]
#[test]
fn the_ndarray_feature_is_forwarded() {
    let array = arrfile::open(fixture("dtype_f32.arr")).unwrap();
    let view = array.array_view::<f32>().unwrap();
    assert_eq!(view.shape(), &[2, 3]);
    assert_eq!(view[[1, 2]], 1.25);
}
