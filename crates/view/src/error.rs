//! Errors: what went wrong ([`ErrorKind`]) and with which file ([`Error`]).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use arrfile_format::Dtype;

use crate::slice::SliceError;

/// An error with the file it concerns. Displays on one line as `<path>: <what went wrong>`.
#[derive(Debug)]
pub struct Error {
    path: PathBuf,
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(path: &Path, kind: ErrorKind) -> Error {
        Error { path: path.to_owned(), kind }
    }

    /// The file the error concerns.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// What went wrong, by value (to take an I/O or mmap error out of it).
    pub fn into_kind(self) -> ErrorKind {
        self.kind
    }

    /// Whether the arguments (a slice, an axis, a range), not the file, are wrong.
    pub fn is_usage(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Slice(_)
                | ErrorKind::AxisOutOfRange { .. }
                | ErrorKind::UnsupportedDtype { .. }
                | ErrorKind::WrongDimensions { .. }
                | ErrorKind::TooManyElements { .. }
                | ErrorKind::BadRange { .. }
                | ErrorKind::BadSize { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // The mmap error names the file itself.
            ErrorKind::Open(e) => write!(f, "{e}"),
            kind => write!(f, "{}: {kind}", self.path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Open(e) => Some(e),
            ErrorKind::Io { source, .. } => Some(source),
            ErrorKind::Slice(e) => Some(e),
            _ => None,
        }
    }
}

/// What went wrong, without the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An error of arrfile-mmap: opening an arrfile (a reader check failed, say), or writing
    /// the output through its pending file. The error names the file.
    #[error(transparent)]
    Open(arrfile_mmap::Error),
    /// An I/O error, with what was being done.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A raw or `.npy` file holds fewer bytes than its description needs.
    #[error("expected at least {expected} bytes (data at offset {offset}), found {found}")]
    TooShort {
        /// Offset plus data length.
        expected: u64,
        /// Where the data starts.
        offset: u64,
        /// The file's length.
        found: u64,
    },
    /// The `--slice` expression is malformed or out of range.
    #[error("--slice: {0}")]
    Slice(#[from] SliceError),
    /// `--axis` names no axis of the array.
    #[error("--axis {axis}: expected an axis from {} to {}, found an array of {ndim} dimensions", -(*ndim as i64), *ndim as i64 - 1)]
    AxisOutOfRange {
        /// The axis given.
        axis: i64,
        /// The array's number of dimensions.
        ndim: usize,
    },
    /// The command does not apply to this dtype.
    #[error("{command}: expected a {expected} dtype, found {dtype}")]
    UnsupportedDtype {
        /// The command.
        command: &'static str,
        /// What it needs.
        expected: &'static str,
        /// The array's dtype.
        dtype: Dtype,
    },
    /// The (sliced) array has a number of dimensions the command cannot use.
    #[error(
        "{command}: expected {expected}, found {ndim} dimensions {shape:?}; choose with --slice"
    )]
    WrongDimensions {
        /// The command.
        command: &'static str,
        /// What it needs.
        expected: &'static str,
        /// Dimensions found.
        ndim: usize,
        /// The shape found.
        shape: Vec<u64>,
    },
    /// More elements to print than a terminal can take, even summarised.
    #[error(
        "expected at most {limit} elements to print, found {count} even summarised; choose fewer with --slice"
    )]
    TooManyElements {
        /// Elements that would be printed.
        count: u64,
        /// The limit.
        limit: u64,
    },
    /// `--vmin` is not below `--vmax`, or one is not finite.
    #[error("expected finite --vmin < --vmax, found {vmin} and {vmax}")]
    BadRange {
        /// The low end.
        vmin: f64,
        /// The high end.
        vmax: f64,
    },
    /// The image size asked for is unusable.
    #[error("--size: expected 2 to 16384 pixels, found {size}")]
    BadSize {
        /// The size given.
        size: u32,
    },
    /// Encoding the PNG failed.
    #[error("encoding the PNG: {0}")]
    Png(String),
    /// A stop was asked for (Ctrl-C); nothing was written.
    #[error("interrupted")]
    Interrupted,
}
