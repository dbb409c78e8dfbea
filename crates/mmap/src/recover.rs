//! Rolling back an interrupted append (format 1.1, spec §11): cut the uncommitted rows, then
//! clear `APPEND_IN_PROGRESS`. Used by [`recover`], by `r+` on open, by an appender that
//! finds a dead appender's file, and by an appender dropped without a commit.

use std::fs::File;
use std::path::Path;

use arrfile_format::Header;

use crate::error::Error;
use crate::fileio::{Others, open_locked, read_validated, write_header};
use crate::lock::{LockKind, LockWait, RecordLock, lock, lock_record};

/// What [`recover`] found and did.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("a.arr");
/// # arrfile_mmap::create_zeroed(&path, arrfile_format::Description::c_order(arrfile_format::Dtype::U8, vec![1])?, None)?;
/// match arrfile_mmap::recover(&path)? {
///     arrfile_mmap::Recovery::NothingToDo => println!("no interrupted append"),
///     arrfile_mmap::Recovery::RolledBack { bytes_cut } => println!("rolled back, {bytes_cut} bytes cut"),
///     _ => {}
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recovery {
    /// No append was in progress: the file was not changed.
    NothingToDo,
    /// An interrupted append was rolled back: its uncommitted rows were cut and the header
    /// cleared. The file is byte for byte what it was before that append began.
    RolledBack {
        /// Bytes of uncommitted rows cut from the end of the file (0 when the append was
        /// interrupted before its first row, or after its rows were already cut).
        bytes_cut: u64,
    },
}

impl Recovery {
    /// Whether the file was changed.
    ///
    /// ```
    /// assert!(!arrfile_mmap::Recovery::NothingToDo.changed_the_file());
    /// ```
    pub fn changed_the_file(&self) -> bool {
        matches!(self, Recovery::RolledBack { .. })
    }
}

/// Rolls back an interrupted append (format 1.1): when the header of the file at `path` says
/// an append is in progress and no appender holds the file, cuts the uncommitted rows and
/// clears the flag, making the file byte-identical to what it was before the append began.
/// Does nothing to a file without an interrupted append. Idempotent, and safe to kill at any
/// point: run it again.
///
/// Recovery never rolls forward: rows that were not committed were never promised to
/// anyone. Readers are not disturbed (they never map past the committed end). It waits for,
/// or is refused by (see [`crate::Options::recover`]), a running appender or recovery, and
/// an `r+` writer.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// use arrfile_mmap::{ReadArray, Recovery};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("log.arr");
/// let header = arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U8, vec![2, 3])?, None)?;
/// let before = std::fs::read(&path)?;
/// // What an appender killed before its commit leaves: the flag set, rows after the end.
/// let mut killed = before.clone();
/// killed[..640].copy_from_slice(&header.begin_append().to_bytes());
/// killed.extend_from_slice(&[1, 2, 3, 4]);
/// std::fs::write(&path, killed)?;
/// assert_eq!(arrfile_mmap::open(&path)?.shape(), &[2, 3]); // readers see the committed array
///
/// assert_eq!(arrfile_mmap::recover(&path)?, Recovery::RolledBack { bytes_cut: 4 });
/// assert_eq!(std::fs::read(&path)?, before);
/// assert_eq!(arrfile_mmap::recover(&path)?, Recovery::NothingToDo);
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`crate::open_mut`]: the file cannot be opened for writing, is locked
/// ([`crate::ErrorKind::Locked`]), fails a reader check, or an I/O error.
pub fn recover(path: impl AsRef<Path>) -> Result<Recovery, Error> {
    recover_with(path.as_ref(), LockWait::NoWait)
}

pub(crate) fn recover_with(path: &Path, wait: LockWait) -> Result<Recovery, Error> {
    let file = open_for_append(path, wait)?;
    let (header, _) = read_validated(&file, path, Others::Nobody)?;
    if !header.append_in_progress() {
        return Ok(Recovery::NothingToDo);
    }
    roll_back(&file, path, &header)
}

/// Opens `path` read-write under the locks of an appender or a recovery: a shared `flock`
/// (which excludes `r+` writers, and lets readers be) and the exclusive append lock (which
/// excludes other appenders, recoveries and replacing writers); then checks that the path
/// still names the file, as `r+` does.
pub(crate) fn open_for_append(path: &Path, wait: LockWait) -> Result<File, Error> {
    open_locked(path, true, |file| {
        lock(file, path, LockKind::Shared, wait)?;
        lock_record(file, path, RecordLock::Append, wait)
    })
}

/// Rolls back the append that `header` (with `APPEND_IN_PROGRESS` set, describing the
/// committed array) says is in progress; the caller holds the append lock or an exclusive
/// `flock`. The order matters: clearing the flag before cutting the rows would leave a file
/// with trailing bytes (R20); cut first, a kill between the steps leaves the flag set over
/// no rows, and recovery runs again.
pub(crate) fn roll_back(file: &File, path: &Path, header: &Header) -> Result<Recovery, Error> {
    let len = file.metadata().map_err(|e| Error::io(path, "reading the file's metadata", e))?.len();
    let committed_end = header.file_len();
    // 1. Cut the uncommitted rows (R19 guarantees the file is at least this long).
    file.set_len(committed_end).map_err(|e| Error::io(path, "cutting the uncommitted rows", e))?;
    file.sync_all().map_err(|e| Error::io(path, "syncing the cut file", e))?;
    // 2. Clear the flag: the header becomes the committed array's again, byte for byte.
    write_header(file, path, &header.end_append())?;
    file.sync_all().map_err(|e| Error::io(path, "syncing the header", e))?;
    Ok(Recovery::RolledBack { bytes_cut: len.saturating_sub(committed_end) })
}
