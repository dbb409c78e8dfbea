//! One Rust actor of the many-actors torture test (`python/tests/torture.py`): it loops one
//! kind of operation on the files of a directory until it is killed, and prints a JSON line
//! before (`"begin"`) and after (`"end"`) each operation, so that the orchestrator knows what
//! every process did, was doing when it was killed, and what each file may hold.
//!
//! ```text
//! torture_actor ROLE DIR NAME... [--ops N] [--id ID]
//! ```
//!
//! Roles: `read` (mode `r`: open, check the values, verify), `rplus` (one `r+` session after
//! another, each committing a few new values), `wplus` (mode `w+`: create, fill, finish),
//! `stream` (`StreamWriter`). Every array is `u64` of [`LEN`] elements, all equal to one value
//! that names the operation that wrote it (`ID << 32 | counter`, with an `ID` the orchestrator
//! gives each process), so the content of a file tells who wrote it.

use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrfile::{ChecksumState, Description, Dtype, ErrorKind, ReadArray, Verification, WriteArray};

/// Elements per array: 32 KiB of `u64`, large enough that a kill lands mid-write now and then.
const LEN: u64 = 4096;

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
    Description::c_order(Dtype::U64, vec![LEN]).expect("a small description")
}

fn begin(role: &str, path: &Path, value: u64) -> u128 {
    let t0 = now_ns();
    say(&[
        ("event", text("begin")),
        ("actor", text(role)),
        ("pid", std::process::id().to_string()),
        ("path", text(&path.display().to_string())),
        ("value", value.to_string()),
        ("t", t0.to_string()),
    ]);
    t0
}

fn end(role: &str, path: &Path, value: u64, t0: u128, outcome: Result<(), &str>, detail: &str) {
    say(&[
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
    ]);
}

fn read_once(path: &Path) -> (Result<(), &'static str>, String, u64) {
    let array = match arrfile::open(path) {
        Ok(array) => array,
        Err(e) => return (Err(kind(&e)), e.to_string(), 0),
    };
    let values = match array.view::<u64>() {
        Ok(values) => values,
        Err(e) => return (Err("error"), e.to_string(), 0),
    };
    let first = values.first().copied().unwrap_or(0);
    if values.iter().any(|&v| v != first) {
        return (Err("torn"), format!("values {first} and others in one array"), first);
    }
    match array.verify_with(|_| ControlFlow::Continue(())) {
        Some(Verification::Valid { .. }) => (Ok(()), "valid".into(), first),
        Some(Verification::NotVerifiable { state }) => {
            (Ok(()), format!("not verifiable: {}", state.name()), first)
        }
        Some(Verification::Mismatch { expected, found }) => {
            (Err("mismatch"), format!("expected {expected:#x}, found {found:#x}"), first)
        }
        _ => (Err("error"), "no verdict".into(), first),
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
                let t0 = begin(role, &path, 0);
                let (outcome, detail, value) = read_once(&path);
                end(role, &path, value, t0, outcome, &detail);
            }
            "rplus" => {
                let value = next_value();
                let t0 = begin(role, &path, value);
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
                        t0 = begin(role, &path, value);
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
                let t0 = begin(role, &path, value);
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
                let t0 = begin(role, &path, value);
                let result =
                    arrfile::StreamWriter::create(&path, description(), None).and_then(|mut w| {
                        let chunk = vec![value; 512];
                        for _ in 0..LEN / 512 {
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
        for role in ["stream", "wplus", "rplus", "read"] {
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
