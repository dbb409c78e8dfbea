//! Several processes on one file: readers against an `r+` writer that loops commits, a second
//! writer refused, and a reader's mapping while another process replaces the file by rename.
//!
//! The other processes are this test binary run again with `--exact child_process` and the
//! role in `ARRFILE_CONCURRENCY_ROLE`; they report on stdout in lines that start with `@@`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use arrfile_format::{ChecksumState, Description, Dtype};
use arrfile_mmap::{ErrorKind, LockWait, Options, ReadArray, StreamWriter, WriteArray};

const ROLE: &str = "ARRFILE_CONCURRENCY_ROLE";
const PATH: &str = "ARRFILE_CONCURRENCY_PATH";
const ARG: &str = "ARRFILE_CONCURRENCY_ARG";

/// Elements of the test arrays: 512 KiB of `u64`, every element equal after each commit.
const LEN: usize = 64 << 10;

fn description() -> Description {
    Description::c_order(Dtype::U64, vec![LEN as u64]).unwrap()
}

/// Writes a new file at `path` whose elements all equal `value` (through a temp file and a
/// rename, as every new file).
fn write_uniform(path: &Path, value: u64, stream: bool) {
    if stream {
        let mut writer = StreamWriter::create(path, description(), None).unwrap();
        writer.write_elements(&vec![value; LEN]).unwrap();
        writer.finish().unwrap();
    } else {
        let mut new = arrfile_mmap::create(path, description(), None).unwrap();
        new.view_mut::<u64>().unwrap().fill(value);
        new.finish().unwrap();
    }
}

/// The common value of a uniform array, or a panic naming the first element that differs.
fn uniform(values: &[u64]) -> u64 {
    let first = values[0];
    if let Some(i) = values.iter().position(|&v| v != first) {
        panic!("torn array: element 0 is {first}, element {i} is {}", values[i]);
    }
    first
}

// ----------------------------------------------------------------------------------------
// Child processes.

struct Worker {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Worker {
    fn spawn(role: &str, path: &Path, arg: &str) -> Worker {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_process", "--nocapture", "--test-threads=1"])
            .env(ROLE, role)
            .env(PATH, path)
            .env(ARG, arg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Worker { child, out }
    }

    /// The next `@@` line the child prints, without the marker.
    fn report(&mut self) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(n > 0, "the child exited before reporting");
            // libtest prints `test child_process ... ` before the child's first line.
            if let Some(at) = line.find("@@") {
                return line[at + 2..].trim_end().to_owned();
            }
        }
    }

    /// Tells a holding child to go on.
    fn release(&mut self) {
        writeln!(self.child.stdin.as_mut().unwrap(), "go").unwrap();
    }

    fn wait_success(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "a child process failed: {status}");
    }
}

fn report(line: &str) {
    println!("@@{line}");
    std::io::stdout().flush().unwrap();
}

fn wait_for_parent() {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}

fn counts(report: &str) -> Vec<u64> {
    report.split_whitespace().filter_map(|w| w.split_once('=')?.1.parse().ok()).collect()
}

/// Not a test of its own: the entry point of the child processes (it does nothing when run
/// by the test harness without a role).
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else { return };
    let path = PathBuf::from(std::env::var_os(PATH).unwrap());
    let arg = std::env::var(ARG).unwrap_or_default();
    match role.as_str() {
        // r+ in a loop: open (waiting for readers to leave), check the last commit, write
        // every element, commit.
        "writer_loop" => {
            let until = Instant::now() + Duration::from_millis(arg.parse().unwrap());
            let options = Options::new().lock_wait(LockWait::Wait);
            let mut commits = 0u64;
            while Instant::now() < until {
                let mut edit = options.open_mut(&path).unwrap();
                assert_eq!(edit.checksum_state(), ChecksumState::Valid);
                assert!(edit.verify().is_valid());
                let value = uniform(edit.view::<u64>().unwrap());
                edit.view_mut::<u64>().unwrap().fill(value + 1);
                edit.commit().unwrap();
                drop(edit);
                commits += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            report(&format!("writer commits={commits}"));
        }
        // r in a loop: every open succeeds with a committed, verifying, uniform array, or
        // is refused as locked; nothing else.
        "reader_loop" => {
            let (millis, wait) = arg.split_once(',').unwrap();
            let until = Instant::now() + Duration::from_millis(millis.parse().unwrap());
            let wait = if wait == "wait" { LockWait::Wait } else { LockWait::NoWait };
            let options = Options::new().lock_wait(wait);
            let (mut ok, mut locked, mut last) = (0u64, 0u64, 0u64);
            while Instant::now() < until {
                match options.open(&path) {
                    Ok(array) => {
                        assert_eq!(array.checksum_state(), ChecksumState::Valid);
                        let outcome = array.verify();
                        assert!(outcome.is_valid(), "a reader saw {outcome:?}");
                        let value = uniform(array.view::<u64>().unwrap());
                        assert!(value >= last, "commits went backwards: {last} then {value}");
                        last = value;
                        ok += 1;
                    }
                    Err(e) => match e.kind() {
                        ErrorKind::Locked { .. } => locked += 1,
                        _ => panic!("a reader's open failed with something other than Locked: {e}"),
                    },
                }
                std::thread::sleep(Duration::from_micros(300));
            }
            report(&format!("reader ok={ok} locked={locked}"));
        }
        // Reads the header with no lock at all, as a program that ignores the locks would:
        // every read parses, or fails the header CRC (a torn read); nothing else.
        "raw_reader" => {
            use std::os::unix::fs::FileExt;
            let until = Instant::now() + Duration::from_millis(arg.parse().unwrap());
            let file = std::fs::File::open(&path).unwrap();
            let len = file.metadata().unwrap().len();
            let (mut ok, mut torn) = (0u64, 0u64);
            let mut header = [0u8; arrfile_format::HEADER_LEN];
            while Instant::now() < until {
                file.read_exact_at(&mut header, 0).unwrap();
                match arrfile_format::Header::parse(&header, len) {
                    Ok(_) => ok += 1,
                    Err(arrfile_format::ParseError::HeaderChecksumMismatch { .. }) => torn += 1,
                    Err(e) => panic!("an unlocked read of the header failed otherwise: {e}"),
                }
            }
            report(&format!("raw ok={ok} torn={torn}"));
        }
        // Holds an r+ handle with the file marked being modified until told to go on.
        "hold_writer" => {
            let mut edit = arrfile_mmap::open_mut(&path).unwrap();
            edit.view_mut::<u64>().unwrap()[0] = 7;
            report("holding");
            wait_for_parent();
            edit.view_mut::<u64>().unwrap()[0] = 0;
            edit.commit().unwrap();
        }
        // Holds a read-only mapping until told to go on.
        "hold_reader" => {
            let array = arrfile_mmap::open(&path).unwrap();
            report("holding");
            wait_for_parent();
            drop(array);
        }
        // Tries to open r+ once, and says what happened.
        "try_writer" => match arrfile_mmap::open_mut(&path) {
            Ok(_) => report("opened"),
            Err(e) => match e.kind() {
                ErrorKind::Locked { .. } => report(&format!("locked {e}")),
                _ => panic!("unexpected error: {e}"),
            },
        },
        // Replaces the file by a new one (temp file and rename) `arg` times, alternating the
        // two writers of new files; the values count up from 1000.
        "replace" => {
            let times: u64 = arg.parse().unwrap();
            for i in 0..times {
                write_uniform(&path, 1000 + i, i % 2 == 1);
            }
            report(&format!("replaced times={times}"));
        }
        other => panic!("unknown role {other}"),
    }
}

// ----------------------------------------------------------------------------------------
// The tests.

/// The tests of this file run one at a time: a lock belongs to the open file description,
/// which a child forked by another test's thread shares until its `exec`, so a lock released
/// here could linger for an instant and make a `Locked` that the test did not arrange.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Three reader processes (two that fail at once on a lock, one that waits) against one `r+`
/// writer process committing in a loop: every open by a reader either succeeds with a
/// consistent, committed, verifying file, or fails with `Locked`; never a checksum error.
/// A fourth process reads the header without locks: it parses, or its CRC catches a torn
/// read.
#[test]
fn readers_never_see_a_torn_header_while_a_writer_commits() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.arr");
    write_uniform(&path, 0, false);
    let millis = "3000";
    let mut writer = Worker::spawn("writer_loop", &path, millis);
    let mut readers: Vec<Worker> = ["nowait", "nowait", "wait"]
        .iter()
        .map(|mode| Worker::spawn("reader_loop", &path, &format!("{millis},{mode}")))
        .collect();
    let mut raw = Worker::spawn("raw_reader", &path, millis);
    let commits = counts(&writer.report())[0];
    let raw_counts = counts(&raw.report());
    raw.wait_success();
    let (mut ok, mut locked) = (0, 0);
    for reader in &mut readers {
        let c = counts(&reader.report());
        ok += c[0];
        locked += c[1];
    }
    writer.wait_success();
    readers.into_iter().for_each(Worker::wait_success);
    eprintln!(
        "concurrency: 1 r+ writer made {commits} commits; 3 readers opened {ok} times and were refused as locked {locked} times; no other outcome; a reader without locks parsed the header {} times and caught {} torn reads by the header CRC",
        raw_counts[0], raw_counts[1]
    );
    assert!(commits > 0 && ok > 0, "both sides made progress");
    let array = arrfile_mmap::open(&path).unwrap();
    assert!(array.verify().is_valid());
    assert_eq!(uniform(array.view::<u64>().unwrap()), commits);
}

/// While one process holds the file `r+`, a second writer (in this process or another) and
/// readers are refused with `Locked`, and the file on disk says *being modified*; while a
/// process reads, writers are refused but other readers are not.
#[test]
fn a_second_writer_is_refused_with_a_clear_error() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.arr");
    write_uniform(&path, 0, false);

    let mut holder = Worker::spawn("hold_writer", &path, "");
    assert_eq!(holder.report(), "holding");
    let error = arrfile_mmap::open_mut(&path).expect_err("a second writer is refused");
    assert!(matches!(error.kind(), ErrorKind::Locked { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("locked by another process") && message.contains("locked.arr"),
        "{message}"
    );
    eprintln!("the second writer's error: {message}");
    let mut other = Worker::spawn("try_writer", &path, "");
    assert!(other.report().starts_with("locked "), "a writer in another process is refused");
    other.wait_success();
    let error = arrfile_mmap::open(&path).expect_err("a reader is refused while a writer holds");
    assert!(matches!(error.kind(), ErrorKind::Locked { .. }), "{error}");
    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(on_disk[37], 2, "the holder marked the file being modified");
    holder.release();
    holder.wait_success();
    assert!(arrfile_mmap::verify_file(&path).unwrap().is_valid(), "the holder committed");

    let mut reader = Worker::spawn("hold_reader", &path, "");
    assert_eq!(reader.report(), "holding");
    let error =
        arrfile_mmap::open_mut(&path).expect_err("a writer is refused while a reader holds");
    assert!(matches!(error.kind(), ErrorKind::Locked { .. }), "{error}");
    let mut other = Worker::spawn("try_writer", &path, "");
    assert!(other.report().starts_with("locked "));
    other.wait_success();
    assert!(arrfile_mmap::open(&path).is_ok(), "readers share");
    reader.release();
    reader.wait_success();
    assert!(arrfile_mmap::open_mut(&path).is_ok(), "free again");
}

/// A reader's mapping keeps the old bytes, whole and verifying, while another process
/// replaces the file by rename (w+ and the streaming writer, 20 times); no SIGBUS, and
/// every new open sees one complete new file.
#[test]
fn a_mapping_survives_the_file_being_replaced_by_rename() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replaced.arr");
    write_uniform(&path, 1, false);
    let wait = Options::new().lock_wait(LockWait::Wait);
    let old = wait.open(&path).unwrap();
    let old_copy = wait.open_copy(&path).unwrap();
    assert_eq!(uniform(old.view::<u64>().unwrap()), 1);

    let times = 20;
    let mut replacer = Worker::spawn("replace", &path, &times.to_string());
    // Meanwhile, keep reading the old mapping and reopening the path.
    let (mut reopened, mut locked) = (0, 0);
    let mut seen = Vec::new();
    let done = loop {
        assert_eq!(uniform(old.view::<u64>().unwrap()), 1, "the old mapping changed");
        assert_eq!(uniform(old_copy.view::<u64>().unwrap()), 1);
        match arrfile_mmap::open(&path) {
            Ok(array) => {
                assert!(array.verify().is_valid());
                let value = uniform(array.view::<u64>().unwrap());
                if seen.last() != Some(&value) {
                    seen.push(value);
                }
                reopened += 1;
            }
            // A writer holds its lock on the renamed file until it closes it.
            Err(e) if matches!(e.kind(), ErrorKind::Locked { .. }) => locked += 1,
            Err(e) => panic!("the path held something other than a complete file: {e}"),
        }
        if let Some(status) = replacer.child.try_wait().unwrap() {
            break status;
        }
    };
    assert!(done.success());
    assert_eq!(replacer.report(), format!("replaced times={times}"));
    assert!(old.verify().is_valid(), "the old mapping still verifies against its header");
    assert_eq!(uniform(old.view::<u64>().unwrap()), 1);
    let new = wait.open(&path).unwrap();
    assert_eq!(uniform(new.view::<u64>().unwrap()), 1000 + times - 1);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "versions in order: {seen:?}");
    assert!(arrfile_mmap::remove_stale_temp_files(dir.path()).unwrap().is_empty());
    eprintln!(
        "replace by rename: {times} replacements; the old mapping stayed whole; {reopened} reopens saw versions {seen:?}, {locked} met a writer's lock"
    );
}

/// `inspect` (what `arrfile info` runs) takes no lock. A header whose checksum does not
/// match while a writer holds the file is read again before the file is called corrupt:
/// here the "commit" restores the header 15 ms after `inspect` first sees it torn.
#[test]
fn inspect_reads_a_torn_header_again_before_calling_it_corrupt() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torn.arr");
    arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U8, vec![8]).unwrap(), None)
        .unwrap();
    let good = std::fs::read(&path).unwrap()[..640].to_vec();
    let writer = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    writer.lock().unwrap();
    let mut torn = good.clone();
    torn[100] ^= 0xff; // a shape slot half rewritten: the header CRC no longer matches
    writer.write_all_at(&torn, 0).unwrap();
    let restore = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(15));
        writer.write_all_at(&good, 0).unwrap();
        // Held a little longer, as an r+ session that goes on after its commit.
        std::thread::sleep(Duration::from_millis(200));
        drop(writer);
    });
    let (header, _) = arrfile_mmap::inspect(&path).expect("the committed header, not 'corrupt'");
    assert_eq!(header.shape(), &[8]);
    restore.join().unwrap();

    // A header that stays torn is still reported, with the check that failed.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let e = arrfile_mmap::inspect(&path).unwrap_err();
    assert_eq!(e.parse_error().map(|p| p.kind().as_str()), Some("header_checksum_mismatch"));
}
