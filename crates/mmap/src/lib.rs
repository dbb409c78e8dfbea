//! Open arrfiles without re-typing anything: the header gives dtype, shape and order, every
//! reader check of the spec is applied against the real file, and the payload is mapped.
//!
//! The four modes of `np.memmap` and `np.load(mmap_mode=…)`:
//!
//! | mode | function | type | writes |
//! |---|---|---|---|
//! | `r` | [`open`] | [`ArrayFile`] | impossible: no mutable access exists |
//! | `r+` | [`open_mut`] | [`ArrayFileMut`] | reach the file; *being modified* until [`ArrayFileMut::commit`] |
//! | `w+` | [`create`] | [`NewArrayFile`] | fill a new file; it appears at [`NewArrayFile::finish`] |
//! | `c` | [`open_copy`] | [`ArrayFileCow`] | stay in this process |
//!
//! and [`StreamWriter`] for creating arrays larger than memory chunk by chunk (also when the
//! number of rows is unknown: [`StreamWriter::create_growing`]), [`Appender`] for growing an
//! existing array in place (format 1.1) and [`recover`] for rolling back an interrupted
//! append, and
//! [`ArrayReader`] for reading (not mapping) a whole payload, where a file cut short under the
//! reader must be an error rather than `SIGBUS`: [`verify_file`] and the `.npy` export use it.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use arrfile_format::{Description, Dtype};
//! use arrfile_mmap::{ReadArray, WriteArray};
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("data.arr");
//!
//! // w+: create, fill, finish (the file appears complete, with its checksum).
//! let mut new = arrfile_mmap::create(&path, Description::c_order(Dtype::F32, vec![1000, 100])?, None)?;
//! new.view_mut::<f32>()?.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32);
//! new.finish()?;
//!
//! // r: nothing to re-type.
//! let array = arrfile_mmap::open(&path)?;
//! assert_eq!((array.dtype(), array.shape()), (Dtype::F32, &[1000, 100][..]));
//! assert_eq!(array.view::<f32>()?[99_999], 99_999.0);
//!
//! // r+: change in place, then commit a fresh checksum.
//! drop(array);
//! let mut edit = arrfile_mmap::open_mut(&path)?;
//! edit.view_mut::<f32>()?[0] = -1.0;
//! edit.commit()?;
//! assert!(edit.verify().is_valid());
//! # Ok(()) }
//! ```
//!
//! # Mapped files
//!
//! A mapping shows a file's bytes as they are now: a mapped file that another process
//! truncates raises `SIGBUS`, and one that another process writes changes under its readers.
//! This crate contains the hazard with advisory locks (shared for `r` and `c`, exclusive for
//! `r+` and `w+`), by never truncating or rewriting in place a file that may be mapped (new
//! content goes through a temporary file and a rename), and by mapping only the validated
//! payload range. Safe mutable views (`&mut [u8]`, `&mut [T]`) exist only where the locks
//! really exclude every other writer: `r+` under the exclusive lock of the file, `w+` under the
//! exclusive lock of a temporary file whose path this crate hands to nobody, `c` over private
//! pages. Programs that ignore advisory locks can still break a mapping; see the `payload`
//! module, the one place that maps.
#![deny(missing_docs)]
// Sizes come from untrusted headers: a silent truncation would be a bug.
#![warn(clippy::cast_possible_truncation)]
#![deny(unsafe_code)]

mod append;
mod array;
mod create;
mod element;
mod error;
mod fileio;
mod inner;
mod inspect;
mod lock;
mod modes;
#[cfg(feature = "ndarray")]
mod nd;
mod options;
#[allow(unsafe_code)]
mod payload;
mod reader;
mod recover;
mod stream;
mod temp;
mod verify;
mod zeroed;

use std::path::Path;

pub use append::Appender;
pub use array::{ReadArray, WriteArray};
pub use element::Element;
pub use error::{Error, ErrorKind, Result, ViewError};
pub use inspect::inspect;
pub use lock::{LockWait, append_lock_held};
pub use modes::{ArrayFile, ArrayFileCow, ArrayFileMut, NewArrayFile};
pub use options::Options;
pub use payload::{exit_on_mapping_fault, set_mapping_fault_message};
pub use reader::ArrayReader;
pub use recover::{Recovery, recover};
pub use stream::{CopyError, StreamWriter};
#[doc(hidden)]
pub use temp::PendingFile;
pub use temp::remove_stale_temp_files;
#[doc(hidden)]
pub use verify::crc32_with_threads;
pub use zeroed::create_zeroed;

pub use arrfile_format::{self as format, Attributes, Description, Dtype, Verification};

/// Mode `r`: opens, locks (shared), validates (R1–R25) and maps a file read-only.
///
/// A file mid-append (format 1.1) opens as its last committed array: only that is mapped,
/// and the map stays valid when the append commits (the file only grows; this handle keeps
/// its shape).
///
/// # Errors
/// [`ErrorKind::NotFound`], [`ErrorKind::IsADirectory`], [`ErrorKind::PermissionDenied`],
/// [`ErrorKind::Locked`], [`ErrorKind::Parse`] for a failed reader check, or an I/O error;
/// each names the path.
pub fn open(path: impl AsRef<Path>) -> Result<ArrayFile> {
    Options::new().open(path)
}

/// Mode `r+`: opens, locks (exclusive), validates and maps a file for in-place writing.
///
/// A file that an appender left mid-append when it died (format 1.1) is rolled back first,
/// as [`recover`] does: no appender can be alive while this lock is held.
///
/// # Errors
/// As [`open`].
pub fn open_mut(path: impl AsRef<Path>) -> Result<ArrayFileMut> {
    Options::new().open_mut(path)
}

/// Mode `c`: opens, locks (shared), validates and maps a file copy-on-write.
///
/// # Errors
/// As [`open`].
pub fn open_copy(path: impl AsRef<Path>) -> Result<ArrayFileCow> {
    Options::new().open_copy(path)
}

/// Mode `w+`: a new, sparse, zero-filled file to fill through [`WriteArray`]; it appears at
/// `path` when [`NewArrayFile::finish`] succeeds.
///
/// # Errors
/// [`ErrorKind::Encode`] for attributes the spec refuses, or an I/O error.
pub fn create(
    path: impl AsRef<Path>,
    description: Description,
    attributes: Option<&Attributes>,
) -> Result<NewArrayFile> {
    Options::new().create(path, description, attributes)
}

/// Appending (format 1.1): opens an existing file to grow its outer axis (the first in C
/// order, the last in F order) by rows written with the returned [`Appender`], committed at
/// once by [`Appender::commit`]. Fails at once if another appender, a recovery or an `r+`
/// writer holds the file (see [`Options::append`] to wait). A file left mid-append by a
/// process that died is rolled back first.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// use arrfile_mmap::ReadArray;
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("steps.arr");
/// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::F64, vec![0, 2])?, None)?;
/// for step in 0..3 {
///     let mut appender = arrfile_mmap::append(&path)?;
///     appender.write(&[f64::from(step), 0.5])?;
///     appender.commit()?;
/// }
/// let array = arrfile_mmap::open(&path)?;
/// assert_eq!(array.shape(), &[3, 2]);
/// assert!(array.verify().is_valid());
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`ErrorKind::Locked`], [`ErrorKind::Description`] for a 0-d array (it has no axis to
/// grow), and as [`open_mut`].
pub fn append(path: impl AsRef<Path>) -> Result<Appender> {
    Options::new().append(path)
}

/// Opens `path` read-only (shared lock) and verifies its payload checksum, reading it on
/// every core.
///
/// # Errors
/// As [`open`]; an I/O error naming the file if it is cut short while it is read.
pub fn verify_file(path: impl AsRef<Path>) -> Result<Verification> {
    let reader = Options::new().open_reader(path)?;
    let outcome = reader.verify_with(|_| std::ops::ControlFlow::Continue(()))?;
    // Cannot be stopped: the callback never breaks.
    Ok(outcome.unwrap_or(Verification::NotVerifiable { state: reader.header().checksum_state() }))
}

/// [`verify_file`] with progress and cancellation: `progress` is called on this thread with
/// the payload bytes read so far, and [`std::ops::ControlFlow::Break`] stops every thread
/// (the result is then `Ok(None)`).
///
/// The payload is read with `pread`, not mapped: a file truncated under the reader (by a
/// program that ignores locks, or on a network filesystem) gives an error naming the file,
/// never `SIGBUS`. An unverifiable file (checksum *absent* or *being modified*) is not read.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::ops::ControlFlow;
/// use arrfile_format::{Description, Dtype};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("z.arr");
/// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U16, vec![1000])?, None)?;
/// let outcome = arrfile_mmap::verify_file_with(&path, |_| ControlFlow::Continue(()))?;
/// assert!(outcome.is_some_and(|v| v.is_valid()));
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`verify_file`].
pub fn verify_file_with(
    path: impl AsRef<Path>,
    progress: impl FnMut(u64) -> std::ops::ControlFlow<()>,
) -> Result<Option<Verification>> {
    Options::new().open_reader(path)?.verify_with(progress)
}
