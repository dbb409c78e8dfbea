//! Builds the LD_PRELOAD shim `tests/killshim/killshim.c` for the crash tests of every crate
//! (each includes this file with `#[path]`): it SIGKILLs its process before the Nth
//! file-changing libc call on a path containing `KILLSHIM_TARGET` (see the C file's header).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles the shim into `dir` with `cc` (which every Rust toolchain on Linux links with) and
/// returns the path of the shared object.
pub(crate) fn build_killshim(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/killshim/killshim.c");
    let out = dir.join("killshim.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("cc runs");
    assert!(status.success(), "building the killshim failed");
    out
}
