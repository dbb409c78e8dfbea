//! A full disk: every writer of new files on a 256 KiB tmpfs, asked for a 1 MiB array.
//!
//! Needs root (to mount the tmpfs); elsewhere the test says so and passes without running.
//!
//! - `StreamWriter` (bytes and `copy_from`) fails with the I/O error (for `arrfile convert`,
//!   which streams through it, see `crates/cli/tests/disk_full.rs`),
//!   and then leave nothing: no file at the final path, no temporary file; a previous file at
//!   the path stays as it was. Calling `finish` after a failed write is refused (it used to
//!   rename a short file with a *valid* checksum into place).
//! - `create` (mode `w+`) sizes its file sparsely and fills it through a mapping: on a full
//!   disk the kernel can only answer a page fault with `SIGBUS`, which kills the process (a
//!   child process here). The final path then holds nothing, and the temporary file the
//!   killed writer left is removed by `remove_stale_temp_files`.

use std::path::{Path, PathBuf};
use std::process::Command;

use arrfile_format::{ByteOrder, Description, Dtype};
use arrfile_mmap::{ErrorKind, ReadArray, StreamWriter, WriteArray, remove_stale_temp_files};

const ROLE: &str = "ARRFILE_DISK_FULL_ROLE";
const DIR: &str = "ARRFILE_DISK_FULL_DIR";

/// 1 MiB of `u8`, four times what the file system holds.
const LEN: usize = 1 << 20;

fn description() -> Description {
    Description::c_order(Dtype::U8, vec![LEN as u64]).unwrap()
}

/// A tmpfs of 256 KiB, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn is_disk_full(kind: &ErrorKind) -> bool {
    matches!(kind, ErrorKind::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull)
}

/// Not a test of its own: the entry point of the child process that fills a `w+` mapping
/// on the full disk.
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else { return };
    let dir = PathBuf::from(std::env::var_os(DIR).unwrap());
    assert_eq!(role, "create");
    match arrfile_mmap::create(dir.join("create.arr"), description(), None) {
        Ok(mut new) => {
            new.as_bytes_mut().unwrap().fill(1);
            match new.finish() {
                Ok(_) => panic!("a 1 MiB file was finished on a 256 KiB disk"),
                Err(e) => println!("@@finish failed: {e}"),
            }
        }
        Err(e) => println!("@@create failed: {e}"),
    }
}

#[test]
fn writers_on_a_full_disk_fail_and_leave_nothing() {
    // A test that cannot run fails rather than passing unrun: without root, run the suite
    // in a user and mount namespace, `unshare --user --map-root-user --mount cargo test`.
    let disk = SmallDisk::mount()
        .expect("this test mounts a 256 KiB tmpfs: run as root, or under `unshare -rm`");
    let dir = disk.path();

    // StreamWriter, bytes: the write fails; finish after it is refused.
    let path = dir.join("stream.arr");
    let mut writer = StreamWriter::create(&path, description(), None).unwrap();
    let error = writer.write_bytes(&vec![1u8; LEN]).expect_err("1 MiB on 256 KiB");
    assert!(is_disk_full(error.kind()), "{error}");
    let error = writer.finish().expect_err("finish after a failed write");
    assert!(matches!(error.kind(), ErrorKind::WrongPayloadLength { .. }), "{error}");
    eprintln!("finish after a failed write: {error}");
    assert_eq!(disk.entries(), Vec::<String>::new(), "nothing left behind");

    // StreamWriter, copy_from.
    let mut writer = StreamWriter::create(&path, description(), None).unwrap();
    let error =
        writer.copy_from(&mut &vec![2u8; LEN][..], ByteOrder::Little, |_| {}).expect_err("full");
    eprintln!("copy_from on a full disk: {error}");
    assert!(writer.finish().is_err());
    assert_eq!(disk.entries(), Vec::<String>::new());

    // A previous version at the path stays as it was.
    let small = Description::c_order(Dtype::U8, vec![16]).unwrap();
    let mut old = StreamWriter::create(&path, small, None).unwrap();
    old.write_bytes(&[7; 16]).unwrap();
    old.finish().unwrap();
    let mut writer = StreamWriter::create(&path, description(), None).unwrap();
    assert!(writer.write_bytes(&vec![3u8; LEN]).is_err());
    assert!(writer.finish().is_err());
    assert_eq!(disk.entries(), vec!["stream.arr"]);
    let kept = arrfile_mmap::open(&path).unwrap();
    assert!(kept.verify().is_valid());
    assert_eq!(kept.as_bytes(), &[7; 16]);
    drop(kept);
    std::fs::remove_file(&path).unwrap();

    // create (w+) in a child process: SIGBUS, or a clean error should create reserve space.
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--nocapture", "--test-threads=1"])
        .env(ROLE, "create")
        .env(DIR, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let signal = std::os::unix::process::ExitStatusExt::signal(&output.status);
    match signal {
        Some(7) => eprintln!("create (w+) on a full disk: the writer died of SIGBUS"),
        _ => assert!(
            output.status.success() && stdout.contains("@@"),
            "create (w+) on a full disk: {:?}\n{stdout}",
            output.status
        ),
    }
    assert!(!dir.join("create.arr").exists(), "nothing at the final path");
    let removed = remove_stale_temp_files(dir).unwrap();
    eprintln!("create (w+) left {} stale temporary file(s), now removed", removed.len());
    assert_eq!(disk.entries(), Vec::<String>::new());
}
