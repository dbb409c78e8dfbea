//! How to open or create: lock waiting, payload alignment, overwriting.

use std::path::Path;

use arrfile_format::{Alignment, Attributes, Description};

use crate::{ArrayFile, ArrayFileCow, ArrayFileMut, Error, LockWait, NewArrayFile, StreamWriter};

/// Options for every mode. The free functions [`crate::open`], [`crate::create`], ... use
/// the defaults: fail at once on a lock conflict, 4096-byte alignment, overwrite on create.
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
    pub(crate) lock_wait: LockWait,
    pub(crate) alignment: Alignment,
    pub(crate) overwrite: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { lock_wait: LockWait::NoWait, alignment: Alignment::PAGE, overwrite: true }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Options {
        Options::default()
    }

    /// Whether to wait for a conflicting lock or fail at once.
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
        ArrayFile::open(path.as_ref(), self)
    }

    /// Mode `r+`. See [`crate::open_mut`].
    ///
    /// # Errors
    /// As [`crate::open`].
    pub fn open_mut(&self, path: impl AsRef<Path>) -> Result<ArrayFileMut, Error> {
        ArrayFileMut::open(path.as_ref(), self)
    }

    /// Mode `c`. See [`crate::open_copy`].
    ///
    /// # Errors
    /// As [`crate::open`].
    pub fn open_copy(&self, path: impl AsRef<Path>) -> Result<ArrayFileCow, Error> {
        ArrayFileCow::open(path.as_ref(), self)
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
        NewArrayFile::create(path.as_ref(), description, attributes, self)
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
    ) -> Result<arrfile_format::Header, Error> {
        crate::zeroed::create_zeroed_with(path.as_ref(), description, attributes, self)
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
        StreamWriter::with_options(path.as_ref(), description, attributes, self)
    }
}
