//! Disk full and write errors: `convert` onto a filesystem too small for its output fails with
//! a clear message and leaves nothing behind, temp files included.

use std::path::Path;
use std::process::Command;

/// A 2 MiB raw input, four times what the small filesystem holds.
fn input(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("big.dat");
    let bytes: Vec<u8> =
        (0..2u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

fn shell(script: &str, dir: &Path) -> (i32, String, String) {
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("ARRFILE", env!("CARGO_BIN_EXE_arrfile"))
        .current_dir(dir)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A real full filesystem: a 512 KiB tmpfs mounted in a private mount namespace (`unshare`
/// maps the user to root there, so no privileges are needed). What the output directory
/// holds afterwards is listed from inside the namespace, where the mount exists.
#[test]
fn convert_onto_a_full_tmpfs_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    input(dir.path());
    std::fs::create_dir(dir.path().join("small")).unwrap();
    let script = r#"
        unshare --user --map-root-user --mount sh -c '
            mount -t tmpfs -o size=512k tmpfs small || exit 99
            "$ARRFILE" convert big.dat --dtype u8 --shape -1 -o small/out.arr
            echo "exit=$?"
            echo "left=[$(ls -A small)]"
        '
    "#;
    let (code, stdout, stderr) = shell(script, dir.path());
    assert_eq!(code, 0, "unshare or mount failed here: {stderr}");
    assert!(stdout.contains("exit=2"), "{stdout}\n{stderr}");
    assert!(stdout.contains("left=[]"), "the output directory is not empty: {stdout}");
    let line = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert_eq!(
        line, "error: small/out.arr: writing the payload: No space left on device (os error 28)",
        "{stderr}"
    );
}

/// An injected write error where no filesystem can be mounted: a file-size limit
/// (`ulimit -f`, with SIGXFSZ ignored so that the write fails with EFBIG instead of killing
/// the process).
#[test]
fn convert_failing_mid_write_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    input(dir.path());
    std::fs::create_dir(dir.path().join("out")).unwrap();
    let script = r#"
        trap '' XFSZ
        ulimit -f 512
        "$ARRFILE" convert big.dat --dtype u8 --shape -1 -o out/out.arr
        echo "exit=$?"
        echo "left=[$(ls -A out)]"
    "#;
    let (code, stdout, stderr) = shell(script, dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("exit=2"), "{stdout}\n{stderr}");
    assert!(stdout.contains("left=[]"), "the output directory is not empty: {stdout}");
    assert!(stderr.contains("error: out/out.arr: writing the payload: File too large"), "{stderr}");
}
