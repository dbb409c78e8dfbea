//! Crash safety of `arrfile convert`: the command killed with SIGKILL at random points, 30
//! times, while it converts a raw `.dat` again and again.
//!
//! After each kill the output path holds nothing or a complete file that opens, verifies and
//! holds the input's values; the killed writer's temporary file, if any, is named
//! `.convert.arr.arrtmp-*`, and `arrfile clean` removes exactly those. (The library's own
//! writers are killed by `crates/mmap/tests/crash.rs`.)
//!
//! Crash safety of `arrfile append`: killed before each of its file-changing system calls in
//! turn (the LD_PRELOAD shim `tests/killshim`), from a clean base and from one a killed
//! append left behind; after `arrfile recover` the base is the old or the new file.

#[path = "../../../tests/killshim/build_shim.rs"]
mod killshim;
use killshim::build_killshim;

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

/// `arrfile ARGS` in `dir`; with `shim`, under the shim, killed before call `at` (or never)
/// and logging the calls to `log`. Returns whether it was killed; any other failure panics.
fn arrfile(
    dir: &Path,
    args: &[&str],
    shim: Option<(&Path, Option<usize>, Option<&Path>)>,
) -> (bool, String) {
    use std::os::unix::process::ExitStatusExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_arrfile"));
    command.args(args).current_dir(dir).stdin(Stdio::null());
    if let Some((shim, at, log)) = shim {
        command.env("LD_PRELOAD", shim).env("KILLSHIM_TARGET", "base.arr");
        if let Some(at) = at {
            command.env("KILLSHIM_AT", at.to_string());
        }
        if let Some(log) = log {
            command.env("KILLSHIM_LOG", log);
        }
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    match output.status.signal() {
        Some(9) => (true, stdout),
        None if output.status.success() => (false, stdout),
        _ => panic!(
            "arrfile {args:?} (shim {shim:?}) ended with {:?}:\n{stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// The arguments of the append the kill tests run in a directory beside `setup`.
const APPEND: [&str; 5] = ["append", "base.arr", "../setup/rows.dat", "../setup/rows_be.npy", "-q"];

/// What killing `APPEND` before each of its counted calls in turn left, starting from
/// `start` each time.
struct Kills {
    calls: Vec<String>,
    old_seen: usize,
    new_seen: usize,
    interrupted: usize,
}

/// Runs `APPEND` on a copy of `start`, killed before each call in turn (and once not at all):
/// after each kill, `arrfile info` and `verify` read the old or the new array, and after
/// `arrfile recover` the base is byte for byte `old` or `new`, never a mix.
fn kill_at_every_call(scratch: &Path, shim: &Path, start: &[u8], old: &[u8], new: &[u8]) -> Kills {
    let fresh = |name: &str| {
        let dir = scratch.join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("base.arr"), start).unwrap();
        dir
    };
    let dir = fresh("count");
    let log = scratch.join("calls.log");
    let _ = std::fs::remove_file(&log);
    assert!(!arrfile(&dir, &APPEND, Some((shim, None, Some(&log)))).0);
    assert_eq!(std::fs::read(dir.join("base.arr")).unwrap(), new, "unkilled");
    std::fs::remove_dir_all(&dir).unwrap();
    let calls: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.split_once(' ').unwrap().1.to_owned())
        .collect();
    for expected in ["fcntl(lock)", "flock", "pwrite", "fsync", "fdatasync", "write"] {
        assert!(calls.iter().any(|c| c == expected), "no {expected} in {calls:?}");
    }
    let mut kills = Kills { calls, old_seen: 0, new_seen: 0, interrupted: 0 };
    for at in 1..=kills.calls.len() + 1 {
        let dir = fresh(&format!("kill{at}"));
        let (killed, _) = arrfile(&dir, &APPEND, Some((shim, Some(at), None)));
        let what = format!("killed before call {at} ({:?})", kills.calls.get(at - 1));
        assert_eq!(killed, at <= kills.calls.len(), "{what}");
        // A format 1.1 reader sees the old or the new array, and its checksum verifies.
        let (_, json) = arrfile(&dir, &["info", "--json", "base.arr"], None);
        let info: serde_json::Value = serde_json::from_str(&json).unwrap();
        let shape = info["shape"].clone();
        assert!(
            shape == serde_json::json!([4, 3]) || shape == serde_json::json!([262150, 3]),
            "{what}: {shape}"
        );
        let (_, verified) = arrfile(&dir, &["verify", "base.arr"], None);
        assert!(verified.starts_with("ok: base.arr"), "{what}: {verified}");
        let in_progress = info["append_in_progress"] == true;
        assert_eq!(info["append_running"], false, "{what}");
        if !in_progress {
            assert_eq!(info["uncommitted_bytes"], 0, "{what}");
        }
        let (_, recovered) = arrfile(&dir, &["recover", "base.arr"], None);
        assert_eq!(
            recovered.starts_with("base.arr: rolled back an interrupted append"),
            in_progress,
            "{what}: {recovered}"
        );
        let after = std::fs::read(dir.join("base.arr")).unwrap();
        if after == old {
            kills.old_seen += 1;
        } else if after == new {
            assert!(!in_progress, "{what}");
            kills.new_seen += 1;
        } else {
            panic!("{what}: the base is neither the old nor the new file");
        }
        kills.interrupted += usize::from(in_progress);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    kills
}

/// `arrfile append` of a raw input (several chunks of 1 MiB) and a big-endian `.npy`, killed
/// before each of its file-changing system calls on the base in turn (the shim's calls:
/// open, locks, the header with the flag, its sync, the rows, their sync, the commit, its
/// sync): the base is the old or the new array. Then the same from a base that a killed
/// append left mid-append, which the command rolls back first: kills during that recovery
/// leave the old array too.
#[test]
fn an_append_killed_at_every_system_call_leaves_the_old_or_the_new_array() {
    let scratch = tempfile::tempdir().unwrap();
    let shim = build_killshim(scratch.path());
    let setup = scratch.path().join("setup");
    std::fs::create_dir(&setup).unwrap();
    let base: Vec<u8> = (0u16..12).flat_map(|v| f32::from(v).to_le_bytes()).collect();
    std::fs::write(setup.join("base.dat"), base).unwrap();
    let convert = ["convert", "base.dat", "--dtype", "f32", "--shape", "-1,3"];
    assert!(!arrfile(&setup, &convert, None).0);
    // 3 MiB of rows of 3 f32, and 2 rows from numpy, big endian.
    let rows: Vec<u8> = (0u32..(3 << 20) / 4).flat_map(|v| (v as f32).to_le_bytes()).collect();
    std::fs::write(setup.join("rows.dat"), rows).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/npy/f32_c_be.npy"),
        setup.join("rows_be.npy"),
    )
    .unwrap();
    let old = std::fs::read(setup.join("base.arr")).unwrap();
    let unkilled = scratch.path().join("unkilled");
    std::fs::create_dir(&unkilled).unwrap();
    std::fs::write(unkilled.join("base.arr"), &old).unwrap();
    let (_, out) = arrfile(&unkilled, &APPEND, None);
    assert!(out.starts_with("base.arr: appended 262146 rows from 2 file(s)"), "{out}");
    let new = std::fs::read(unkilled.join("base.arr")).unwrap();

    let clean = kill_at_every_call(scratch.path(), &shim, &old, &old, &new);
    eprintln!(
        "append: {} calls killed in turn ({}): old array {} (after {} recoveries), new array {}",
        clean.calls.len(),
        clean.calls.join(" "),
        clean.old_seen,
        clean.interrupted,
        clean.new_seen
    );
    assert!(clean.interrupted >= 3 && clean.new_seen >= 2);

    // A base left mid-append: killed before its first "write" of rows but one.
    let second_write = clean.calls.iter().enumerate().filter(|(_, c)| *c == "write").nth(1);
    let at = second_write.unwrap().0 + 1;
    std::fs::write(unkilled.join("base.arr"), &old).unwrap();
    assert!(arrfile(&unkilled, &APPEND, Some((&shim, Some(at), None))).0);
    let mid = std::fs::read(unkilled.join("base.arr")).unwrap();
    assert!(mid.len() > old.len(), "no rows were left");
    let (_, json) = arrfile(&unkilled, &["info", "--json", "base.arr"], None);
    assert!(json.contains("\"append_in_progress\": true"), "{json}");
    let dead = kill_at_every_call(scratch.path(), &shim, &mid, &old, &new);
    eprintln!(
        "append onto a dead append: {} calls killed in turn ({}): old array {} (after {} recoveries), new array {}",
        dead.calls.len(),
        dead.calls.join(" "),
        dead.old_seen,
        dead.interrupted,
        dead.new_seen
    );
    assert!(dead.calls.iter().any(|c| c == "ftruncate"), "no recovery in {:?}", dead.calls);
    assert!(dead.calls.len() > clean.calls.len());
    assert!(dead.interrupted >= 3 && dead.new_seen >= 2);
}
