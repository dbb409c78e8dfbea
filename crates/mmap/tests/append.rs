//! Format 1.1 appends through the library: round trips against the same array written at
//! once (byte for byte), the checksum rules for every old state, one test per error kind an
//! append can give, the mid-append fixtures, `r+` and appenders on a file a dead appender
//! left, the locks between appenders, replacing writers, `r+` and recovery, readers that
//! keep their map across a commit, and the growing `StreamWriter`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use arrfile_format::{
    Alignment, ByteOrder, ChecksumState, Description, DescriptionError, Dtype, Order,
    PayloadChecksum, Prefix, Verification, crc32,
};
use arrfile_mmap::{
    CopyError, ErrorKind, LockWait, Options, ReadArray, Recovery, StreamWriter, ViewError,
    WriteArray,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// Deterministic bytes that differ from one offset to the next.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// The description with the outer axis `outer` long.
fn with_outer(description: &Description, outer: u64) -> Description {
    description.with_outer_len(outer).unwrap()
}

/// Writes `payload` as a whole new file of `description` (the reference an append must equal).
fn write_whole(path: &Path, description: Description, payload: &[u8]) {
    let mut writer = StreamWriter::create(path, description, None).unwrap();
    writer.write_bytes(payload).unwrap();
    writer.finish().unwrap();
}

/// A file whose header has `checksum`, whatever its payload.
fn write_with_checksum(
    path: &Path,
    description: Description,
    payload: &[u8],
    checksum: PayloadChecksum,
) {
    let prefix = Prefix::new(description, None, Alignment::PAGE).unwrap().with_checksum(checksum);
    let mut bytes = prefix.to_bytes();
    bytes.extend_from_slice(payload);
    std::fs::write(path, bytes).unwrap();
}

/// Appends `rows` (bytes) to `path` in writes cut at `cuts`, and commits.
fn append_in_pieces(path: &Path, rows: &[u8], cuts: &[usize]) -> arrfile_format::Header {
    let mut appender = arrfile_mmap::append(path).unwrap();
    let mut start = 0;
    for &cut in cuts.iter().chain([&rows.len()]) {
        let cut = cut.clamp(start, rows.len());
        appender.write_bytes(&rows[start..cut]).unwrap();
        start = cut;
    }
    appender.commit().unwrap()
}

/// The error of `result`, which must name its file first.
fn error_of<T: std::fmt::Debug>(result: Result<T, arrfile_mmap::Error>) -> arrfile_mmap::Error {
    let error = result.expect_err("expected an error");
    assert!(error.to_string().starts_with(&error.path().display().to_string()), "{error}");
    error
}

/// Asserts that `result` failed with an error whose kind matches the pattern; returns it.
macro_rules! assert_kind {
    ($result:expr, $pattern:pat $(if $guard:expr)?) => {{
        let error = error_of($result);
        assert!(matches!(error.kind(), $pattern $(if $guard)?), "{error}");
        error
    }};
}

// ----------------------------------------------------------------------------------------
// Round trips.

#[test]
fn appends_equal_the_whole_array_written_at_once() {
    let cases = [
        (Dtype::U8, Order::C, ByteOrder::Little, vec![3, 2, 5]),
        (Dtype::I16, Order::F, ByteOrder::Little, vec![5, 2, 3]),
        (Dtype::F32, Order::C, ByteOrder::Big, vec![4, 3]),
        (Dtype::F64, Order::F, ByteOrder::Big, vec![3, 4]),
        (Dtype::C64, Order::C, ByteOrder::Little, vec![2, 3]),
        (Dtype::U64, Order::C, ByteOrder::Big, vec![7]),
        (Dtype::BF16, Order::F, ByteOrder::Little, vec![2, 2, 2]),
        (Dtype::Bool, Order::C, ByteOrder::Little, vec![0, 6]),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (index, (dtype, order, byte_order, shape)) in cases.into_iter().enumerate() {
        let base = Description::new(dtype, shape, order, byte_order).unwrap();
        let row_len = usize::try_from(base.row_len()).unwrap();
        let outer = base.outer_len().unwrap();
        let old = pattern(usize::try_from(base.data_len()).unwrap(), index as u64 + 1);
        let mut rows = pattern(row_len * 4, index as u64 + 100);
        if dtype == Dtype::Bool {
            rows.iter_mut().for_each(|b| *b &= 1);
        }
        let path = dir.path().join(format!("grown{index}.arr"));
        write_whole(&path, base.clone(), &old);
        // Cuts inside rows and inside elements, and an empty write.
        let cuts = [1, row_len / 2 + 1, row_len / 2 + 1, row_len * 2 + 3];
        let header = append_in_pieces(&path, &rows, &cuts);
        assert_eq!(header.description(), &with_outer(&base, outer + 4), "case {index}");
        let whole = dir.path().join(format!("whole{index}.arr"));
        write_whole(&whole, with_outer(&base, outer + 4), &[old, rows].concat());
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&whole).unwrap(), "case {index}");
        assert!(arrfile_mmap::verify_file(&path).unwrap().is_valid());
    }
}

#[test]
fn typed_writes_append_rows_and_refuse_other_dtypes_and_byte_orders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.arr");
    let base = Description::new(Dtype::F32, vec![2, 3], Order::F, ByteOrder::NATIVE).unwrap();
    arrfile_mmap::create_zeroed(&path, base, None).unwrap();
    let mut appender = arrfile_mmap::append(&path).unwrap();
    assert_eq!(appender.row_len(), 8);
    appender.write(&[1.0f32, 2.0, 3.0]).unwrap();
    assert_eq!((appender.rows_written(), appender.bytes_written()), (1, 12));
    appender.write(&[4.0f32]).unwrap();
    assert_kind!(
        appender.write(&[1.0f64]),
        ErrorKind::View(ViewError::DtypeMismatch { requested: Dtype::F64, file: Dtype::F32 })
    );
    let header = appender.commit().unwrap();
    assert_eq!(header.shape(), &[2, 5]);
    let array = arrfile_mmap::open(&path).unwrap();
    assert_eq!(array.view::<f32>().unwrap(), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]);
    assert!(array.verify().is_valid());

    let other =
        if ByteOrder::NATIVE == ByteOrder::Little { ByteOrder::Big } else { ByteOrder::Little };
    let foreign = dir.path().join("foreign.arr");
    arrfile_mmap::create_zeroed(
        &foreign,
        Description::new(Dtype::U16, vec![1], Order::C, other).unwrap(),
        None,
    )
    .unwrap();
    let mut appender = arrfile_mmap::append(&foreign).unwrap();
    assert_kind!(
        appender.write(&[1u16]),
        ErrorKind::View(ViewError::ByteOrderMismatch { file }) if *file == other
    );
    let message = appender.write(&[1u16]).unwrap_err().to_string();
    assert!(message.contains("typed views and writes need the host's byte order"), "{message}");
}

/// A reader that yields its bytes in pieces of the given sizes, in turn.
struct Pieces<'a> {
    bytes: &'a [u8],
    sizes: Vec<usize>,
    next: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()].max(1);
        self.next += 1;
        let n = size.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn copy_from_converts_the_byte_order_while_it_streams() {
    let dir = tempfile::tempdir().unwrap();
    // Small (one serial chunk) and large (the pipelined copy: several 1 MiB chunks).
    for (index, rows) in [3usize, 150_001].into_iter().enumerate() {
        for (file_order, source) in [
            (ByteOrder::Big, ByteOrder::Little),
            (ByteOrder::Little, ByteOrder::Big),
            (ByteOrder::Big, ByteOrder::Big),
        ] {
            let base = Description::new(Dtype::C64, vec![2, 1], Order::C, file_order).unwrap();
            let path = dir.path().join(format!("c{index}{file_order:?}{source:?}.arr"));
            let old = pattern(16, 7);
            write_whole(&path, base.clone(), &old);
            let values: Vec<[f32; 2]> = (0..rows).map(|i| [i as f32, -(i as f32) / 4.0]).collect();
            let in_source: Vec<u8> = values
                .iter()
                .flat_map(|v| v.iter())
                .flat_map(|x| match source {
                    ByteOrder::Little => x.to_le_bytes(),
                    ByteOrder::Big => x.to_be_bytes(),
                })
                .collect();
            let mut appender = arrfile_mmap::append(&path).unwrap();
            let reader = Pieces { bytes: &in_source, sizes: vec![5, 4096, 3, 1 << 20], next: 0 };
            let mut calls = Vec::new();
            let copied = appender.copy_from(reader, source, |n| calls.push(n)).unwrap();
            assert_eq!(copied, in_source.len() as u64);
            assert_eq!(calls.last(), Some(&copied));
            let header = appender.commit().unwrap();
            assert_eq!(header.shape(), &[2 + rows as u64, 1]);
            let array = arrfile_mmap::open(&path).unwrap();
            assert_eq!(&array.to_vec::<[f32; 2]>().unwrap()[2..], &values[..]);
            assert!(array.verify().is_valid());
            // The same bytes as the whole array written at once in the file's byte order.
            let in_file: Vec<u8> = values
                .iter()
                .flat_map(|v| v.iter())
                .flat_map(|x| match file_order {
                    ByteOrder::Little => x.to_le_bytes(),
                    ByteOrder::Big => x.to_be_bytes(),
                })
                .collect();
            let whole = dir.path().join("whole.arr");
            write_whole(&whole, with_outer(&base, 2 + rows as u64), &[old, in_file].concat());
            assert!(std::fs::read(&path).unwrap() == std::fs::read(&whole).unwrap());
        }
    }
}

#[test]
fn a_commit_of_zero_rows_leaves_the_file_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.arr");
    write_whole(&path, Description::c_order(Dtype::I32, vec![3, 2]).unwrap(), &pattern(24, 3));
    let before = std::fs::read(&path).unwrap();
    // Nothing written at all.
    let header = arrfile_mmap::append(&path).unwrap().commit().unwrap();
    assert_eq!(header.shape(), &[3, 2]);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // An empty write, and an empty copy, which begins the append (the flag is set, then
    // cleared by the commit).
    let mut appender = arrfile_mmap::append(&path).unwrap();
    appender.write_bytes(&[]).unwrap();
    assert_eq!(appender.copy_from(&[][..], ByteOrder::Little, |_| {}).unwrap(), 0);
    assert!(arrfile_mmap::inspect(&path).unwrap().0.append_in_progress());
    appender.commit().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn rollback_and_drop_leave_the_file_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.arr");
    write_whole(&path, Description::c_order(Dtype::U8, vec![2, 3]).unwrap(), &pattern(6, 4));
    let before = std::fs::read(&path).unwrap();
    let mut appender = arrfile_mmap::append(&path).unwrap();
    appender.write_bytes(&pattern(3 << 20, 5)).unwrap(); // some of it reaches the file
    assert!(std::fs::metadata(&path).unwrap().len() > before.len() as u64);
    appender.rollback().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let mut appender = arrfile_mmap::append(&path).unwrap();
    appender.write_bytes(&[1, 2, 3, 4]).unwrap();
    drop(appender);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

// ----------------------------------------------------------------------------------------
// The old checksum state decides the new one.

#[test]
fn a_valid_checksum_is_combined_and_other_states_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let base = Description::c_order(Dtype::U16, vec![3, 2]).unwrap();
    let old = pattern(12, 9);
    let rows = pattern(8, 10);
    let whole = [old.clone(), rows.clone()].concat();

    // Valid: the combined CRC is the CRC of the whole payload.
    let valid = dir.path().join("valid.arr");
    write_whole(&valid, base.clone(), &old);
    let header = append_in_pieces(&valid, &rows, &[3]);
    assert_eq!(header.checksum(), PayloadChecksum::Valid(crc32(&whole)));
    assert!(arrfile_mmap::verify_file(&valid).unwrap().is_valid());

    // Absent stays absent: the append does not read the old rows to compute a CRC.
    let absent = dir.path().join("absent.arr");
    write_with_checksum(&absent, base.clone(), &old, PayloadChecksum::Absent);
    let header = append_in_pieces(&absent, &rows, &[]);
    assert_eq!(header.checksum(), PayloadChecksum::Absent);
    assert_eq!(
        arrfile_mmap::verify_file(&absent).unwrap(),
        Verification::NotVerifiable { state: ChecksumState::Absent }
    );

    // Being modified (an r+ writer that died) stays being modified; an r+ commit then
    // computes a full CRC.
    let modified = dir.path().join("modified.arr");
    write_whole(&modified, base.clone(), &old);
    let mut edit = arrfile_mmap::open_mut(&modified).unwrap();
    edit.view_mut::<u16>().unwrap()[0] ^= 0;
    drop(edit);
    assert_eq!(
        arrfile_mmap::inspect(&modified).unwrap().0.checksum_state(),
        ChecksumState::BeingModified
    );
    let header = append_in_pieces(&modified, &rows, &[5]);
    assert_eq!(header.checksum(), PayloadChecksum::BeingModified);
    let mut edit = arrfile_mmap::open_mut(&modified).unwrap();
    assert_eq!(edit.commit().unwrap(), crc32(&whole));
    assert_eq!(edit.as_bytes(), &whole[..]);
}

// ----------------------------------------------------------------------------------------
// One test per error kind.

#[test]
fn a_partial_row_is_refused_at_commit_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.arr");
    write_whole(&path, Description::c_order(Dtype::F32, vec![1, 3]).unwrap(), &pattern(12, 1));
    let before = std::fs::read(&path).unwrap();
    let mut appender = arrfile_mmap::append(&path).unwrap();
    appender.write_bytes(&pattern(12 + 5, 2)).unwrap();
    let error = appender.commit().unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::PartialRow { row_len: 12, written: 17 }), "{error}");
    assert!(
        error.to_string().ends_with(
            "expected whole rows of 12 bytes, found 17 bytes: 1 whole rows and 5 bytes of the next"
        ),
        "{error}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn rows_past_the_size_bound_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    // Rows of 0 bytes whose non-zero dimensions make 2^62 bytes a row: one row at most.
    let path = dir.path().join("b.arr");
    arrfile_mmap::create_zeroed(
        &path,
        Description::c_order(Dtype::U64, vec![0, 0, 1 << 59]).unwrap(),
        None,
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut appender = arrfile_mmap::append(&path).unwrap();
    assert_kind!(appender.write_empty_rows(2), ErrorKind::TooManyRows { max: 1, found: 2 });
    assert_eq!(std::fs::read(&path).unwrap(), before, "refused before the first header write");
    appender.write_empty_rows(1).unwrap();
    assert_kind!(appender.write_empty_rows(1), ErrorKind::TooManyRows { max: 1, found: 2 });
    assert_eq!(appender.commit().unwrap().shape(), &[1, 0, 1 << 59]);
    // A row of 2^62 bytes fits once; the bound is checked before a byte is written.
    let big = dir.path().join("big.arr");
    arrfile_mmap::create_zeroed(
        &big,
        Description::c_order(Dtype::U8, vec![0, 1 << 62]).unwrap(),
        None,
    )
    .unwrap();
    let mut appender = arrfile_mmap::append(&big).unwrap();
    appender.write_bytes(&[1; 16]).unwrap();
    drop(appender);
    let error = error_of(arrfile_mmap::append(&path).unwrap().write_empty_rows(u64::MAX));
    assert_eq!(
        error.kind().to_string(),
        format!(
            "expected at most 1 rows on the outer axis (the size bound of 2^62 bytes for this dtype and trailing shape), found {}",
            u64::MAX
        )
    );
}

#[test]
fn bytes_for_rows_of_zero_bytes_and_empty_rows_for_rows_with_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty_rows = dir.path().join("e.arr");
    arrfile_mmap::create_zeroed(
        &empty_rows,
        Description::c_order(Dtype::F32, vec![2, 0]).unwrap(),
        None,
    )
    .unwrap();
    let mut appender = arrfile_mmap::append(&empty_rows).unwrap();
    assert_eq!(appender.row_len(), 0);
    let error =
        assert_kind!(appender.write_bytes(&[1]), ErrorKind::PartialRow { row_len: 0, written: 1 });
    assert!(error.to_string().ends_with("expected rows of 0 bytes (a trailing dimension is 0), found 1 bytes: count such rows with write_empty_rows"), "{error}");
    let copied =
        appender.copy_from(&[1u8, 2][..], ByteOrder::Little, |_| {}).map_err(|e| match e {
            CopyError::Write(e) => e,
            other => panic!("{other}"),
        });
    assert_kind!(copied, ErrorKind::PartialRow { row_len: 0, written: 1 });
    drop(appender);
    let mut appender = arrfile_mmap::append(&empty_rows).unwrap();
    appender.write_empty_rows(3).unwrap();
    assert_eq!(appender.rows_written(), 3);
    assert_eq!(appender.commit().unwrap().shape(), &[5, 0]);

    let full_rows = dir.path().join("f.arr");
    arrfile_mmap::create_zeroed(
        &full_rows,
        Description::c_order(Dtype::F32, vec![2, 2]).unwrap(),
        None,
    )
    .unwrap();
    let mut appender = arrfile_mmap::append(&full_rows).unwrap();
    assert_kind!(appender.write_empty_rows(1), ErrorKind::RowsNotEmpty { row_len: 8 });
}

#[test]
fn a_fixed_stream_writer_counts_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = StreamWriter::create(
        dir.path().join("s.arr"),
        Description::c_order(Dtype::U8, vec![2, 0]).unwrap(),
        None,
    )
    .unwrap();
    assert_kind!(writer.write_empty_rows(1), ErrorKind::NotGrowing { shape } if shape == &[2, 0]);
}

#[test]
fn after_a_failed_copy_nothing_more_is_written_and_the_append_is_rolled_back() {
    struct FailAfter(usize);
    impl Read for FailAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("the source is on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(7);
            self.0 -= n;
            Ok(n)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.arr");
    write_whole(&path, Description::c_order(Dtype::U8, vec![1, 4]).unwrap(), &[1, 2, 3, 4]);
    let before = std::fs::read(&path).unwrap();
    let mut appender = arrfile_mmap::append(&path).unwrap();
    let result = appender.copy_from(FailAfter(3 << 20), ByteOrder::Little, |_| {});
    assert!(
        matches!(result, Err(CopyError::Read(ref e)) if e.to_string().contains("on fire")),
        "{result:?}"
    );
    let error = assert_kind!(appender.write_bytes(&[1]), ErrorKind::EarlierWriteFailed { .. });
    let ErrorKind::EarlierWriteFailed { given, on_disk } = *error.kind() else { unreachable!() };
    assert_eq!(given, 3 << 20);
    assert!(on_disk <= given, "{on_disk}");
    assert!(matches!(appender.commit().unwrap_err().kind(), ErrorKind::EarlierWriteFailed { .. }));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_0_d_array_cannot_be_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scalar.arr");
    arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::F64, vec![]).unwrap(), None)
        .unwrap();
    assert_kind!(
        arrfile_mmap::append(&path),
        ErrorKind::Description(DescriptionError::NotAppendable)
    );
}

#[test]
fn a_file_replaced_under_the_appender_is_not_committed_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.arr");
    write_whole(&path, Description::c_order(Dtype::U8, vec![1, 2]).unwrap(), &[1, 2]);
    let mut appender = arrfile_mmap::append(&path).unwrap();
    appender.write_bytes(&[3, 4]).unwrap();
    // A program that ignores locks renames another file over the path.
    let other = dir.path().join("other.arr");
    write_whole(&other, Description::c_order(Dtype::U8, vec![3]).unwrap(), &[9, 9, 9]);
    let replacement = std::fs::read(&other).unwrap();
    std::fs::rename(&other, &path).unwrap();
    assert_kind!(appender.commit(), ErrorKind::Replaced);
    assert_eq!(std::fs::read(&path).unwrap(), replacement);
}

// ----------------------------------------------------------------------------------------
// Files a dead appender left.

fn copy_fixture(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::copy(fixtures().join("valid").join(name), &path).unwrap();
    path
}

#[test]
fn r_plus_on_a_file_mid_append_rolls_it_back_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path(), "append_in_progress.arr");
    let edit = arrfile_mmap::open_mut(&path).unwrap();
    assert!(!edit.header().append_in_progress());
    assert_eq!(edit.shape(), &[2, 3]);
    drop(edit);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        std::fs::read(fixtures().join("valid/append_recovered.arr")).unwrap()
    );
}

#[test]
fn an_appender_on_a_file_mid_append_rolls_it_back_then_commits_its_own_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = copy_fixture(dir.path(), "append_in_progress.arr");
    let committed = std::fs::read(fixtures().join("valid/append_committed.arr")).unwrap();
    let mut appender = arrfile_mmap::append(&path).unwrap();
    assert_eq!(appender.header().shape(), &[2, 3]);
    // The fixture's 18 uncommitted bytes were cut, and the appender says so.
    assert_eq!(appender.recovered(), arrfile_mmap::Recovery::RolledBack { bytes_cut: 18 });
    let rows = &committed[4096 + 24..];
    appender.write_bytes(&rows[..7]).unwrap();
    appender.write_bytes(&rows[7..]).unwrap();
    appender.commit().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), committed);
}

// ----------------------------------------------------------------------------------------
// Locks.

fn small_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    write_whole(&path, Description::c_order(Dtype::U8, vec![1, 2]).unwrap(), &[1, 2]);
    path
}

#[test]
fn two_appenders_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_file(dir.path(), "a.arr");
    let mut first = arrfile_mmap::append(&path).unwrap();
    first.write_bytes(&[3, 4]).unwrap();
    let error = arrfile_mmap::append(&path).unwrap_err();
    assert!(matches!(error.kind(), ErrorKind::Locked { wanted: "the append lock", .. }), "{error}");
    assert!(error.to_string().contains("an append or a recovery is running"), "{error}");
    assert!(arrfile_mmap::append_lock_held(&path).unwrap());
    // A recovery is refused too: it would cut the live appender's rows.
    assert!(matches!(arrfile_mmap::recover(&path).unwrap_err().kind(), ErrorKind::Locked { .. }));

    // Waiting: the second appender goes on once the first commits, and sees its rows.
    let (started, waiting) = mpsc::channel();
    let second = std::thread::spawn({
        let path = path.clone();
        move || {
            started.send(()).unwrap();
            let mut second = Options::new().lock_wait(LockWait::Wait).append(&path).unwrap();
            let outer = second.header().shape()[0];
            second.write_bytes(&[5, 6]).unwrap();
            second.commit().unwrap();
            outer
        }
    });
    waiting.recv().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    first.commit().unwrap();
    assert_eq!(second.join().unwrap(), 2, "the second appender waited for the first's commit");
    let array = arrfile_mmap::open(&path).unwrap();
    assert_eq!(array.as_bytes(), [1, 2, 3, 4, 5, 6]);
    assert!(!arrfile_mmap::append_lock_held(&path).unwrap());
}

#[test]
fn r_plus_writers_and_appenders_exclude_each_other_and_readers_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_file(dir.path(), "a.arr");
    let edit = arrfile_mmap::open_mut(&path).unwrap();
    assert!(matches!(arrfile_mmap::append(&path).unwrap_err().kind(), ErrorKind::Locked { .. }));
    drop(edit);
    let mut appender = arrfile_mmap::append(&path).unwrap();
    appender.write_bytes(&[3, 4]).unwrap();
    assert!(matches!(arrfile_mmap::open_mut(&path).unwrap_err().kind(), ErrorKind::Locked { .. }));
    // Readers of every kind read the committed array while the append runs.
    let array = arrfile_mmap::open(&path).unwrap();
    assert_eq!(array.as_bytes(), [1, 2]);
    assert!(array.header().append_in_progress());
    assert!(arrfile_mmap::open_copy(&path).unwrap().verify().is_valid());
    assert!(arrfile_mmap::verify_file(&path).unwrap().is_valid());
    let reader = Options::new().open_reader(&path).unwrap();
    assert_eq!(reader.header().shape(), &[1, 2]);
    let (header, _) = arrfile_mmap::inspect(&path).unwrap();
    assert!(header.append_in_progress());
    assert_eq!(header.shape(), &[1, 2]);
    appender.commit().unwrap();
    // The map made before the commit keeps its shape and bytes.
    assert_eq!(array.as_bytes(), [1, 2]);
    assert!(array.verify().is_valid());
    assert_eq!(arrfile_mmap::open(&path).unwrap().as_bytes(), [1, 2, 3, 4]);
}

#[test]
fn replacing_writers_wait_for_or_are_refused_by_an_appender() {
    let dir = tempfile::tempdir().unwrap();
    let path = small_file(dir.path(), "a.arr");
    let mut appender = arrfile_mmap::append(&path).unwrap();
    appender.write_bytes(&[3, 4]).unwrap();
    // Refused at once: nothing replaces the file, and the temporary file is gone.
    let mut writer =
        StreamWriter::create(&path, Description::c_order(Dtype::U8, vec![1]).unwrap(), None)
            .unwrap();
    writer.write_bytes(&[9]).unwrap();
    let error = writer.finish().unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Locked { wanted: "a record lock to replace the file", .. }
        ),
        "{error}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // Waiting: the replacement lands after the commit, not before.
    let (done, finished) = mpsc::channel();
    let replacer = std::thread::spawn({
        let path = path.clone();
        move || {
            let options = Options::new().lock_wait(LockWait::Wait);
            let desc = Description::c_order(Dtype::U8, vec![1]).unwrap();
            options.create_zeroed(&path, desc, None).unwrap();
            done.send(()).unwrap();
        }
    });
    assert!(finished.recv_timeout(Duration::from_millis(200)).is_err(), "the replacer waited");
    appender.commit().unwrap();
    finished.recv_timeout(Duration::from_secs(10)).unwrap();
    replacer.join().unwrap();
    assert_eq!(arrfile_mmap::open(&path).unwrap().shape(), &[1]);
}

// ----------------------------------------------------------------------------------------
// Recovery.

#[test]
fn recovery_rolls_back_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let recovered = std::fs::read(fixtures().join("valid/append_recovered.arr")).unwrap();
    for (name, cut) in [("append_in_progress.arr", 18), ("append_in_progress_no_tail.arr", 0)] {
        let path = copy_fixture(dir.path(), name);
        assert_eq!(arrfile_mmap::recover(&path).unwrap(), Recovery::RolledBack { bytes_cut: cut });
        assert_eq!(std::fs::read(&path).unwrap(), recovered, "{name}");
        assert_eq!(arrfile_mmap::recover(&path).unwrap(), Recovery::NothingToDo);
        assert_eq!(std::fs::read(&path).unwrap(), recovered, "{name}");
    }
    let path = copy_fixture(dir.path(), "append_in_progress_no_crc.arr");
    let recovery = Options::new().lock_wait(LockWait::Wait).recover(&path).unwrap();
    assert!(recovery.changed_the_file());
    assert!(!arrfile_mmap::inspect(&path).unwrap().0.append_in_progress());
}

// ----------------------------------------------------------------------------------------
// The growing StreamWriter.

#[test]
fn a_growing_stream_writer_fixes_the_outer_dimension_at_finish() {
    let dir = tempfile::tempdir().unwrap();
    for (index, (order, byte_order, trailing)) in [
        (Order::C, ByteOrder::Little, vec![3u64, 2]),
        (Order::F, ByteOrder::Big, vec![2, 3]),
        (Order::C, ByteOrder::Big, vec![]),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.path().join(format!("g{index}.arr"));
        let mut writer =
            StreamWriter::create_growing(&path, Dtype::I16, &trailing, order, byte_order, None)
                .unwrap();
        assert_eq!(writer.header().description().outer_len(), Some(0));
        let values: Vec<i16> = (0..6 * 7).map(|i| i * 3 - 50).collect();
        for chunk in values.chunks(5) {
            writer.write_elements(chunk).unwrap();
        }
        let header = writer.finish().unwrap();
        let expected_outer = if trailing.is_empty() { 42 } else { 7 };
        assert_eq!(header.description().outer_len(), Some(expected_outer));
        let array = arrfile_mmap::open(&path).unwrap();
        assert_eq!(array.to_vec::<i16>().unwrap(), values);
        // Byte for byte the file of the whole array written at once.
        let whole = dir.path().join("whole.arr");
        let mut at_once = StreamWriter::create(&whole, header.description().clone(), None).unwrap();
        at_once.write_elements(&values).unwrap();
        at_once.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&whole).unwrap(), "case {index}");
    }

    // Zero rows: an empty array.
    let path = dir.path().join("empty.arr");
    let writer =
        StreamWriter::create_growing(&path, Dtype::F32, &[4], Order::C, ByteOrder::Little, None)
            .unwrap();
    assert_eq!(writer.finish().unwrap().shape(), &[0, 4]);
    assert!(arrfile_mmap::verify_file(&path).unwrap().is_valid());

    // A partial row: nothing appears.
    let path = dir.path().join("partial.arr");
    let mut writer =
        StreamWriter::create_growing(&path, Dtype::F32, &[4], Order::C, ByteOrder::Little, None)
            .unwrap();
    writer.write_bytes(&[0; 20]).unwrap();
    assert_kind!(writer.finish(), ErrorKind::PartialRow { row_len: 16, written: 20 });
    assert!(!path.exists());

    // Rows of 0 bytes are counted; copy_from reads to the end of its input.
    let path = dir.path().join("zero.arr");
    let mut writer =
        StreamWriter::create_growing(&path, Dtype::U8, &[0], Order::F, ByteOrder::Little, None)
            .unwrap();
    writer.write_empty_rows(4).unwrap();
    assert_eq!(writer.finish().unwrap().shape(), &[0, 4]);
    let path = dir.path().join("copied.arr");
    let options = Options::new().alignment(Alignment::LARGE_PAGE);
    let mut writer =
        options.stream_growing(&path, Dtype::U32, &[2], Order::C, ByteOrder::Big, None).unwrap();
    let input: Vec<u8> = (0..3_000_000u32).flat_map(|v| v.to_le_bytes()).collect();
    let copied = writer.copy_from(&mut &input[..], ByteOrder::Little, |_| {}).unwrap();
    assert_eq!(copied, input.len() as u64);
    let header = writer.finish().unwrap();
    assert_eq!((header.shape(), header.data_offset()), (&[1_500_000, 2][..], 65536));
    let array = arrfile_mmap::open(&path).unwrap();
    assert_eq!(array.to_vec::<u32>().unwrap()[2_999_999], 2_999_999);
    assert!(array.verify().is_valid());

    // A row over the size bound is refused at creation.
    let error = StreamWriter::create_growing(
        dir.path().join("x.arr"),
        Dtype::U64,
        &[1 << 60],
        Order::C,
        ByteOrder::Little,
        None,
    )
    .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Description(DescriptionError::SizeOverflow { .. })),
        "{error}"
    );
}
