//! Each mode's semantics, shown on the bytes on disk; atomic creation; locks; path errors.

use std::path::{Path, PathBuf};

use arrfile_format::{ChecksumState, Description, Dtype, crc32};
use arrfile_mmap::{
    ErrorKind, LockWait, Options, ReadArray, StreamWriter, Verification, WriteArray, create, open,
    open_copy, open_mut,
};

/// Byte offsets of the header fields these tests read (spec §3).
const STATE: usize = 37;
const PAYLOAD_CRC: std::ops::Range<usize> = 40..44;

fn disk(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn disk_crc(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[PAYLOAD_CRC].try_into().unwrap())
}

/// A finished `i32[4, 5]` file holding 0..20.
fn make(dir: &Path) -> PathBuf {
    let path = dir.join("a.arr");
    let mut new =
        create(&path, Description::c_order(Dtype::I32, vec![4, 5]).unwrap(), None).unwrap();
    new.view_mut::<i32>().unwrap().iter_mut().zip(0..).for_each(|(v, i)| *v = i);
    new.finish().unwrap();
    path
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The one temporary file of a writer of `name` in `dir` (a `w+` writer does not tell its
/// temporary path: nothing else may write the bytes it maps).
fn temp_file_of(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let prefix = format!(".{name}.arrtmp-");
    let found: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&prefix))
        .collect();
    assert_eq!(found.len(), 1, "one temporary file of {name}: {found:?}");
    found.into_iter().next().unwrap()
}

#[test]
fn w_plus_appears_complete_at_finish_and_not_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.arr");
    let mut new = create(&path, Description::c_order(Dtype::F64, vec![3]).unwrap(), None).unwrap();
    assert!(!path.exists(), "nothing at the final path before finish");
    let temp = temp_file_of(dir.path(), "new.arr");
    assert!(temp.file_name().unwrap().to_string_lossy().starts_with(".new.arr.arrtmp-"));
    new.view_mut::<f64>().unwrap().copy_from_slice(&[1.5, 2.5, 3.5]);
    let header = new.finish().unwrap();
    assert_eq!(entries(dir.path()), vec!["new.arr"]);
    let bytes = disk(&path);
    assert_eq!(bytes.len(), 4096 + 24);
    assert_eq!(bytes[STATE], 1, "finished files claim a valid checksum");
    assert_eq!(disk_crc(&bytes), crc32(&bytes[4096..]));
    assert_eq!(header.checksum_state(), ChecksumState::Valid);
    assert_eq!(open(&path).unwrap().view::<f64>().unwrap(), &[1.5, 2.5, 3.5]);
}

#[test]
fn w_plus_dropped_unfinished_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.arr");
    let mut new = create(&path, Description::c_order(Dtype::U8, vec![10]).unwrap(), None).unwrap();
    new.as_bytes_mut().unwrap().fill(9);
    drop(new);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn w_plus_is_sparse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.arr");
    // 8 GiB of zeros that take no disk space.
    let new =
        create(&path, Description::c_order(Dtype::F64, vec![1 << 30]).unwrap(), None).unwrap();
    let temp = temp_file_of(dir.path(), "big.arr");
    let meta = std::fs::metadata(&temp).unwrap();
    drop(new);
    assert_eq!(meta.len(), 4096 + (8 << 30));
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        assert!(meta.blocks() * 512 < 1 << 20, "{} bytes allocated", meta.blocks() * 512);
    }
}

#[test]
fn r_plus_marks_being_modified_before_handing_out_a_view_and_commit_rechecksums() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(dir.path());
    let before = disk(&path);
    assert_eq!(before[STATE], 1);

    let mut edit = open_mut(&path).unwrap();
    assert_eq!(disk(&path), before, "opening r+ alone changes nothing");
    let view = edit.view_mut::<i32>().unwrap();
    let during = disk(&path);
    assert_eq!(during[STATE], 2, "being modified on disk before the view exists");
    assert_eq!(disk_crc(&during), 0);
    view[0] = 1000;
    let crc = edit.commit().unwrap();
    let after = disk(&path);
    assert_eq!(after[STATE], 1);
    assert_eq!(disk_crc(&after), crc);
    assert_eq!(crc, crc32(&after[4096..]));
    assert_eq!(i32::from_le_bytes(after[4096..4100].try_into().unwrap()), 1000);
    drop(edit);
    assert!(open(&path).unwrap().verify().is_valid());
}

#[test]
fn r_plus_dropped_without_commit_stays_being_modified() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(dir.path());
    let mut edit = open_mut(&path).unwrap();
    edit.view_mut::<i32>().unwrap()[3] = -7;
    drop(edit);
    let bytes = disk(&path);
    assert_eq!(bytes[STATE], 2, "the file does not claim a checksum it does not have");
    assert_eq!(i32::from_le_bytes(bytes[4108..4112].try_into().unwrap()), -7);
    let reopened = open(&path).unwrap();
    assert_eq!(reopened.checksum_state(), ChecksumState::BeingModified);
    assert_eq!(
        reopened.verify(),
        Verification::NotVerifiable { state: ChecksumState::BeingModified }
    );
}

#[test]
fn c_changes_only_this_processes_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(dir.path());
    let before = disk(&path);
    let mut cow = open_copy(&path).unwrap();
    cow.view_mut::<i32>().unwrap()[0] = 42;
    assert_eq!(cow.view::<i32>().unwrap()[0], 42);
    assert_eq!(disk(&path), before);
    drop(cow);
    assert_eq!(disk(&path), before);
    assert_eq!(open(&path).unwrap().view::<i32>().unwrap()[0], 0);
}

#[test]
fn zero_d_and_empty_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let scalar = dir.path().join("scalar.arr");
    let mut new = create(&scalar, Description::c_order(Dtype::F32, vec![]).unwrap(), None).unwrap();
    new.view_mut::<f32>().unwrap()[0] = 2.5;
    new.finish().unwrap();
    let array = open(&scalar).unwrap();
    assert_eq!((array.shape(), array.element_count()), (&[][..], 1));
    assert_eq!(array.view::<f32>().unwrap(), &[2.5]);

    let empty = dir.path().join("empty.arr");
    let mut new =
        create(&empty, Description::c_order(Dtype::F64, vec![5, 0]).unwrap(), None).unwrap();
    assert!(new.view_mut::<f64>().unwrap().is_empty());
    new.finish().unwrap();
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 4096);
    let array = open(&empty).unwrap();
    assert!(array.view::<f64>().unwrap().is_empty());
    assert!(array.to_vec::<f64>().unwrap().is_empty());
    assert_eq!(array.verify(), Verification::Valid { crc: 0 });
    drop(array);
    let mut edit = open_mut(&empty).unwrap();
    assert!(edit.view_mut::<f64>().unwrap().is_empty());
    assert_eq!(edit.commit().unwrap(), 0);
}

#[test]
fn attributes_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attrs.arr");
    let attrs: arrfile_format::Attributes =
        serde_json::from_str(r#"{"units":"K","history":["made","checked"],"n":3}"#).unwrap();
    create(&path, Description::c_order(Dtype::U8, vec![2]).unwrap(), Some(&attrs))
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(open(&path).unwrap().attributes(), Some(&attrs));
}

#[test]
fn a_writer_excludes_readers_and_other_writers() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(dir.path());
    let reader = open(&path).unwrap();
    let second_reader = open(&path).unwrap();
    let err = open_mut(&path).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked by another process"), "{err}");
    drop((reader, second_reader));

    let writer = open_mut(&path).unwrap();
    assert!(matches!(open_mut(&path).err().unwrap().kind(), ErrorKind::Locked { .. }));
    assert!(matches!(open(&path).err().unwrap().kind(), ErrorKind::Locked { .. }));
    // The blocking variant waits for the writer to go.
    let waiter = {
        let path = path.clone();
        std::thread::spawn(move || {
            Options::new().lock_wait(LockWait::Wait).open(&path).map(|a| a.element_count())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(!waiter.is_finished(), "the reader waits while the writer holds its lock");
    drop(writer);
    assert_eq!(waiter.join().unwrap().unwrap(), 20);
}

#[test]
fn path_errors_are_typed_and_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.arr");
    let err = open(&missing).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::NotFound));
    assert_eq!(err.to_string(), format!("{}: no such file", missing.display()));
    assert_eq!(err.path(), missing);

    let err = open(dir.path()).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::IsADirectory), "{err}");

    // Root passes permission bits, so as root use a file the kernel refuses to anyone.
    let denied = if is_root() {
        PathBuf::from("/sys/kernel/notes")
    } else {
        let path = make(dir.path());
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .unwrap();
        path
    };
    let err = open_mut(&denied).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::PermissionDenied), "{err}");
    assert!(err.to_string().ends_with(": permission denied"));
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn refuses_to_overwrite_when_asked_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = make(dir.path());
    let desc = Description::c_order(Dtype::U8, vec![1]).unwrap();
    let err = Options::new().overwrite(false).create(&path, desc.clone(), None).err().unwrap();
    assert!(matches!(err.kind(), ErrorKind::AlreadyExists));
    // The default, like np.memmap's w+, replaces the file.
    create(&path, desc, None).unwrap().finish().unwrap();
    assert_eq!(open(&path).unwrap().dtype(), Dtype::U8);
}

#[test]
fn stream_writer_checks_the_length_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.arr");
    let desc = Description::c_order(Dtype::U16, vec![4]).unwrap();

    let mut writer = StreamWriter::create(&path, desc.clone(), None).unwrap();
    writer.write_elements(&[1u16, 2, 3]).unwrap();
    let err = writer.write_elements(&[4u16, 5]).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::WrongPayloadLength { expected: 8, written: 10 }));
    let err = writer.finish().unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WrongPayloadLength { expected: 8, written: 6 }),
        "{err}"
    );
    assert!(entries(dir.path()).is_empty(), "a failed finish leaves nothing");

    let mut writer = StreamWriter::create(&path, desc.clone(), None).unwrap();
    writer.write_bytes(&[0; 3]).unwrap();
    drop(writer);
    assert!(entries(dir.path()).is_empty(), "a dropped writer leaves nothing");

    let mut writer =
        StreamWriter::create(&path, desc.with_byte_order(arrfile_format::ByteOrder::Big), None)
            .unwrap();
    writer.write_elements(&[0x0102u16, 0x0304, 0x0506, 0x0708]).unwrap();
    writer.finish().unwrap();
    assert_eq!(&disk(&path)[4096..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(open(&path).unwrap().to_vec::<u16>().unwrap(), vec![0x0102, 0x0304, 0x0506, 0x0708]);
}

#[test]
fn stale_temp_files_are_recognised_and_only_stale_ones_removed() {
    let dir = tempfile::tempdir().unwrap();
    let desc = Description::c_order(Dtype::U8, vec![8]).unwrap();
    let live = create(dir.path().join("live.arr"), desc, None).unwrap();
    // A killed writer's leftover: a temp-named file that nobody holds a lock on.
    let stale = dir.path().join(".dead.arr.arrtmp-abcdefghij");
    std::fs::write(&stale, b"half a file").unwrap();
    let removed = arrfile_mmap::remove_stale_temp_files(dir.path()).unwrap();
    assert_eq!(removed, vec![stale]);
    assert!(temp_file_of(dir.path(), "live.arr").exists(), "a live writer's temp file is kept");
    drop(live);
}

/// A cleaner sweeping the directory over and over never takes a live writer's temporary
/// file: each writer locks its file before using it and checks it still has it afterwards.
#[test]
fn a_cleaner_in_a_loop_never_removes_a_live_writers_file() {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Stops the cleaner however the writers' loop ends (a panic too), so the scope ends.
    struct StopOnDrop<'a>(&'a AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let cleaner = scope.spawn(|| {
            let mut sweeps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let removed = arrfile_mmap::remove_stale_temp_files(dir.path()).unwrap();
                assert!(removed.is_empty(), "removed a live writer's file: {removed:?}");
                sweeps += 1;
            }
            sweeps
        });
        let stopper = StopOnDrop(&stop);
        for i in 0..300u32 {
            let path = dir.path().join(format!("out{}.arr", i % 7));
            let desc = Description::c_order(Dtype::U32, vec![256]).unwrap();
            let mut writer = arrfile_mmap::StreamWriter::create(&path, desc, None).unwrap();
            writer.write_elements(&[i; 256]).unwrap();
            writer.finish().unwrap_or_else(|e| panic!("writer {i}: {e}"));
            assert_eq!(open(&path).unwrap().view::<u32>().unwrap()[255], i);
        }
        drop(stopper);
        assert!(cleaner.join().unwrap() > 0);
    });
}

/// A writer that replaces a path first takes the old file's lock: an `r+` session's edits
/// are never orphaned by a rename (issue 12, defect 8). With `LockWait::Wait` it waits for
/// the session to end, then replaces the file.
/// The payload of a file of `u32`s, read without a lock (an `r+` writer holds one).
fn u32s_on_disk(path: &Path) -> Vec<u32> {
    let bytes = disk(path);
    bytes[4096..].chunks(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn a_replacing_writer_waits_for_an_r_plus_session_instead_of_orphaning_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.arr");
    let desc = Description::c_order(Dtype::U32, vec![4]).unwrap();
    arrfile_mmap::create_zeroed(&path, desc.clone(), None).unwrap();
    let mut edit = arrfile_mmap::open_mut(&path).unwrap();
    edit.view_mut::<u32>().unwrap().copy_from_slice(&[1, 2, 3, 4]);

    // Without waiting: refused, and nothing is replaced.
    let mut other = arrfile_mmap::StreamWriter::create(&path, desc.clone(), None).unwrap();
    other.write_elements(&[9u32; 4]).unwrap();
    let e = other.finish().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Locked { .. }), "{e}");
    assert!(e.to_string().contains("locked by another process"), "{e}");
    edit.commit().unwrap();
    assert_eq!(u32s_on_disk(&path), [1, 2, 3, 4], "the edits are there");

    // Waiting: the replacement lands after the session ends.
    let waiting = Options::new().lock_wait(LockWait::Wait);
    let replace = {
        let (path, desc) = (path.clone(), desc.clone());
        std::thread::spawn(move || {
            let mut w = waiting.stream(&path, desc, None).unwrap();
            w.write_elements(&[7u32; 4]).unwrap();
            w.finish().unwrap();
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    edit.view_mut::<u32>().unwrap()[0] = 100;
    edit.commit().unwrap();
    assert_eq!(u32s_on_disk(&path), [100, 2, 3, 4], "not yet replaced");
    drop(edit);
    replace.join().unwrap();
    assert_eq!(open(&path).unwrap().view::<u32>().unwrap(), [7; 4]);
}

/// An `r+` commit after a program that ignores locks renamed another file over the path
/// fails loudly instead of reporting success for edits nobody will see.
#[test]
fn an_r_plus_commit_into_a_replaced_file_fails_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.arr");
    let desc = Description::c_order(Dtype::U8, vec![2]).unwrap();
    arrfile_mmap::create_zeroed(&path, desc.clone(), None).unwrap();
    let mut edit = arrfile_mmap::open_mut(&path).unwrap();
    edit.view_mut::<u8>().unwrap()[0] = 5;
    let intruder = dir.path().join("intruder.arr");
    arrfile_mmap::create_zeroed(&intruder, desc, None).unwrap();
    std::fs::rename(&intruder, &path).unwrap(); // ignores every lock
    let e = edit.commit().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Replaced), "{e}");
    assert!(e.to_string().starts_with(&format!("{}: was replaced at its path", path.display())));
}

/// A file cut short after it was opened (by a program that ignores locks): reading it with
/// `ArrayReader` is an error naming the file, where touching a map would raise SIGBUS
/// (issue 12, defect 4).
#[test]
fn a_reader_of_a_file_truncated_under_it_gets_an_error_not_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.arr");
    let desc = Description::c_order(Dtype::U8, vec![64 << 20]).unwrap();
    arrfile_mmap::create_zeroed(&path, desc, None).unwrap();
    let reader = Options::new().open_reader(&path).unwrap();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(4096 + 1000).unwrap();
    let e = reader.verify_with(|_| std::ops::ControlFlow::Continue(())).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "{}: reading the payload (the file became shorter than its header says",
            path.display()
        )),
        "{e}"
    );
    let mut buf = [0; 10];
    assert!(reader.read_payload_at(2000, &mut buf).is_err());
    reader.read_payload_at(10, &mut buf).unwrap();
    assert!(reader.read_payload_at((64 << 20) - 5, &mut buf).is_err(), "past the payload");
}
