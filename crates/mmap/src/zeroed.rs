//! Zero-filled files made without writing their payload: sparse, with the CRC of zeros
//! computed arithmetically.

use std::path::Path;

use arrfile_format::{Attributes, Description, Header, PayloadChecksum, crc32_of_zeros};

use crate::create::NewFile;
use crate::error::Error;

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
    create_zeroed_with(path.as_ref(), description, attributes, NewFile::default())
}

pub(crate) fn create_zeroed_with(
    path: &Path,
    description: Description,
    attributes: Option<&Attributes>,
    new_file: NewFile,
) -> Result<Header, Error> {
    let crc = crc32_of_zeros(description.data_len());
    let (pending, header) =
        new_file.begin(path, description, attributes, PayloadChecksum::Valid(crc))?;
    // Sized without writing: the payload is a hole that reads as the zeros the CRC is of.
    pending
        .file()
        .set_len(header.file_len())
        .map_err(|e| Error::io(path, "sizing the new file", e))?;
    pending.commit()?;
    Ok(header)
}
