//! `arrfile`: parse the flags, run the command, turn an error into one line and an exit code.
//!
//! The command is thin: each module parses its flags and calls the libraries (`arrfile-mmap`,
//! `arrfile-npy`); only here do errors become messages and exit codes. It is a binary only:
//! its tests drive it as a user would (`tests/`), or test a module from inside (`#[cfg(test)]`).
#![forbid(unsafe_code)]
// Sizes come from untrusted headers: a silent truncation would be a bug.
#![warn(clippy::cast_possible_truncation)]

mod append;
mod args;
mod cli;
mod convert;
mod error;
mod export;
mod inspect;
mod interrupt;
mod progress;
mod view_cmds;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, run};
use crate::error::EXIT_USAGE_OR_IO;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; a closed stdout is not one either.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE_OR_IO } else { 0 });
        }
    };
    // Without a handler, Ctrl-C would kill a conversion before it removes its temp file.
    let _ = ctrlc::set_handler(interrupt::request);
    // A mapped file truncated by a program that ignores locks raises SIGBUS: say so and exit
    // with the documented code instead of dying of the signal (exit 135).
    arrfile_mmap::set_mapping_fault_message(
        "error: a file became shorter than its header says while it was read (a program that ignores locks truncated it)\n",
    );
    let _ = arrfile_mmap::exit_on_mapping_fault(EXIT_USAGE_OR_IO);
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let result = run(cli.command, &mut stdout.lock(), &mut stderr.lock());
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
