//! One Rust actor of the many-actors torture test (`python/tests/torture.py`): it loops one
//! kind of operation on the files of a directory until it is killed, and prints a JSON line
//! before (`"begin"`) and after (`"end"`) each operation, so that the orchestrator knows what
//! every process did, was doing when it was killed, and what each file may hold.
//!
//! ```text
//! torture_actor ROLE DIR NAME... [--ops N] [--id ID]
//! ```
//!
//! Roles: `read` (mode `r`: open, report the values as runs, verify), `rplus` (one `r+`
//! session after another, each committing a few new values), `wplus` (mode `w+`: create,
//! fill, finish), `stream` (`StreamWriter`), `append` (format 1.1: an [`arrfile::Appender`]
//! writes a few rows in chunks that need not end on a row, then commits, or now and then rolls
//! back or is dropped), `recover` ([`arrfile::recover`]).
//!
//! Every array is `u64` of shape `[n, ROW]`: rows of [`ROW`] elements. A whole-file writer
//! writes [`BASE_ROWS`] rows, all equal to one value that names its operation (`ID << 32 |
//! counter`, with an `ID` the orchestrator gives each process); an `r+` session fills the
//! whole array (of any length) with its value; an append adds `k` rows of its own value. So
//! a file is a run of one writer's value followed by runs of whole appends, and its content
//! tells who wrote what. Besides `begin` and `end`, an appender prints `"opened"` once it holds
//! the file and `"commit"` just before it commits: an append killed before that line must
//! leave nothing.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrfile::{
    ChecksumState, Description, Dtype, ErrorKind, ReadArray, Recovery, Verification, WriteArray,
};

/// Elements per row: 4 KiB of `u64`.
const ROW: u64 = 512;
/// Rows a whole-file writer writes: 32 KiB, large enough that a kill lands mid-write now and
/// then.
const BASE_ROWS: u64 = 8;
/// Rows of one append: 1 to this.
const MAX_APPEND_ROWS: u64 = 4;
/// An appender that finds this many rows committed (or would pass it) appends nothing
/// (`"full"`): files do not grow without bound; whole-file writers reset them.
const CAP_ROWS: u64 = 40;

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// A small generator (xorshift64) seeded from the pid and the clock.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Set by the self-check that `cargo test` runs: nothing is printed.
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints one JSON line and flushes it, so that a kill loses at most the line being written.
fn say(fields: &[(&str, String)]) {
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{{{}}}", body.join(","));
    let _ = out.flush();
}

fn text(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// What went wrong, as the orchestrator classifies it.
fn kind(e: &arrfile::Error) -> &'static str {
    match e.kind() {
        ErrorKind::Locked { .. } => "locked",
        ErrorKind::NotFound => "missing",
        ErrorKind::Replaced => "replaced",
        ErrorKind::Parse(_) => "corrupt",
        _ => "error",
    }
}

fn description() -> Description {
    Description::c_order(Dtype::U64, vec![BASE_ROWS, ROW]).expect("a small description")
}

/// What kind of operation an actor begins: `read`, `whole` (a new file renamed over the
/// path), `inplace` (an `r+` commit), `append` (of `rows` rows) or `recover`.
fn begin(role: &str, path: &Path, value: u64, kind: &str, rows: u64) -> u128 {
    let t0 = now_ns();
    say(&[
        ("event", text("begin")),
        ("actor", text(role)),
        ("pid", std::process::id().to_string()),
        ("path", text(&path.display().to_string())),
        ("value", value.to_string()),
        ("kind", text(kind)),
        ("rows", rows.to_string()),
        ("t", t0.to_string()),
    ]);
    t0
}

/// Said by an appender once it holds the file and will write (`"opened"`), and just before it
/// commits (`"commit"`): killed before the latter, its rows must never be seen; after it, they
/// may be.
fn phase(event: &str) {
    say(&[
        ("event", text(event)),
        ("pid", std::process::id().to_string()),
        ("t", now_ns().to_string()),
    ]);
}

fn end(role: &str, path: &Path, value: u64, t0: u128, outcome: Result<(), &str>, detail: &str) {
    end_with(role, path, value, t0, outcome, detail, &[]);
}

fn end_with(
    role: &str,
    path: &Path,
    value: u64,
    t0: u128,
    outcome: Result<(), &str>,
    detail: &str,
    extra: &[(&str, String)],
) {
    let mut fields = vec![
        ("event", text("end")),
        ("actor", text(role)),
        ("pid", std::process::id().to_string()),
        ("path", text(&path.display().to_string())),
        ("value", value.to_string()),
        ("t0", t0.to_string()),
        ("t", now_ns().to_string()),
        ("ok", outcome.is_ok().to_string()),
        ("outcome", text(outcome.err().unwrap_or("ok"))),
        ("detail", text(detail)),
    ];
    fields.extend(extra.iter().cloned());
    say(&fields);
}

/// The values of an array as runs `[value, elements]`, in payload order.
fn runs(values: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &v in values {
        match out.last_mut() {
            Some((last, n)) if *last == v => *n += 1,
            _ => out.push((v, 1)),
        }
    }
    out
}

/// A read: the outcome, a detail, and what the orchestrator judges against the log: the
/// runs of values and the checksum state of the array opened.
fn read_once(path: &Path) -> (Result<(), &'static str>, String, Vec<(String, String)>) {
    let array = match arrfile::open(path) {
        Ok(array) => array,
        Err(e) => return (Err(kind(&e)), e.to_string(), Vec::new()),
    };
    let values = match array.view::<u64>() {
        Ok(values) => values,
        Err(e) => return (Err("error"), e.to_string(), Vec::new()),
    };
    if array.shape().len() != 2 || array.shape()[1] != ROW {
        return (Err("error"), format!("shape {:?}", array.shape()), Vec::new());
    }
    let seen = vec![
        ("runs".to_owned(), serde_json::to_string(&runs(values)).unwrap_or_default()),
        ("state".to_owned(), text(array.checksum_state().name())),
    ];
    let (outcome, detail) = match array.verify_with(|_| ControlFlow::Continue(())) {
        Some(Verification::Valid { .. }) => (Ok(()), "valid".into()),
        Some(Verification::NotVerifiable { state }) => {
            (Ok(()), format!("not verifiable: {}", state.name()))
        }
        Some(Verification::Mismatch { expected, found }) => {
            (Err("mismatch"), format!("expected {expected:#x}, found {found:#x}"))
        }
        _ => (Err("error"), "no verdict".into()),
    };
    (outcome, detail, seen)
}

/// `data` cut into one to four pieces at random places (pieces may be empty).
fn cut<'a, T>(data: &'a [T], rng: &mut Rng) -> Vec<&'a [T]> {
    let mut at: Vec<usize> =
        (0..rng.below(4)).map(|_| rng.below(data.len() as u64 + 1) as usize).collect();
    at.push(0);
    at.push(data.len());
    at.sort_unstable();
    at.windows(2).map(|w| &data[w[0]..w[1]]).collect()
}

/// One append of `rows` rows of `value`: in one to four writes cut anywhere (rows may span
/// writes), typed or raw, with pauses, then a commit, or now and then an explicit rollback or a
/// drop (which rolls back). `Ok(detail)` when committed.
fn append_once(
    path: &Path,
    value: u64,
    rows: u64,
    rng: &mut Rng,
) -> Result<String, (&'static str, String)> {
    let mut appender = arrfile::append(path).map_err(|e| (kind(&e), e.to_string()))?;
    let committed = appender.header().shape()[0];
    if committed + rows > CAP_ROWS {
        return Err(("full", format!("{committed} rows committed")));
    }
    phase("opened");
    let elements = (rows * ROW) as usize;
    let fail = |e: arrfile::Error| (kind(&e), e.to_string());
    let pause = |rng: &mut Rng| std::thread::sleep(Duration::from_micros(rng.below(3000)));
    if rng.below(2) == 0 {
        // Typed writes, cut between elements.
        let data = vec![value; elements];
        for piece in cut(&data, rng) {
            appender.write::<u64>(piece).map_err(fail)?;
            pause(rng);
        }
    } else {
        // Raw bytes (the files are little-endian), cut anywhere, even inside an element.
        let data: Vec<u8> = std::iter::repeat_n(value.to_le_bytes(), elements).flatten().collect();
        for piece in cut(&data, rng) {
            appender.write_bytes(piece).map_err(fail)?;
            pause(rng);
        }
    }
    // Every row given, none committed (the Rust appender writes them at the commit, unless
    // they fill its buffer): a kill here leaves the flag set.
    pause(rng);
    if appender.rows_written() != rows {
        return Err(("error", format!("{} rows written, not {rows}", appender.rows_written())));
    }
    match rng.below(10) {
        0 => {
            appender.rollback().map_err(fail)?;
            Err(("rolledback", "rolled back".into()))
        }
        1 => {
            drop(appender);
            Err(("rolledback", "dropped without a commit".into()))
        }
        _ => {
            phase("commit");
            let header = appender.commit().map_err(fail)?;
            if header.shape()[0] != committed + rows {
                return Err((
                    "error",
                    format!("committed shape {:?} after {committed} + {rows} rows", header.shape()),
                ));
            }
            Ok(format!("committed, {} rows", header.shape()[0]))
        }
    }
}

fn run(role: &str, dir: &Path, names: &[String], ops: u64, id: u32) -> Result<(), String> {
    let pid = std::process::id();
    let mut rng = Rng((u64::from(pid) << 32 ^ now_ns() as u64) | 1);
    let mut counter = 0u32;
    // A value no other process writes: its id in the high bits, a counter in the low ones.
    let mut next_value = || {
        counter += 1;
        u64::from(id) << 32 | u64::from(counter)
    };
    for _ in 0..ops {
        let path: PathBuf = dir.join(&names[rng.below(names.len() as u64) as usize]);
        match role {
            "read" => {
                let t0 = begin(role, &path, 0, "read", 0);
                let (outcome, detail, seen) = read_once(&path);
                let seen: Vec<(&str, String)> =
                    seen.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                end_with(role, &path, 0, t0, outcome, &detail, &seen);
            }
            "append" => {
                let value = next_value();
                let rows = 1 + rng.below(MAX_APPEND_ROWS);
                let t0 = begin(role, &path, value, "append", rows);
                match append_once(&path, value, rows, &mut rng) {
                    Ok(detail) => end(role, &path, value, t0, Ok(()), &detail),
                    Err((k, detail)) => {
                        end(role, &path, value, t0, Err(k), &detail);
                        if k == "locked" {
                            // Now and then a dead appender's file is left to a recoverer.
                            std::thread::sleep(Duration::from_micros(5000 + rng.below(10_000)));
                        }
                    }
                }
            }
            "recover" => {
                let t0 = begin(role, &path, 0, "recover", 0);
                let (outcome, detail, cut) = match arrfile::recover(&path) {
                    Ok(Recovery::NothingToDo) => (Ok(()), "nothing to do".to_owned(), -1),
                    Ok(Recovery::RolledBack { bytes_cut }) => {
                        (Ok(()), format!("rolled back, {bytes_cut} bytes cut"), bytes_cut as i64)
                    }
                    Ok(other) => (Err("error"), format!("{other:?}"), -1),
                    Err(e) => (Err(kind(&e)), e.to_string(), -1),
                };
                end_with(role, &path, 0, t0, outcome, &detail, &[("cut", cut.to_string())]);
            }
            "rplus" => {
                let value = next_value();
                let t0 = begin(role, &path, value, "inplace", 0);
                let mut edit = match arrfile::open_mut(&path) {
                    Ok(edit) => edit,
                    Err(e) => {
                        end(role, &path, value, t0, Err(kind(&e)), &e.to_string());
                        std::thread::sleep(Duration::from_millis(rng.below(5)));
                        continue;
                    }
                };
                // A session of a few commits, each of a new value, with pauses between them
                // so that replacing writers and cleaners meet a session in progress.
                let mut value = value;
                let mut t0 = t0;
                for round in 0..1 + rng.below(3) {
                    if round > 0 {
                        value = next_value();
                        t0 = begin(role, &path, value, "inplace", 0);
                    }
                    let filled = edit.view_mut::<u64>().map(|v| v.fill(value));
                    std::thread::sleep(Duration::from_millis(rng.below(4)));
                    let result = filled.map_err(|e| ("error", e.to_string())).and_then(|()| {
                        edit.commit().map(|_| ()).map_err(|e| (kind(&e), e.to_string()))
                    });
                    match result {
                        Ok(()) => end(role, &path, value, t0, Ok(()), "committed"),
                        Err((k, e)) => {
                            end(role, &path, value, t0, Err(k), &e);
                            break;
                        }
                    }
                }
            }
            "wplus" => {
                let value = next_value();
                let t0 = begin(role, &path, value, "whole", 0);
                let result = arrfile::create(&path, description(), None).and_then(|mut new| {
                    new.view_mut::<u64>()?.fill(value);
                    new.finish()
                });
                match result {
                    Ok(_) => end(role, &path, value, t0, Ok(()), "finished"),
                    Err(e) => end(role, &path, value, t0, Err(kind(&e)), &e.to_string()),
                }
            }
            "stream" => {
                let value = next_value();
                let t0 = begin(role, &path, value, "whole", 0);
                let result =
                    arrfile::StreamWriter::create(&path, description(), None).and_then(|mut w| {
                        let chunk = vec![value; ROW as usize];
                        for _ in 0..BASE_ROWS {
                            w.write_elements(&chunk)?;
                        }
                        w.finish()
                    });
                match result {
                    Ok(header) if header.checksum_state() == ChecksumState::Valid => {
                        end(role, &path, value, t0, Ok(()), "finished");
                    }
                    Ok(_) => end(role, &path, value, t0, Err("error"), "no checksum"),
                    Err(e) => end(role, &path, value, t0, Err(kind(&e)), &e.to_string()),
                }
            }
            other => return Err(format!("unknown role {other:?}")),
        }
        std::thread::sleep(Duration::from_micros(rng.below(2000)));
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test` runs examples with no arguments (or its own flags): a quick self-check.
    if args.len() < 3 || args[0].starts_with('-') {
        QUIET.store(true, std::sync::atomic::Ordering::Relaxed);
        let dir = tempfile::tempdir().expect("a temporary directory");
        let names = vec!["a.arr".to_owned()];
        for role in ["stream", "wplus", "append", "recover", "rplus", "append", "read"] {
            run(role, dir.path(), &names, 3, 1).expect("the self-check runs");
        }
        let array = arrfile::open(dir.path().join("a.arr")).expect("the self-check's file");
        assert!(array.verify().is_valid());
        return;
    }
    let (role, dir) = (&args[0], Path::new(&args[1]));
    let mut names = Vec::new();
    let mut ops = u64::MAX;
    let mut id = std::process::id();
    let mut rest = args[2..].iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--ops" => ops = rest.next().and_then(|n| n.parse().ok()).unwrap_or(ops),
            "--id" => id = rest.next().and_then(|n| n.parse().ok()).unwrap_or(id),
            name => names.push(name.to_owned()),
        }
    }
    if let Err(e) = run(role, dir, &names, ops, id) {
        eprintln!("torture_actor: {e}");
        std::process::exit(2);
    }
}
