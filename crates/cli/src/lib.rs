//! The library behind the `arrfile` command: every command's logic, reachable by tests and
//! fuzzers. The binary (`src/main.rs`) only parses flags, calls [`cli::run`], and turns a
//! [`CliError`] into one line on stderr and an exit code.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Sizes come from untrusted headers: a silent truncation would be a bug.
#![warn(clippy::cast_possible_truncation)]

pub mod args;
pub mod cli;
pub mod convert;
mod error;
pub mod export;
pub mod inspect;
pub mod interrupt;
pub mod npy;
mod progress;
pub mod view_cmds;

pub use error::{
    CliError, EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_USAGE_OR_IO,
};
pub use progress::PROGRESS_THRESHOLD;
