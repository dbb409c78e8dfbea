//! The whole-file API: `open`, `import` and `export`, and one test per `FileError` kind.

use std::ops::ControlFlow;
use std::path::Path;

use arrfile_format::{ByteOrder, Description, Dtype, Order};
use arrfile_mmap::{Options, ReadArray, StreamWriter};
use arrfile_npy::{ExportFormat, FileError, NpyError};

fn reader(path: &Path) -> arrfile_mmap::ArrayReader {
    Options::new().open_reader(path).unwrap()
}

fn go(_: u64) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

fn arrfile_of(path: &Path, desc: Description, bytes: &[u8]) {
    let mut writer = StreamWriter::create(path, desc, None).unwrap();
    writer.write_bytes(bytes).unwrap();
    writer.finish().unwrap();
}

#[test]
fn export_then_import_keeps_every_value_and_fortran_order() {
    let dir = tempfile::tempdir().unwrap();
    let (arr, npy, raw, back) = (
        dir.path().join("a.arr"),
        dir.path().join("a.npy"),
        dir.path().join("a.dat"),
        dir.path().join("b.arr"),
    );
    let desc = Description::new(Dtype::U16, vec![2, 3], Order::F, ByteOrder::Big).unwrap();
    let payload: Vec<u8> = (1u16..=6).flat_map(u16::to_be_bytes).collect();
    arrfile_of(&arr, desc, &payload);
    let array = reader(&arr);

    let mut steps = Vec::new();
    arrfile_npy::export(&array, &npy, ExportFormat::Npy, false, |step| {
        steps.push(step);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(steps, [12], "one step for a payload of less than 8 MiB");
    let (header, _) = arrfile_npy::open(&npy, None).unwrap();
    assert_eq!(header.descr, ">u2");
    assert_eq!(header.description.order(), Order::F);

    arrfile_npy::export(&array, &raw, ExportFormat::Raw, false, go).unwrap();
    assert_eq!(std::fs::read(&raw).unwrap(), payload);

    let imported = arrfile_npy::import(&npy, &back, &Options::new()).unwrap();
    assert_eq!(imported.description().byte_order(), ByteOrder::Little);
    assert_eq!(imported.description().order(), Order::F);
    let back = arrfile_mmap::open(&back).unwrap();
    assert_eq!(back.to_vec::<u16>().unwrap(), [1, 2, 3, 4, 5, 6]);
    assert!(back.verify().is_valid());
}

#[test]
fn error_npy_refused_by_import() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("short.npy");
    let mut bytes =
        arrfile_npy::write_header(&Description::c_order(Dtype::F32, vec![4]).unwrap()).unwrap();
    bytes.extend_from_slice(&[0; 12]); // 3 of the 4 elements
    std::fs::write(&npy, bytes).unwrap();
    let out = dir.path().join("out.arr");
    match arrfile_npy::import(&npy, &out, &Options::new()) {
        Err(FileError::Npy { path, source: NpyError::TruncatedData { expected, found } }) => {
            assert_eq!((path, expected, found), (npy.clone(), 16, 12));
        }
        other => panic!("expected a truncated .npy, got {other:?}"),
    }
    assert!(!out.exists(), "nothing at the output");
}

#[test]
fn error_io_on_a_missing_input() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.npy");
    let e = arrfile_npy::open(&missing, None).unwrap_err();
    assert!(matches!(&e, FileError::Io { path, action: "opening", .. } if *path == missing), "{e}");
    assert!(e.to_string().starts_with(&format!("{}: opening: ", missing.display())), "{e}");
}

#[test]
fn error_corrupt_arrfile_is_not_exported() {
    let dir = tempfile::tempdir().unwrap();
    let arr = dir.path().join("a.arr");
    arrfile_of(&arr, Description::c_order(Dtype::U8, vec![4]).unwrap(), &[1, 2, 3, 4]);
    let mut bytes = std::fs::read(&arr).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&arr, bytes).unwrap();
    let out = dir.path().join("a.npy");
    let e = arrfile_npy::export(&reader(&arr), &out, ExportFormat::Npy, false, go).unwrap_err();
    assert!(matches!(e, FileError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("payload checksum mismatch"), "{e}");
    assert!(!out.exists());
}

#[test]
fn error_stopped_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let arr = dir.path().join("a.arr");
    arrfile_of(&arr, Description::c_order(Dtype::U8, vec![4]).unwrap(), &[1, 2, 3, 4]);
    let out = dir.path().join("a.npy");
    let array = reader(&arr);
    let e = arrfile_npy::export(&array, &out, ExportFormat::Npy, false, |_| ControlFlow::Break(()))
        .unwrap_err();
    assert!(matches!(&e, FileError::Stopped { path } if *path == out), "{e}");
    let left: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("a.arr")], "no output, no temporary file");
}

#[test]
fn error_arrfile_when_the_output_exists() {
    let dir = tempfile::tempdir().unwrap();
    let arr = dir.path().join("a.arr");
    arrfile_of(&arr, Description::c_order(Dtype::U8, vec![1]).unwrap(), &[9]);
    let out = dir.path().join("taken.npy");
    std::fs::write(&out, b"keep me").unwrap();
    let e = arrfile_npy::export(&reader(&arr), &out, ExportFormat::Raw, false, go).unwrap_err();
    assert!(
        matches!(&e, FileError::Arrfile(inner) if matches!(inner.kind(), arrfile_mmap::ErrorKind::AlreadyExists)),
        "{e}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
}

#[test]
fn every_spec_dtype_exports_to_a_npy_numpy_reads() {
    // Every spec dtype has a descr numpy reads (bf16 as <V2, fp8 as |V1): export never
    // refuses a valid arrfile for its dtype.
    let dir = tempfile::tempdir().unwrap();
    for dtype in [Dtype::BF16, Dtype::F8E4M3FN, Dtype::F8E5M2, Dtype::C128, Dtype::Bool] {
        let arr = dir.path().join(format!("{dtype}.arr"));
        let desc = Description::c_order(dtype, vec![1]).unwrap();
        arrfile_of(&arr, desc, &vec![0; dtype.itemsize()]);
        let out = dir.path().join(format!("{dtype}.npy"));
        arrfile_npy::export(&reader(&arr), &out, ExportFormat::Npy, false, go)
            .unwrap_or_else(|e| panic!("{dtype}: {e}"));
    }
}
