//! Errors: what went wrong ([`ErrorKind`]) and with which file ([`Error`]).

use std::io;
use std::path::{Path, PathBuf};

use arrfile_format::{ByteOrder, DescriptionError, Dtype, EncodeError, ParseError};

/// An error with the file it concerns. Displays as `<path>: <what went wrong>`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct Error {
    path: PathBuf,
    #[source]
    kind: ErrorKind,
}

impl Error {
    pub(crate) fn new(path: &Path, kind: impl Into<ErrorKind>) -> Error {
        Error { path: path.to_owned(), kind: kind.into() }
    }

    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> Error {
        let kind = match source.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::IsADirectory => ErrorKind::IsADirectory,
            _ => ErrorKind::Io { action, source },
        };
        Error::new(path, kind)
    }

    /// The file the error concerns.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The reader check that failed, if this is a format error.
    pub fn parse_error(&self) -> Option<&ParseError> {
        match &self.kind {
            ErrorKind::Parse(e) => Some(e),
            _ => None,
        }
    }
}

/// What went wrong, without the path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file does not exist.
    #[error("no such file")]
    NotFound,
    /// The path names a directory.
    #[error("is a directory, expected an arrfile")]
    IsADirectory,
    /// The path names something other than a regular file.
    #[error("is not a regular file, expected an arrfile")]
    NotAFile,
    /// The operating system refused access.
    #[error("permission denied")]
    PermissionDenied,
    /// Another process holds a conflicting lock.
    #[error("locked by another process: it holds {held}, this open needs {wanted}")]
    Locked {
        /// What this open asked for: `a shared lock` or `an exclusive lock`.
        wanted: &'static str,
        /// What the other process must hold.
        held: &'static str,
    },
    /// The file this writer opened is no longer the one at its path: a program that ignores
    /// locks replaced it, and what this writer changed is in the old file only.
    #[error(
        "was replaced at its path while this writer had it open (by a program that ignores locks); expected the committed changes to be at the path, found them only in the replaced file"
    )]
    Replaced,
    /// The output exists and overwriting was not asked for.
    #[error("already exists; refusing to overwrite it")]
    AlreadyExists,
    /// A reader check of the spec failed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The header for a new file could not be built.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The description is outside the spec's bounds.
    #[error(transparent)]
    Description(#[from] DescriptionError),
    /// A typed view was asked for that the payload cannot give.
    #[error(transparent)]
    View(#[from] ViewError),
    /// A streaming writer received more or fewer bytes than the description needs.
    #[error("expected exactly {expected} payload bytes, {written} were written")]
    WrongPayloadLength {
        /// `data_len`.
        expected: u64,
        /// Bytes received (or offered, when too many).
        written: u64,
    },
    /// Appended rows (format 1.1) ended inside a row: a commit or a growing writer's finish
    /// needs whole rows; or bytes were given for rows of 0 bytes.
    #[error("{}", partial_row(*row_len, *written))]
    PartialRow {
        /// Bytes per row (index of the outer axis): itemsize × the trailing dimensions.
        row_len: u64,
        /// Bytes written.
        written: u64,
    },
    /// Appending would grow the outer axis past the spec's size bound (2^62 bytes); nothing
    /// past the committed end was written for the refused rows.
    #[error(
        "expected at most {max} rows on the outer axis (the size bound of 2^62 bytes for this dtype and trailing shape), found {found}"
    )]
    TooManyRows {
        /// The most rows the array may have.
        max: u64,
        /// The rows it would have.
        found: u64,
    },
    /// Rows without bytes were counted for an array whose rows have bytes: write their bytes.
    #[error(
        "expected rows of 0 bytes (a trailing dimension of 0) to count rows without bytes, found rows of {row_len} bytes: write their bytes instead"
    )]
    RowsNotEmpty {
        /// Bytes per row.
        row_len: u64,
    },
    /// Rows were counted on a writer whose shape is fixed: only appenders and writers made
    /// by [`crate::StreamWriter::create_growing`] take rows.
    #[error("expected a writer whose outer axis grows, found one of fixed shape {shape:?}")]
    NotGrowing {
        /// The writer's shape.
        shape: Vec<u64>,
    },
    /// An earlier write of this appender or growing writer failed: what it hashed may not
    /// all be in the file, so it writes and commits nothing more (drop it: the append is
    /// rolled back, the new file removed).
    #[error(
        "an earlier write failed: expected the {given} bytes given to be in the file, found {on_disk}; nothing more is written or committed"
    )]
    EarlierWriteFailed {
        /// Bytes given to the writer.
        given: u64,
        /// Bytes that reached the file.
        on_disk: u64,
    },
    /// The payload is larger than this machine's address space.
    #[error("the payload of {len} bytes does not fit in this machine's address space")]
    TooLarge {
        /// `data_len`.
        len: u64,
    },
    /// Any other I/O error, with what was being done.
    #[error("{action}: {source}")]
    Io {
        /// What was being done: `reading the header`, `mapping the payload`, ...
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// The message of [`ErrorKind::PartialRow`].
fn partial_row(row_len: u64, written: u64) -> String {
    match row_len {
        0 => format!(
            "expected rows of 0 bytes (a trailing dimension is 0), found {written} bytes: count such rows with write_empty_rows"
        ),
        _ => format!(
            "expected whole rows of {row_len} bytes, found {written} bytes: {} whole rows and {} bytes of the next",
            written / row_len,
            written % row_len
        ),
    }
}

/// Why a typed view of the payload cannot be given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// The element type asked for is not the file's dtype.
    #[error("the file holds {file}, a view of {requested} was asked for")]
    DtypeMismatch {
        /// The type asked for.
        requested: Dtype,
        /// The file's dtype.
        file: Dtype,
    },
    /// Typed zero-copy views need the host's byte order (spec §5).
    #[error("the payload is {} endian and this host is {}: typed views and writes need the host's byte order (to_vec and copy_from convert)", file.name(), ByteOrder::NATIVE.name())]
    ByteOrderMismatch {
        /// The payload's byte order.
        file: ByteOrder,
    },
    /// The payload's address does not suit the element type.
    #[error("the payload is not aligned for {dtype}")]
    Misaligned {
        /// The type asked for.
        dtype: Dtype,
    },
    /// A `bool` payload holds a byte other than 0 and 1.
    #[error("invalid bool byte {value:#04x} at element {index}: expected 0x00 or 0x01")]
    InvalidBool {
        /// Element index in storage order.
        index: u64,
        /// The byte found.
        value: u8,
    },
    /// ndarray refused the shape.
    #[error("the shape cannot be viewed: {reason}")]
    Layout {
        /// ndarray's reason.
        reason: String,
    },
    /// A dimension does not fit in `usize` on this machine.
    #[error("a dimension of {dim} does not fit this machine's usize")]
    DimensionTooLarge {
        /// The dimension.
        dim: u64,
    },
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
