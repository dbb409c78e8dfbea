//! How to open or create: lock waiting, payload alignment, overwriting.

use std::path::Path;

use arrfile_format::{Alignment, Attributes, ByteOrder, Description, Dtype, Header, Order};

use crate::append::Appender;
use crate::create::NewFile;
use crate::error::Error;
use crate::lock::LockWait;
use crate::modes::{ArrayFile, ArrayFileCow, ArrayFileMut, NewArrayFile};
use crate::reader::ArrayReader;
use crate::recover::{Recovery, recover_with};
use crate::stream::{StreamWriter, growing_description};
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

    /// Whether to wait for a conflicting lock or fail at once: when opening, when appending
    /// or recovering (another appender, a recovery, an `r+` writer), and when a new file
    /// replaces one that a writer or an appender holds.
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

    /// A streaming writer whose number of rows is fixed at its end. See
    /// [`StreamWriter::create_growing`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use arrfile_format::{ByteOrder, Dtype, Order};
    /// use arrfile_mmap::Options;
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("g.arr");
    /// let mut writer =
    ///     Options::new().stream_growing(&path, Dtype::U8, &[2], Order::F, ByteOrder::Little, None)?;
    /// writer.write_bytes(&[1, 2, 3, 4, 5, 6])?;
    /// assert_eq!(writer.finish()?.shape(), &[2, 3]); // F order: the last axis grows
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`StreamWriter::create_growing`].
    pub fn stream_growing(
        &self,
        path: impl AsRef<Path>,
        dtype: Dtype,
        trailing_shape: &[u64],
        order: Order,
        byte_order: ByteOrder,
        attributes: Option<&Attributes>,
    ) -> Result<StreamWriter, Error> {
        let path = path.as_ref();
        let description = growing_description(path, dtype, trailing_shape, order, byte_order)?;
        StreamWriter::new_growing(path, description, attributes, self.new_file())
    }

    /// Opens a file to append rows to (format 1.1). See [`crate::append`] and [`Appender`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use arrfile_format::{Description, Dtype};
    /// use arrfile_mmap::{ErrorKind, LockWait, Options};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U8, vec![0])?, None)?;
    /// let first = Options::new().append(&path)?;
    /// let second = Options::new().lock_wait(LockWait::NoWait).append(&path);
    /// assert!(matches!(second.unwrap_err().kind(), ErrorKind::Locked { .. }));
    /// drop(first);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`crate::append`].
    pub fn append(&self, path: impl AsRef<Path>) -> Result<Appender, Error> {
        Appender::open(path.as_ref(), self.lock_wait)
    }

    /// Rolls back an interrupted append. See [`crate::recover`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use arrfile_format::{Description, Dtype};
    /// use arrfile_mmap::{LockWait, Options, Recovery};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U8, vec![4])?, None)?;
    /// let recovery = Options::new().lock_wait(LockWait::Wait).recover(&path)?;
    /// assert_eq!(recovery, Recovery::NothingToDo);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`crate::recover`].
    pub fn recover(&self, path: impl AsRef<Path>) -> Result<Recovery, Error> {
        recover_with(path.as_ref(), self.lock_wait)
    }
}
