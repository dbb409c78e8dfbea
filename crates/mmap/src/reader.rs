//! Mode `r` by reading instead of mapping: for whole-payload passes (verify, export) where a
//! file cut short under the reader must be an error, not `SIGBUS`.

use std::fs::File;
use std::io;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use arrfile_format::{Attributes, ChecksumState, Header, Verification};

use crate::error::Error;
use crate::fileio::{Others, read_validated};
use crate::lock::{LockKind, LockWait, lock};
use crate::verify::{cores, crc32_of_file};

/// A validated arrfile open for reading with `pread`, under a shared lock; nothing is mapped.
///
/// Where [`crate::ArrayFile`] hands out the payload as memory (and a file truncated by a
/// program that ignores locks, or lost on a network filesystem, kills the process with
/// `SIGBUS` when that memory is touched), this reads it into the caller's buffers, so the
/// same event is an [`Error`] naming the file. It suits passes over the whole payload:
/// verifying, exporting, copying.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("r.arr");
/// let mut writer = arrfile_mmap::StreamWriter::create(&path, Description::c_order(Dtype::U8, vec![4])?, None)?;
/// writer.write_bytes(&[1, 2, 3, 4])?;
/// writer.finish()?;
/// let reader = arrfile_mmap::Options::new().open_reader(&path)?;
/// let mut two = [0; 2];
/// reader.read_payload_at(2, &mut two)?;
/// assert_eq!(two, [3, 4]);
/// let verdict = reader.verify_with(|_| std::ops::ControlFlow::Continue(()))?;
/// assert!(verdict.is_some_and(|v| v.is_valid()));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ArrayReader {
    path: PathBuf,
    file: File,
    header: Header,
    attributes: Option<Attributes>,
}

impl ArrayReader {
    pub(crate) fn open(path: &Path, wait: LockWait) -> Result<ArrayReader, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, "opening", e))?;
        lock(&file, path, LockKind::Shared, wait)?;
        // A shared lock excludes r+ writers, not appenders (whose rows are not read).
        let (header, attributes) = read_validated(&file, path, Others::Appenders)?;
        Ok(ArrayReader { path: path.to_owned(), file, header, attributes })
    }

    /// The path it was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The validated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The metadata attributes, if the file has any.
    pub fn attributes(&self) -> Option<&Attributes> {
        self.attributes.as_ref()
    }

    /// Fills `buf` with payload bytes from `offset` (counted from the start of the payload).
    ///
    /// # Errors
    /// The range is not inside the payload, or reading failed: an I/O error naming the file
    /// (the file became shorter than its header says, for one).
    pub fn read_payload_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.header.data_len()) {
            let e = io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "expected a range inside the {}-byte payload, found {} bytes at {offset}",
                    self.header.data_len(),
                    buf.len()
                ),
            );
            return Err(Error::io(&self.path, "reading the payload", e));
        }
        self.file
            .read_exact_at(buf, self.header.data_offset() + offset)
            .map_err(|e| payload_read_error(&self.path, e))
    }

    /// Verifies the payload checksum by reading it with `pread` on every core; `progress` is
    /// called on this thread with the bytes read so far, and [`ControlFlow::Break`] stops
    /// every thread (the result is then `Ok(None)`). An unverifiable file (checksum *absent*
    /// or *being modified*) is not read.
    ///
    /// # Errors
    /// Reading failed: an I/O error naming the file.
    pub fn verify_with(
        &self,
        mut progress: impl FnMut(u64) -> ControlFlow<()>,
    ) -> Result<Option<Verification>, Error> {
        let checksum = self.header.checksum();
        if checksum.state() != ChecksumState::Valid {
            return Ok(Some(checksum.verify_against(0)));
        }
        let (offset, len) = (self.header.data_offset(), self.header.data_len());
        let crc = crc32_of_file(&self.file, offset, len, cores(), &mut progress)
            .map_err(|e| payload_read_error(&self.path, e))?;
        Ok(crc.map(|crc| checksum.verify_against(crc)))
    }
}

fn payload_read_error(path: &Path, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => Error::io(
            path,
            "reading the payload (the file became shorter than its header says while it was read)",
            e,
        ),
        _ => Error::io(path, "reading the payload", e),
    }
}
