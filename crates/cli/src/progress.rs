//! Progress bars on a terminal for big inputs; nothing otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Inputs at least this large get a progress bar.
pub(crate) const PROGRESS_THRESHOLD: u64 = 64 << 20;

/// A bar over `len` bytes on stderr, or a hidden one when stderr is not a terminal, the
/// input is small, or `quiet` was asked for.
pub(crate) fn bar(len: u64, quiet: bool, message: &str) -> ProgressBar {
    if quiet || len < PROGRESS_THRESHOLD || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    ProgressBar::new(len).with_style(style).with_message(message.to_owned())
}
