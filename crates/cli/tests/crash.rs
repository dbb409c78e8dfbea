//! Crash safety of `arrfile convert`: the command killed with SIGKILL at random points, 30
//! times, while it converts a raw `.dat` again and again.
//!
//! After each kill the output path holds nothing or a complete file that opens, verifies and
//! holds the input's values; the killed writer's temporary file, if any, is named
//! `.convert.arr.arrtmp-*`, and `arrfile clean` removes exactly those. (The library's own
//! writers are killed by `crates/mmap/tests/crash.rs`.)

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrfile_mmap::{LockWait, Options, ReadArray};

/// Elements of the input: 1 MiB of `u32`.
const LEN: usize = 256 << 10;
/// The value of every element of the input.
const VALUE: u32 = 77;
const KILLS: usize = 30;

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

/// Runs `arrfile convert` again and again for `delay`, then kills the running one with
/// SIGKILL and reaps it (so that its lock is gone when the directory is inspected).
fn run_and_kill(dir: &Path, delay: Duration) {
    let deadline = Instant::now() + delay;
    loop {
        let mut child = Command::new(env!("CARGO_BIN_EXE_arrfile"))
            .args(["convert", "input.dat", "--dtype", "u32", "--shape", &LEN.to_string()])
            .args(["-o", "convert.arr", "--force", "--quiet"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let exited = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status); // reaped by try_wait
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_micros(200));
        };
        match exited {
            Some(status) => assert!(status.success(), "convert failed by itself: {status}"),
            None => {
                child.kill().unwrap(); // SIGKILL on Unix
                child.wait().unwrap();
                return;
            }
        }
    }
}

/// What a kill left: (a complete file at the path, stale temporary files).
fn inspect(dir: &Path, kill: usize) -> (bool, usize) {
    let mut stale = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with(".convert.arr.arrtmp-") {
            stale.push(name);
        } else if name.starts_with(".convert.arr.arrnew-") {
            // Killed between creating its file and locking it: too young for the cleaner
            // (which removes such files after a minute), so removed here.
            std::fs::remove_file(dir.join(&name)).unwrap();
        } else {
            assert!(["convert.arr", "input.dat"].contains(&name.as_str()), "kill {kill}: {name}");
        }
    }
    let path = dir.join("convert.arr");
    let complete = path.exists();
    if complete {
        let array = Options::new()
            .lock_wait(LockWait::Wait)
            .open(&path)
            .unwrap_or_else(|e| panic!("kill {kill}: the output is a bad file: {e}"));
        assert!(array.verify().is_valid(), "kill {kill}: the output does not verify");
        assert!(array.view::<u32>().unwrap().iter().all(|&v| v == VALUE), "kill {kill}");
    }
    // The command's own cleaner removes exactly the stale temporary files.
    let clean = Command::new(env!("CARGO_BIN_EXE_arrfile")).arg("clean").arg(dir).output().unwrap();
    assert!(clean.status.success());
    let report = String::from_utf8(clean.stdout).unwrap();
    assert!(
        report.ends_with(&format!(
            "{} stale temporary file(s) removed from {}\n",
            stale.len(),
            dir.display()
        )),
        "kill {kill}: {report}"
    );
    for name in &stale {
        assert!(!dir.join(name).exists(), "kill {kill}: {name} was not removed");
    }
    (complete, stale.len())
}

#[test]
fn a_killed_convert_leaves_nothing_or_a_complete_file() {
    let mut rng = Rng(0xC0FF_EE00_D15E_A5E5);
    let input: Vec<u8> = (0..LEN).flat_map(|_| VALUE.to_le_bytes()).collect();
    let (mut complete, mut nothing, mut stale) = (0, 0, 0);
    for kill in 1..=KILLS {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("input.dat"), &input).unwrap();
        // 2 to 80 ms: some kills land while the process starts, most while it writes,
        // syncs or renames a first or a later version.
        let range = if kill % 2 == 0 { 13 } else { 78 };
        run_and_kill(dir.path(), Duration::from_millis(2 + rng.below(range)));
        let (done, left) = inspect(dir.path(), kill);
        if done {
            complete += 1
        } else {
            nothing += 1
        }
        stale += left;
    }
    eprintln!(
        "convert: {KILLS} kills: output empty {nothing}, complete and verifying {complete}, stale temp files {stale} (all removed by arrfile clean)"
    );
    assert_eq!(complete + nothing, KILLS);
}
