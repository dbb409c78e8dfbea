//! How to open or create: lock waiting, payload alignment, overwriting.

use std::path::Path;

use arrfile_format::{Alignment, Attributes, Description, Header};

use crate::create::NewFile;
use crate::error::Error;
use crate::lock::LockWait;
use crate::modes::{ArrayFile, ArrayFileCow, ArrayFileMut, NewArrayFile};
use crate::reader::ArrayReader;
use crate::stream::StreamWriter;
use crate::zeroed::create_zeroed_with;

/// Options for every mode, and the one way in: the free functions [`crate::open`],
/// [`crate::create`], ... use the defaults: fail at once on a lock conflict, 4096-byte
/// alignment, overwrite on create.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Alignment, Description, Dtype};
/// use arrfile_mmap::{LockWait, Options};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("a.arr");
/// let options = Options::new().alignment(Alignment::LARGE_PAGE).lock_wait(LockWait::Wait);
/// let header = options.create(&path, Description::c_order(Dtype::U8, vec![10])?, None)?.finish()?;
/// assert_eq!(header.data_offset(), 65536);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    lock_wait: LockWait,
    alignment: Alignment,
    overwrite: bool,
}

impl Default for Options {
    fn default() -> Self {
        let NewFile { alignment, overwrite, wait } = NewFile::default();
        Options { lock_wait: wait, alignment, overwrite }
    }
}

impl Options {
    /// What new files get: the plain parameters the writers' constructors take.
    fn new_file(&self) -> NewFile {
        NewFile { alignment: self.alignment, overwrite: self.overwrite, wait: self.lock_wait }
    }

    /// The defaults.
    pub fn new() -> Options {
        Options::default()
    }

    /// Whether to wait for a conflicting lock or fail at once: when opening, and when a new
    /// file replaces one that a writer holds.
    pub fn lock_wait(mut self, wait: LockWait) -> Options {
        self.lock_wait = wait;
        self
    }

    /// The payload alignment of new files.
    pub fn alignment(mut self, alignment: Alignment) -> Options {
        self.alignment = alignment;
        self
    }

    /// Whether a new file may replace an existing one (default: yes, as `np.memmap` `w+`).
    pub fn overwrite(mut self, overwrite: bool) -> Options {
        self.overwrite = overwrite;
        self
    }

    /// Mode `r`. See [`crate::open`].
    ///
    /// # Errors
    /// As [`crate::open`].
    pub fn open(&self, path: impl AsRef<Path>) -> Result<ArrayFile, Error> {
        ArrayFile::open(path.as_ref(), self.lock_wait)
    }

    /// Mode `r+`. See [`crate::open_mut`].
    ///
    /// # Errors
    /// As [`crate::open`].
    pub fn open_mut(&self, path: impl AsRef<Path>) -> Result<ArrayFileMut, Error> {
        ArrayFileMut::open(path.as_ref(), self.lock_wait)
    }

    /// Mode `c`. See [`crate::open_copy`].
    ///
    /// # Errors
    /// As [`crate::open`].
    pub fn open_copy(&self, path: impl AsRef<Path>) -> Result<ArrayFileCow, Error> {
        ArrayFileCow::open(path.as_ref(), self.lock_wait)
    }

    /// Mode `w+`. See [`crate::create`].
    ///
    /// # Errors
    /// As [`crate::create`].
    pub fn create(
        &self,
        path: impl AsRef<Path>,
        description: Description,
        attributes: Option<&Attributes>,
    ) -> Result<NewArrayFile, Error> {
        NewArrayFile::create(path.as_ref(), description, attributes, self.new_file())
    }

    /// Mode `r` by reading instead of mapping. See [`ArrayReader`].
    ///
    /// # Errors
    /// As [`crate::open`].
    pub fn open_reader(&self, path: impl AsRef<Path>) -> Result<ArrayReader, Error> {
        ArrayReader::open(path.as_ref(), self.lock_wait)
    }

    /// A zero-filled, sparse, complete file. See [`crate::create_zeroed`].
    ///
    /// # Errors
    /// As [`crate::create`].
    pub fn create_zeroed(
        &self,
        path: impl AsRef<Path>,
        description: Description,
        attributes: Option<&Attributes>,
    ) -> Result<Header, Error> {
        create_zeroed_with(path.as_ref(), description, attributes, self.new_file())
    }

    /// A streaming writer. See [`StreamWriter`].
    ///
    /// # Errors
    /// As [`crate::create`].
    pub fn stream(
        &self,
        path: impl AsRef<Path>,
        description: Description,
        attributes: Option<&Attributes>,
    ) -> Result<StreamWriter, Error> {
        StreamWriter::new(path.as_ref(), description, attributes, self.new_file())
    }
}
