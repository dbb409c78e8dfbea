//! Reading a file's header and attributes without locking or mapping it.

use std::fs::File;
use std::path::Path;

use arrfile_format::{Attributes, Header};

use crate::error::Error;
use crate::fileio::{Others, read_validated};

/// Applies every reader check (R1–R25) to a file and returns its header and attributes,
/// without locking or mapping it: reads at most the bytes before the payload, so it is O(1)
/// in the file's size, and works while a writer holds the file.
///
/// A file mid-append (format 1.1) is described as its last committed array, with
/// [`Header::append_in_progress`] set; [`crate::append_lock_held`] tells whether the append
/// is running or was interrupted (then [`crate::recover`] rolls it back).
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("z.arr");
/// use arrfile_format::{Description, Dtype};
/// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::F64, vec![1 << 20])?, None)?;
/// let (header, attributes) = arrfile_mmap::inspect(&path)?;
/// assert_eq!(header.data_len(), 8 << 20);
/// assert!(attributes.is_none());
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`crate::open`], except that no lock is taken.
pub fn inspect(path: impl AsRef<Path>) -> Result<(Header, Option<Attributes>), Error> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(path, "opening", e))?;
    // Without a lock, any writer may be committing: a header caught half written, or one
    // that disagrees with the length, is read again while a writer is at work.
    read_validated(&file, path, Others::Anyone)
}
