//! Two processes sharing one arrfile: a writer commits, readers in other processes see the
//! committed data, and a second writer is refused by the lock while the first holds it.
//!
//! The example re-executes itself (`std::env::current_exe()`) as child processes:
//!
//! - `--child-writer PATH --expect-locked`: `open_mut` must fail with `ErrorKind::Locked`;
//! - `--child-writer PATH --commit GEN`: `open_mut`, write generation GEN, `commit`;
//! - `--child-reader PATH --expect GEN [--wait]`: `open` (waiting for the lock with `--wait`),
//!   check the values of generation GEN and that `verify()` is valid.
//!
//! Each child reports through its exit code, which the parent asserts. Any other command line
//! (including the `--quiet` or filters that `cargo test` may pass) runs the parent.
//!
//! With numpy, `np.memmap(..., mode='r+')` in two processes gives two writers and readers that
//! see half-written data, with nothing to tell them; here the advisory locks (exclusive for
//! `r+` and `w+`, shared for `r` and `c`) and the header's checksum state keep them apart.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use arrfile::{Description, Dtype, ErrorKind, LockWait, Options, ReadArray, WriteArray};

#[cfg(test)]
const N: usize = 1_000;
#[cfg(not(test))]
const N: usize = 1_000_000;

/// Child exit codes.
const OK: i32 = 0;
const NOT_LOCKED: i32 = 10;
const WRONG_VALUES: i32 = 11;
const NOT_VERIFIED: i32 = 12;
const FAILED: i32 = 13;
const USAGE: i32 = 14;

/// The value of element `i` in generation `generation`.
fn value(generation: u32, i: usize) -> f64 {
    f64::from(generation) * 1e7 + i as f64
}

fn fill(values: &mut [f64], generation: u32) {
    values.iter_mut().enumerate().for_each(|(i, v)| *v = value(generation, i));
}

fn child_writer(path: &Path, rest: &[String]) -> i32 {
    let me = format!("[child {} writer]", std::process::id());
    match rest {
        [flag] if flag == "--expect-locked" => match arrfile::open_mut(path) {
            Ok(_) => {
                println!("{me} open_mut succeeded although another process holds the file");
                NOT_LOCKED
            }
            Err(e) if matches!(e.kind(), ErrorKind::Locked { .. }) => {
                let text = e.to_string();
                println!("{me} refused, as expected: {text}");
                if text.contains("locked by another process") { OK } else { FAILED }
            }
            Err(e) => {
                println!("{me} failed otherwise: {e}");
                FAILED
            }
        },
        [flag, generation] if flag == "--commit" => {
            let Ok(generation) = generation.parse() else { return USAGE };
            let result = (|| -> Result<u32, arrfile::Error> {
                let mut edit = arrfile::open_mut(path)?;
                fill(edit.view_mut::<f64>()?, generation);
                edit.commit()
            })();
            match result {
                Ok(crc) => {
                    println!("{me} wrote generation {generation}, committed (crc {crc:#010x})");
                    OK
                }
                Err(e) => {
                    println!("{me} failed: {e}");
                    FAILED
                }
            }
        }
        _ => USAGE,
    }
}

fn child_reader(path: &Path, rest: &[String]) -> i32 {
    let me = format!("[child {} reader]", std::process::id());
    let (generation, wait) = match rest {
        [flag, generation] if flag == "--expect" => (generation, LockWait::NoWait),
        [flag, generation, w] if flag == "--expect" && w == "--wait" => {
            (generation, LockWait::Wait)
        }
        _ => return USAGE,
    };
    let Ok(generation) = generation.parse() else { return USAGE };
    let array = match Options::new().lock_wait(wait).open(path) {
        Ok(array) => array,
        Err(e) => {
            println!("{me} failed to open: {e}");
            return FAILED;
        }
    };
    let Ok(values) = array.view::<f64>() else { return FAILED };
    if let Some(i) = (0..N).find(|&i| values.get(i) != Some(&value(generation, i))) {
        println!("{me} element {i} is {:?}, expected generation {generation}", values.get(i));
        return WRONG_VALUES;
    }
    let verification = array.verify();
    if !verification.is_valid() {
        println!("{me} verify(): {verification:?}");
        return NOT_VERIFIED;
    }
    println!(
        "{me} sees generation {generation} ({N} values, last {}), verify(): {}",
        values[N - 1],
        verification.kind_name()
    );
    OK
}

fn spawn(args: &[&str], path: &Path) -> Result<Child, Box<dyn Error>> {
    let mut command = Command::new(std::env::current_exe()?);
    command.arg(args[0]).arg(path).args(&args[1..]);
    Ok(command.spawn()?)
}

fn run(args: &[&str], path: &Path) -> Result<ExitStatus, Box<dyn Error>> {
    Ok(spawn(args, path)?.wait()?)
}

fn parent() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("shared.arr");
    println!("[parent {}] {N} f64 at {}", std::process::id(), path.display());

    let mut new = arrfile::create(&path, Description::c_order(Dtype::F64, [N as u64])?, None)?;
    fill(new.view_mut::<f64>()?, 0);
    new.finish()?;

    // The parent writes: it holds the exclusive lock from here until it drops `edit`.
    let mut edit = arrfile::open_mut(&path)?;
    println!("[parent] holds the file r+");

    // A second writer, in another process, is refused.
    let status = run(&["--child-writer", "--expect-locked"], &path)?;
    assert_eq!(status.code(), Some(OK), "the second writer was not refused: {status}");

    // A reader that waits for the lock: it cannot look while the parent writes.
    let mut waiting = spawn(&["--child-reader", "--expect", "1", "--wait"], &path)?;

    fill(edit.view_mut::<f64>()?, 1);
    let crc = edit.commit()?;
    println!("[parent] wrote generation 1, committed (crc {crc:#010x})");
    std::thread::sleep(Duration::from_millis(300));
    assert!(waiting.try_wait()?.is_none(), "a reader got in while the writer held the file");
    println!("[parent] the waiting reader is still blocked; releasing the file");
    drop(edit);
    let status = waiting.wait()?;
    assert_eq!(status.code(), Some(OK), "the waiting reader: {status}");

    // Once the writer is gone, a reader in another process sees the committed data at once.
    let status = run(&["--child-reader", "--expect", "1"], &path)?;
    assert_eq!(status.code(), Some(OK), "the reader: {status}");

    // And a writer in another process commits generation 2, which the parent sees.
    let status = run(&["--child-writer", "--commit", "2"], &path)?;
    assert_eq!(status.code(), Some(OK), "the child writer: {status}");
    let array = arrfile::open(&path)?;
    let values = array.view::<f64>()?;
    assert!((0..N).all(|i| values[i] == value(2, i)), "the parent does not see generation 2");
    let verification = array.verify();
    assert!(verification.is_valid(), "{verification:?}");
    println!("[parent] sees generation 2, verify(): {}", verification.kind_name());
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.as_slice() {
        [mode, path, rest @ ..] if mode == "--child-writer" => {
            child_writer(&PathBuf::from(path), rest)
        }
        [mode, path, rest @ ..] if mode == "--child-reader" => {
            child_reader(&PathBuf::from(path), rest)
        }
        _ => return parent(),
    };
    std::process::exit(code)
}
