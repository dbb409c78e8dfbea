//! Crash safety of appends (format 1.1): a SIGKILL before *every* system call of the append
//! protocol, of recovery, and of `r+`'s recovery on open, in order.
//!
//! The kills come from the LD_PRELOAD shim `tests/killshim/killshim.c` (built here with `cc`),
//! which counts the libc calls that change the target file or its locks and raises SIGKILL
//! before the `KILLSHIM_AT`-th. A first run with `KILLSHIM_LOG` lists the calls; then the
//! child is killed before each of them in turn (and once not at all). The child processes are
//! this test binary run again with `--exact child_process` and a role.
//!
//! After each kill the file must open (as a format 1.1 reader) as exactly the old array or
//! exactly the new one — values, and a *valid* verify where the old checksum was valid —
//! never anything else; after `recover` it must be byte-identical to the old file or to the
//! new one (the whole array written at once). A recovery killed at each of its calls, on a
//! file left mid-append, must leave a file that opens as the old array and that a second
//! recovery makes byte-identical to the old file; the same for `r+`, which recovers on open.
//! A kill is not a power cut: this tests the order of the writes, not the `fsync`s.

#[path = "../../../tests/killshim/build_shim.rs"]
mod killshim;
use killshim::build_killshim;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use arrfile_format::{
    Alignment, ByteOrder, Description, Dtype, Order, PayloadChecksum, Prefix, Verification,
};
use arrfile_mmap::{ReadArray, Recovery};

const ROLE: &str = "ARRFILE_APPEND_CRASH_ROLE";
const PATH: &str = "ARRFILE_APPEND_CRASH_PATH";
const SCENARIO: &str = "ARRFILE_APPEND_CRASH_SCENARIO";

/// The name of every file the shim watches (the log and the shim itself are elsewhere).
const TARGET: &str = "victim.arr";

/// Elements per row: rows of 4 KiB of `u32`.
const ROW: usize = 1024;
/// Rows before the append.
const OLD_ROWS: usize = 5;
/// The appended rows, in the pieces the child writes: 300.5 rows (a direct write), 9.5 rows
/// (buffered), then 650 rows through `copy_from` (the pipelined copy, three chunks).
const PIECES: [usize; 3] = [300 * ROW + ROW / 2, ROW / 2 + 9 * ROW, 650 * ROW];
/// Rows after the append.
const NEW_ROWS: usize = OLD_ROWS + 960;

/// One file layout and checksum state to kill appends to.
#[derive(Clone, Copy, Debug)]
struct Scenario {
    order: Order,
    byte_order: ByteOrder,
    /// Whether the old file has a valid checksum (else *absent*).
    valid: bool,
}

const SCENARIOS: [Scenario; 2] = [
    Scenario { order: Order::C, byte_order: ByteOrder::Little, valid: true },
    Scenario { order: Order::F, byte_order: ByteOrder::Big, valid: false },
];

impl Scenario {
    fn description(self, rows: usize) -> Description {
        let shape = match self.order {
            Order::C => vec![rows as u64, ROW as u64],
            Order::F => vec![ROW as u64, rows as u64],
        };
        Description::new(Dtype::U32, shape, self.order, self.byte_order).unwrap()
    }

    fn from_env() -> Scenario {
        SCENARIOS[std::env::var(SCENARIO).unwrap().parse::<usize>().unwrap()]
    }

    /// The bytes of a whole file of the first `rows` rows, as a writer of the whole array
    /// would make it: the appends must end byte-identical to this.
    fn file(self, rows: usize) -> Vec<u8> {
        let payload = stored(&values(0, rows * ROW), self.byte_order);
        let checksum = if self.valid {
            PayloadChecksum::Valid(arrfile_format::crc32(&payload))
        } else {
            PayloadChecksum::Absent
        };
        let prefix = Prefix::new(self.description(rows), None, Alignment::PAGE)
            .unwrap()
            .with_checksum(checksum);
        let mut bytes = prefix.to_bytes();
        bytes.extend_from_slice(&payload);
        bytes
    }
}

/// Element `i` of the array in storage order (the rows follow each other in either order).
fn values(from: usize, to: usize) -> Vec<u32> {
    (from..to).map(|i| u32::try_from(i).unwrap().wrapping_mul(0x9E37_79B1)).collect()
}

fn stored(values: &[u32], byte_order: ByteOrder) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| match byte_order {
            ByteOrder::Little => v.to_le_bytes(),
            ByteOrder::Big => v.to_be_bytes(),
        })
        .collect()
}

/// Not a test of its own: the entry point of the killed processes (it does nothing when run
/// by the test harness without a role).
#[test]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else { return };
    let path = PathBuf::from(std::env::var_os(PATH).unwrap());
    match role.as_str() {
        "append" => {
            let scenario = Scenario::from_env();
            let mut appender = arrfile_mmap::append(&path).unwrap();
            let mut start = OLD_ROWS * ROW;
            for (index, &len) in PIECES.iter().enumerate() {
                let piece = values(start, start + len);
                match (index, scenario.byte_order == ByteOrder::NATIVE) {
                    // The last piece converts from little endian on the way.
                    (2, _) => {
                        let little = stored(&piece, ByteOrder::Little);
                        appender.copy_from(&little[..], ByteOrder::Little, |_| {}).unwrap();
                    }
                    (_, true) => appender.write(&piece).unwrap(),
                    (_, false) => {
                        appender.write_bytes(&stored(&piece, scenario.byte_order)).unwrap()
                    }
                }
                start += len;
            }
            appender.commit().unwrap();
        }
        "recover" => {
            arrfile_mmap::recover(&path).unwrap();
        }
        "rplus" => {
            let edit = arrfile_mmap::open_mut(&path).unwrap();
            assert!(!edit.header().append_in_progress());
        }
        other => panic!("unknown role {other}"),
    }
}

/// How a child run ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Killed,
    Exited,
}

/// Runs `role` on `path` under the shim: killed before call `at`, or logging to `log`.
fn run(
    shim: &Path,
    role: &str,
    path: &Path,
    scenario: usize,
    at: Option<usize>,
    log: Option<&Path>,
) -> End {
    use std::os::unix::process::ExitStatusExt;
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child_process", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(PATH, path)
        .env(SCENARIO, scenario.to_string())
        .env("LD_PRELOAD", shim)
        .env("KILLSHIM_TARGET", TARGET)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(at) = at {
        command.env("KILLSHIM_AT", at.to_string());
    }
    if let Some(log) = log {
        command.env("KILLSHIM_LOG", log);
    }
    let output = command.output().unwrap();
    match output.status.signal() {
        Some(9) => End::Killed,
        None if output.status.success() => End::Exited,
        _ => panic!(
            "{role} (kill at {at:?}) ended with {:?}:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// The calls a run of `role` makes on a copy of `bytes`, from the shim's log.
fn calls(shim: &Path, dir: &Path, role: &str, bytes: &[u8], scenario: usize) -> Vec<String> {
    let work = tempfile::tempdir_in(dir).unwrap();
    let path = work.path().join(TARGET);
    std::fs::write(&path, bytes).unwrap();
    let log = dir.join(format!("{role}-{scenario}.log"));
    let _ = std::fs::remove_file(&log);
    assert_eq!(run(shim, role, &path, scenario, None, Some(&log)), End::Exited);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    text.lines().map(|line| line.split_once(' ').unwrap().1.to_owned()).collect()
}

/// Which array a file holds after a kill, checked through a format 1.1 reader: `Some(rows)`
/// for the old or the new array with exactly its values (and a valid verify where the old
/// checksum was valid).
fn check_opens(path: &Path, scenario: Scenario, what: &str) -> usize {
    let array = arrfile_mmap::open(path).unwrap_or_else(|e| panic!("{what}: does not open: {e}"));
    let rows = array.description().outer_len().unwrap();
    let rows = usize::try_from(rows).unwrap();
    assert!(rows == OLD_ROWS || rows == NEW_ROWS, "{what}: {rows} rows, neither old nor new");
    assert_eq!(array.description(), &scenario.description(rows), "{what}");
    assert!(array.to_vec::<u32>().unwrap() == values(0, rows * ROW), "{what}: wrong values");
    let verdict = array.verify();
    if scenario.valid {
        assert!(verdict.is_valid(), "{what}: {verdict:?}");
    } else {
        assert!(matches!(verdict, Verification::NotVerifiable { .. }), "{what}: {verdict:?}");
    }
    rows
}

#[test]
fn kills_at_every_call_of_append_recovery_and_r_plus_leave_the_old_or_the_new_array() {
    let scratch = tempfile::tempdir().unwrap();
    let shim = build_killshim(scratch.path());
    let mut report = Vec::new();
    for (index, &scenario) in SCENARIOS.iter().enumerate() {
        let old = scenario.file(OLD_ROWS);
        let new = scenario.file(NEW_ROWS);

        // The append: every call, then no kill.
        let append_calls = calls(&shim, scratch.path(), "append", &old, index);
        assert!(append_calls.len() >= 10, "only {append_calls:?}: the shim saw too little");
        for expected in ["fcntl(lock)", "flock", "pwrite", "fsync", "fdatasync", "write"] {
            assert!(
                append_calls.iter().any(|c| c == expected),
                "no {expected} in {append_calls:?}"
            );
        }
        let (mut old_seen, mut new_seen) = (0, 0);
        for at in 1..=append_calls.len() + 1 {
            let work = tempfile::tempdir_in(scratch.path()).unwrap();
            let path = work.path().join(TARGET);
            std::fs::write(&path, &old).unwrap();
            let end = run(&shim, "append", &path, index, Some(at), None);
            assert_eq!(end == End::Killed, at <= append_calls.len(), "kill at {at}");
            let what = format!(
                "{scenario:?}, append killed before call {at} ({})",
                append_calls.get(at - 1).map_or("none", String::as_str)
            );
            let rows = check_opens(&path, scenario, &what);
            let recovery = arrfile_mmap::recover(&path).unwrap();
            let after = std::fs::read(&path).unwrap();
            if rows == NEW_ROWS {
                assert_eq!(recovery, Recovery::NothingToDo, "{what}");
                assert!(after == new, "{what}: the new array is not the whole array's file");
                new_seen += 1;
            } else {
                assert!(after == old, "{what}: recovery did not restore the old file");
                old_seen += 1;
            }
            assert_eq!(check_opens(&path, scenario, &what), rows, "{what}");
        }
        assert!(old_seen > 0 && new_seen > 0, "old {old_seen}, new {new_seen}");

        // A file left mid-append with all its rows: killed before the commit's header write.
        let commit_at = append_calls.iter().rposition(|c| c == "pwrite").unwrap() + 1;
        let work = tempfile::tempdir_in(scratch.path()).unwrap();
        let path = work.path().join(TARGET);
        std::fs::write(&path, &old).unwrap();
        assert_eq!(run(&shim, "append", &path, index, Some(commit_at), None), End::Killed);
        let mid_append = std::fs::read(&path).unwrap();
        assert!(arrfile_mmap::inspect(&path).unwrap().0.append_in_progress());
        assert_eq!(mid_append.len(), new.len(), "every row was written before the commit");

        // Recovery and r+ killed at every call, each followed by a recovery that completes.
        let mut counts = Vec::new();
        for role in ["recover", "rplus"] {
            let role_calls = calls(&shim, scratch.path(), role, &mid_append, index);
            assert!(role_calls.len() >= 5, "only {role_calls:?}");
            assert!(role_calls.iter().any(|c| c == "ftruncate"), "{role_calls:?}");
            for at in 1..=role_calls.len() + 1 {
                let work = tempfile::tempdir_in(scratch.path()).unwrap();
                let path = work.path().join(TARGET);
                std::fs::write(&path, &mid_append).unwrap();
                let end = run(&shim, role, &path, index, Some(at), None);
                assert_eq!(end == End::Killed, at <= role_calls.len(), "{role} kill at {at}");
                let what = format!(
                    "{scenario:?}, {role} killed before call {at} ({})",
                    role_calls.get(at - 1).map_or("none", String::as_str)
                );
                assert_eq!(check_opens(&path, scenario, &what), OLD_ROWS, "{what}");
                let recovery = arrfile_mmap::recover(&path).unwrap();
                assert!(
                    std::fs::read(&path).unwrap() == old,
                    "{what}: not the old file after {recovery:?}"
                );
                assert_eq!(arrfile_mmap::recover(&path).unwrap(), Recovery::NothingToDo, "{what}");
            }
            counts.push(format!("{role} {} calls", role_calls.len()));
        }
        report.push(format!(
            "{scenario:?}: append {} calls ({}) -> old {old_seen}, new {new_seen}; {}",
            append_calls.len(),
            append_calls.join(" "),
            counts.join(", ")
        ));
    }
    for line in report {
        eprintln!("{line}");
    }
}
