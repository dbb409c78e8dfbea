//! The command's errors and their exit codes.

use std::io;
use std::path::{Path, PathBuf};

use arrfile_npy::NpyError;

/// Exit code: success (for `verify`, every file valid).
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: invalid or corrupt input.
pub(crate) const EXIT_INVALID: u8 = 1;
/// Exit code: usage or I/O error.
pub(crate) const EXIT_USAGE_OR_IO: u8 = 2;
/// Exit code: interrupted by a signal; nothing was left behind.
pub(crate) const EXIT_INTERRUPTED: u8 = 130;

/// What `--help` says about exit codes.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success (verify: every file is valid; diff: the arrays are equal)
  1    invalid or corrupt input: a failed format check, a payload checksum mismatch or an
       unverifiable checksum, a refused .npy, or a raw file whose size does not match --shape;
       append: an input whose dtype, trailing shape or order does not match the base;
       diff: the arrays differ
  2    usage or I/O error: bad arguments (a bad --slice, --axis, --vmin/--vmax), a missing or
       unreadable file, a file locked by another process, an existing output without --force
  130  interrupted (Ctrl-C, SIGTERM); no output is left behind, and a file appended to is
       left as it was";

/// A failure of one command. Displays as `<file>: <what was expected>, found <what>`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// The arguments do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// The input is not acceptable: its bytes, not the arguments or the system, are wrong.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The input file.
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
    /// The output exists and `--force` was not given.
    #[error("{}: already exists; use --force to replace it", path.display())]
    OutputExists {
        /// The output path.
        path: PathBuf,
    },
    /// An I/O error, with what was being done.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// An error of the arrfile library (it names the file).
    #[error(transparent)]
    Arrfile(#[from] arrfile_mmap::Error),
    /// A `.npy` input was refused.
    #[error("{}: {source}", path.display())]
    Npy {
        /// The input file.
        path: PathBuf,
        /// Why.
        #[source]
        source: NpyError,
    },
    /// A signal asked us to stop.
    #[error("interrupted; nothing was written to {}", path.display())]
    Interrupted {
        /// The output that was not written.
        path: PathBuf,
    },
    /// A signal stopped an append: the rows copied so far were rolled back.
    #[error("interrupted; {} is unchanged: nothing was appended", path.display())]
    AppendInterrupted {
        /// The file appended to.
        path: PathBuf,
    },
    /// An append failed, and so did rolling it back: the file keeps its interrupted append
    /// (its readers still see the committed array) until it is recovered.
    #[error(
        "{error}; rolling the append back failed too ({rollback}): run `arrfile recover {}`",
        rollback.path().display()
    )]
    NotRolledBack {
        /// Why the append failed.
        error: Box<CliError>,
        /// Why the rollback failed.
        rollback: arrfile_mmap::Error,
    },
}

impl CliError {
    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> CliError {
        CliError::Io { path: path.to_owned(), action, source }
    }

    pub(crate) fn invalid(path: &Path, message: impl Into<String>) -> CliError {
        CliError::Invalid { path: path.to_owned(), message: message.into() }
    }

    /// The exit code for this error (see [`EXIT_CODES_HELP`]).
    pub(crate) fn exit_code(&self) -> u8 {
        use arrfile_mmap::ErrorKind as K;
        match self {
            CliError::Invalid { .. } | CliError::Npy { .. } => EXIT_INVALID,
            CliError::Arrfile(e) => match e.kind() {
                K::Parse(_) | K::View(_) | K::WrongPayloadLength { .. } => EXIT_INVALID,
                _ => EXIT_USAGE_OR_IO,
            },
            CliError::Interrupted { .. } | CliError::AppendInterrupted { .. } => EXIT_INTERRUPTED,
            CliError::NotRolledBack { error, .. } => error.exit_code(),
            CliError::Usage(_) | CliError::OutputExists { .. } | CliError::Io { .. } => {
                EXIT_USAGE_OR_IO
            }
        }
    }

    /// True when the error is writing to a closed pipe, which is not an error for a command
    /// whose reader went away (`arrfile info x.arr | head -1`).
    pub(crate) fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl From<arrfile_npy::FileError> for CliError {
    fn from(e: arrfile_npy::FileError) -> CliError {
        use arrfile_npy::FileError as F;
        match e {
            F::Npy { path, source } => CliError::Npy { path, source },
            F::Io { path, action, source } => CliError::Io { path, action, source },
            F::Arrfile(e) => CliError::Arrfile(e),
            F::Corrupt { path, expected, found } => CliError::Invalid {
                path,
                message: format!(
                    "payload checksum mismatch: expected CRC-32 {expected:#010x}, found {found:#010x}; not exported"
                ),
            },
            F::Stopped { path } => CliError::Interrupted { path },
            other => CliError::Usage(other.to_string()),
        }
    }
}

/// Errors writing to standard output.
pub(crate) fn stdout_error(source: io::Error) -> CliError {
    CliError::Io { path: PathBuf::from("<stdout>"), action: "writing", source }
}
