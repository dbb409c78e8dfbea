//! The Python suite (`python/tests`: the conformance suite from Python, the cross-
//! implementation round trips against this binary, and the Dask cluster test), run by
//! `cargo test` so that one command runs everything.
//!
//! `python/run_tests.sh` installs numpy, dask[distributed], pytest and the package into
//! `<repo>/.venv` itself; this test hands it the binary cargo just built.

use std::path::Path;
use std::process::Command;

#[test]
fn python_suite_passes_against_this_binary() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new("bash")
        .arg(repo.join("python/run_tests.sh"))
        .env("ARRFILE_BIN", env!("CARGO_BIN_EXE_arrfile"))
        .current_dir(&repo)
        .output()
        .expect("bash runs python/run_tests.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The summary line shows in `cargo test -- --nocapture`, and in full on failure.
    println!("{stdout}");
    assert!(output.status.success(), "python/run_tests.sh failed:\n{stdout}\n{stderr}");
    let summary = stdout.lines().rev().find(|l| l.contains(" passed")).unwrap_or_default();
    assert!(!summary.contains("failed") && !summary.contains("skipped"), "{summary}");
    let passed: u32 = summary
        .split_whitespace()
        .zip(summary.split_whitespace().skip(1))
        .find(|(_, word)| word.trim_end_matches(',') == "passed")
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 100, "only {passed} Python tests passed: {summary}");
}
