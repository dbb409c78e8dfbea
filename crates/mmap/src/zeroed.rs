//! Files made without touching their payload: header inspection, and zero-filled creation.

use std::fs::File;
use std::path::Path;

use arrfile_format::{Attributes, Description, Header, PayloadChecksum};

use crate::fileio::read_validated;
use crate::temp::begin_arrfile;
use crate::{Error, Options, crc32_of_zeros};

/// Applies every reader check (R1–R24) to a file and returns its header and attributes,
/// without locking or mapping it: reads at most the bytes before the payload, so it is O(1)
/// in the file's size, and works while a writer holds the file.
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
    read_validated(&file, path)
}

/// Creates a complete, valid file whose payload is all zeros, without writing the payload:
/// the file is sparse and its CRC is computed arithmetically. Fill it later in place (mode
/// `r+`, or `np.memmap` through the Python package's `r+`). Returns the header.
///
/// Filling it in place takes the disk space it did not take at creation; on a full disk the
/// writing process gets `SIGBUS` (see [`crate::NewArrayFile`]).
///
/// # Errors
/// As [`crate::create`].
pub fn create_zeroed(
    path: impl AsRef<Path>,
    description: Description,
    attributes: Option<&Attributes>,
) -> Result<Header, Error> {
    create_zeroed_with(path.as_ref(), description, attributes, &Options::new())
}

pub(crate) fn create_zeroed_with(
    path: &Path,
    description: Description,
    attributes: Option<&Attributes>,
    options: &Options,
) -> Result<Header, Error> {
    let crc = crc32_of_zeros(description.data_len());
    let (pending, header) =
        begin_arrfile(path, description, attributes, options, PayloadChecksum::Valid(crc))?;
    // Sized without writing: the payload is a hole that reads as the zeros the CRC is of.
    pending
        .file()
        .set_len(header.file_len())
        .map_err(|e| Error::io(path, "sizing the new file", e))?;
    pending.commit()?;
    Ok(header)
}
