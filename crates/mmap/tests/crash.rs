//! Crash safety: writer processes killed with SIGKILL at random points, 120 times.
//!
//! Three writers loop in a child process until they are killed (the fourth of the original
//! suite, `arrfile convert`, is killed by the command's own `crates/cli/tests/crash.rs`):
//! - `stream`: `StreamWriter`, new versions of one path, written in 16 KiB chunks;
//! - `create`: `create` (mode `w+`), fill the mapping in chunks, `finish`;
//! - `rplus`: one `open_mut` (mode `r+`), then mutate every element and `commit`, again and
//!   again.
//!
//! After each kill: for new files, the final path holds nothing or a complete file that
//! opens, verifies and holds one version's values; the killed writer's temporary file, if
//! any, is named `.NAME.arrtmp-*` and `remove_stale_temp_files` removes exactly those. For
//! `r+`, the file is *being modified* or *valid* with the CRC of its bytes: never *valid*
//! with other bytes. A kill is not a power cut: what the killed process wrote stays in the
//! page cache, so this tests the order of the writes, not the `fsync`s.
//!
//! The children are this test binary run again with `--exact child_process`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrfile_format::{ChecksumState, Description, Dtype};
use arrfile_mmap::{
    LockWait, Options, ReadArray, StreamWriter, WriteArray, remove_stale_temp_files,
};

const ROLE: &str = "ARRFILE_CRASH_ROLE";
const DIR: &str = "ARRFILE_CRASH_DIR";

/// Elements per array: 1 MiB of `u32`.
const LEN: usize = 256 << 10;
/// Elements written per step, so that a kill can land between two steps.
const CHUNK: usize = 4 << 10;
/// Kills per writer.
const KILLS: usize = 30;

fn description() -> Description {
    Description::c_order(Dtype::U32, vec![LEN as u64]).unwrap()
}

/// The common value of a uniform array, or `None`.
fn uniform(values: &[u32]) -> Option<u32> {
    let first = *values.first()?;
    values.iter().all(|&v| v == first).then_some(first)
}

/// Not a test of its own: the entry point of the writer processes (it does nothing when run
/// by the test harness without a role).
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else { return };
    let dir = PathBuf::from(std::env::var_os(DIR).unwrap());
    match role.as_str() {
        "stream" => {
            for version in 0u32.. {
                let path = dir.join("stream.arr");
                let mut writer = StreamWriter::create(&path, description(), None).unwrap();
                let chunk = vec![version; CHUNK];
                for _ in 0..LEN / CHUNK {
                    writer.write_elements(&chunk).unwrap();
                }
                writer.finish().unwrap();
            }
        }
        "create" => {
            for version in 0u32.. {
                let path = dir.join("create.arr");
                let mut new = arrfile_mmap::create(&path, description(), None).unwrap();
                for chunk in new.view_mut::<u32>().unwrap().chunks_mut(CHUNK) {
                    chunk.fill(version);
                }
                new.finish().unwrap();
            }
        }
        "rplus" => {
            let options = Options::new().lock_wait(LockWait::Wait);
            let mut edit = options.open_mut(dir.join("rplus.arr")).unwrap();
            loop {
                let next = edit.view::<u32>().unwrap()[LEN - 1].wrapping_add(1);
                for chunk in edit.view_mut::<u32>().unwrap().chunks_mut(CHUNK) {
                    chunk.fill(next);
                }
                edit.commit().unwrap();
            }
        }
        "fault" => {
            // A map whose file a lock-ignoring program truncates: touching it raises SIGBUS,
            // which the handler turns into a line and an exit code.
            arrfile_mmap::set_mapping_fault_message("fault: the file shrank under its map\n");
            arrfile_mmap::exit_on_mapping_fault(2).unwrap();
            let path = dir.join("fault.arr");
            arrfile_mmap::create_zeroed(&path, description(), None).unwrap();
            let array = arrfile_mmap::open(&path).unwrap();
            std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(4096).unwrap();
            let _ = array.verify();
            println!("@@ the truncated map was read without a fault");
        }
        other => panic!("unknown role {other}"),
    }
}

/// A small deterministic generator (xorshift64), so that a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Starts `role` in a child process, lets it run for `delay`, and kills it with SIGKILL.
fn run_and_kill(role: &str, dir: &Path, delay: Duration) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DIR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    if let Some(status) = child.try_wait().unwrap() {
        panic!("the {role} writer exited by itself before it was killed: {status}");
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success());
}

/// What one kill left behind.
#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    /// For new files: the final path held nothing.
    nothing: usize,
    /// For new files: a complete, verifying file; for r+: committed (state valid, CRC right).
    complete: usize,
    /// For r+: state *being modified*.
    being_modified: usize,
    /// Stale temporary files found and removed.
    stale: usize,
    /// Distinct versions (uniform values) seen at the final path.
    versions: BTreeMap<u32, usize>,
}

/// Checks what a killed writer of new files left at `name` in `dir`.
fn inspect_new_file(dir: &Path, name: &str, tally: &mut Tally, kill: usize) -> String {
    let path = dir.join(name);
    let temp_prefix = format!(".{name}.arrtmp-");
    let mut stale: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let file_name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if file_name.starts_with(&temp_prefix) {
            stale.push(dir.join(&file_name));
        } else if file_name.starts_with(&format!(".{name}.arrnew-")) {
            // Killed in the instant between creating its file and locking it: too young for
            // the cleaner (which removes such files after a minute), so removed here.
            std::fs::remove_file(dir.join(&file_name)).unwrap();
        } else {
            assert!(file_name == name, "kill {kill}: unexpected file {file_name} in the directory");
        }
    }
    let found = if path.exists() {
        let array = Options::new()
            .lock_wait(LockWait::Wait)
            .open(&path)
            .unwrap_or_else(|e| panic!("kill {kill}: the final path holds a bad file: {e}"));
        let outcome = array.verify();
        assert!(outcome.is_valid(), "kill {kill}: the final path does not verify: {outcome:?}");
        let value = uniform(array.view::<u32>().unwrap())
            .unwrap_or_else(|| panic!("kill {kill}: the final path mixes two versions"));
        tally.complete += 1;
        *tally.versions.entry(value).or_default() += 1;
        format!("a complete file (version {value})")
    } else {
        tally.nothing += 1;
        "nothing".to_owned()
    };
    stale.sort();
    let mut removed = remove_stale_temp_files(dir).unwrap();
    removed.sort();
    assert_eq!(removed, stale, "kill {kill}: remove_stale_temp_files removes exactly those");
    tally.stale += stale.len();
    format!("{found}, {} stale temp file(s)", stale.len())
}

/// Checks what a killed `r+` writer left: being modified, or valid with the right CRC.
fn inspect_rplus(dir: &Path, tally: &mut Tally, kill: usize) -> String {
    let array = Options::new().lock_wait(LockWait::Wait).open(dir.join("rplus.arr")).unwrap();
    let outcome = array.verify();
    let left = match array.checksum_state() {
        ChecksumState::Valid => {
            assert!(outcome.is_valid(), "kill {kill}: claims valid, but {outcome:?}");
            let value = uniform(array.view::<u32>().unwrap())
                .unwrap_or_else(|| panic!("kill {kill}: a valid CRC over a torn payload"));
            tally.complete += 1;
            *tally.versions.entry(value).or_default() += 1;
            format!("committed (version {value}, CRC right)")
        }
        ChecksumState::BeingModified => {
            tally.being_modified += 1;
            "being modified (not verifiable)".to_owned()
        }
        ChecksumState::Absent => panic!("kill {kill}: an r+ writer left state absent"),
    };
    let stale = remove_stale_temp_files(dir).unwrap();
    assert!(stale.is_empty(), "kill {kill}: r+ left temporary files {stale:?}");
    left
}

/// `exit_on_mapping_fault`: the SIGBUS of a map whose file was truncated under it becomes
/// the set line on stderr and exit code 2, not a death by signal.
#[test]
fn a_mapping_fault_becomes_a_line_and_an_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--nocapture", "--test-threads=1"])
        .env(ROLE, "fault")
        .env(DIR, dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{:?}\n{stderr}", output.status);
    assert!(stderr.contains("fault: the file shrank under its map\n"), "{stderr}");
}

#[test]
fn killed_writers_leave_nothing_or_a_complete_file() {
    let mut rng = Rng(0xC0FF_EE00_D15E_A5E5);
    let mut summary = Vec::new();
    let mut kill = 0;
    for role in ["stream", "create", "rplus"] {
        let mut tally = Tally::default();
        // r+ works on one file across all its kills; the writers of new files start each
        // run in a new directory, so that early kills find the final path empty.
        let shared = tempfile::tempdir().unwrap();
        if role == "rplus" {
            let mut new =
                arrfile_mmap::create(shared.path().join("rplus.arr"), description(), None).unwrap();
            new.view_mut::<u32>().unwrap().fill(0);
            new.finish().unwrap();
        }
        let started = Instant::now();
        for _ in 0..KILLS {
            kill += 1;
            let fresh = tempfile::tempdir().unwrap();
            let dir = if role == "rplus" { shared.path() } else { fresh.path() };
            // 2 to 80 ms, half of them under 15 ms: some kills land while the process
            // starts, most while it writes, syncs or renames a first or a later version.
            let range = if kill % 2 == 0 { 13 } else { 78 };
            let delay = Duration::from_millis(2 + rng.below(range));
            run_and_kill(role, dir, delay);
            tally.kills += 1;
            let left = match role {
                "rplus" => inspect_rplus(dir, &mut tally, kill),
                _ => inspect_new_file(dir, &format!("{role}.arr"), &mut tally, kill),
            };
            eprintln!("kill {kill:3}: {role} after {:2} ms left {left}", delay.as_millis());
        }
        summary.push(format!(
            "{role:>7}: {} kills in {:.1} s: final path empty {}, complete and verifying {}, being modified {}, stale temp files {} (all removed); versions seen {:?}",
            tally.kills,
            started.elapsed().as_secs_f64(),
            tally.nothing,
            tally.complete,
            tally.being_modified,
            tally.stale,
            tally.versions.keys().collect::<Vec<_>>(),
        ));
        if role == "rplus" {
            assert!(tally.complete + tally.being_modified == KILLS);
        }
    }
    eprintln!("crash safety: {kill} SIGKILLs");
    for line in &summary {
        eprintln!("{line}");
    }
    assert!(kill >= 90);
}
