//! The progress bar: drawn on a terminal for inputs over 64 MiB; never with `--quiet` or when
//! stderr is not a terminal. `script` (util-linux) gives the command a pseudo-terminal.

use std::path::Path;
use std::process::Command;

fn big_input(dir: &Path) {
    // 256 MiB of sparse zeros: above the threshold, cheap to make.
    std::fs::File::create(dir.join("big.dat")).unwrap().set_len(256 << 20).unwrap();
}

/// Runs `arrfile ARGS` under a pseudo-terminal and returns everything it drew.
fn on_a_terminal(dir: &Path, args: &str) -> String {
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_arrfile"));
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(dir)
        .output()
        .expect("script (util-linux) runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_bar_on_a_terminal_for_big_inputs() {
    let dir = tempfile::tempdir().unwrap();
    big_input(dir.path());
    let drawn = on_a_terminal(dir.path(), "convert big.dat --dtype u8 --shape -1");
    assert!(drawn.contains("converting ["), "no bar drawn: {drawn:?}");
    assert!(drawn.contains("/256.00 MiB"), "{drawn:?}");
    assert!(drawn.contains("big.dat -> big.arr"), "{drawn:?}");
    let drawn = on_a_terminal(dir.path(), "verify big.arr");
    assert!(drawn.contains("verifying ["), "no bar drawn: {drawn:?}");
}

#[test]
fn no_bar_with_quiet_or_small_inputs() {
    let dir = tempfile::tempdir().unwrap();
    big_input(dir.path());
    let drawn = on_a_terminal(dir.path(), "convert big.dat --dtype u8 --shape -1 --quiet");
    assert!(!drawn.contains("converting ["), "{drawn:?}");
    std::fs::write(dir.path().join("small.dat"), [0u8; 1024]).unwrap();
    let drawn = on_a_terminal(dir.path(), "convert small.dat --dtype u8 --shape -1");
    assert!(!drawn.contains("converting ["), "{drawn:?}");
}

#[test]
fn no_bar_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    big_input(dir.path());
    let output = Command::new(env!("CARGO_BIN_EXE_arrfile"))
        .args(["convert", "big.dat", "--dtype", "u8", "--shape", "-1"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(output.stderr.is_empty(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn append_draws_one_bar_over_all_inputs_unless_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let created = Command::new(env!("CARGO_BIN_EXE_arrfile"))
        .args(["create", "base.arr", "--dtype", "u8", "--shape", "0,1024"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(created.status.success());
    std::fs::File::create(d.join("big.dat")).unwrap().set_len(128 << 20).unwrap();
    let drawn = on_a_terminal(d, "append base.arr big.dat big.dat");
    assert!(drawn.contains("appending ["), "no bar drawn: {drawn:?}");
    assert!(drawn.contains("/256.00 MiB"), "one bar over both inputs: {drawn:?}");
    assert!(drawn.contains("base.arr: appended 262144 rows from 2 file(s)"), "{drawn:?}");
    let drawn = on_a_terminal(d, "append base.arr big.dat -q");
    assert!(!drawn.contains("appending ["), "{drawn:?}");
    assert!(drawn.contains("base.arr: appended 131072 rows"), "{drawn:?}");
}
