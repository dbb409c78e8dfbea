//! The four modes of `np.memmap`: `r` ([`ArrayFile`]), `r+` ([`ArrayFileMut`]), `w+`
//! ([`NewArrayFile`]) and `c` ([`ArrayFileCow`]).

use std::path::{Path, PathBuf};

use arrfile_format::{Attributes, Description, Header, PayloadChecksum};

use crate::array::WriteArray;
use crate::create::NewFile;
use crate::error::{Error, ErrorKind};
use crate::fileio::{names_this_file, write_checksum};
use crate::inner::{Inner, read_array_via_inner};
use crate::lock::LockWait;
use crate::payload::MapMode;
use crate::temp::PendingFile;
use crate::verify::crc32_parallel;

/// Mode `r`: a read-only mapping. Writing is impossible: this type has no mutable access.
///
/// Holds a shared lock until dropped. Opening never reads the payload; [`crate::ReadArray::verify`]
/// does, on request.
pub struct ArrayFile {
    inner: Inner,
}

/// Mode `c`: copy-on-write. Writes change this process's pages only, never the file.
pub struct ArrayFileCow {
    inner: Inner,
}

/// Mode `r+`: writes reach the file, under the spec's *being modified* protocol.
///
/// The first mutable access marks the file *being modified* on disk; [`ArrayFileMut::commit`]
/// makes the payload durable and writes its fresh checksum as *valid*. Dropping the handle
/// without committing leaves the honest *being modified* state. Holds an exclusive lock.
pub struct ArrayFileMut {
    inner: Inner,
    marked: bool,
}

/// Mode `w+`: a new file, sized sparsely and filled through a mutable view.
///
/// It lives at a temporary sibling path until [`NewArrayFile::finish`] writes its checksum,
/// makes it durable and renames it into place; dropped unfinished, it leaves nothing behind.
/// That path is not offered to other processes: this handle's mutable view is the only
/// writer of the mapped bytes, under an exclusive lock (see the `payload` module). To fill
/// a new file from several processes, create it with [`crate::create_zeroed`] and let each
/// open it in turn with [`crate::open_mut`].
///
/// Sparse means the disk space is taken as pages are first written, through the map. On a
/// full disk that first write cannot fail politely: the kernel raises `SIGBUS`, as it does for
/// `np.memmap`. (The temporary file the dead process leaves is removed by
/// [`crate::remove_stale_temp_files`].) Where the disk may be too small, write with
/// [`crate::StreamWriter`], which reports a full disk as an error and leaves nothing behind.
pub struct NewArrayFile {
    inner: Inner,
    pending: PendingFile,
}

read_array_via_inner!(ArrayFile, ArrayFileCow, ArrayFileMut, NewArrayFile);

impl ArrayFile {
    pub(crate) fn open(path: &Path, wait: LockWait) -> Result<ArrayFile, Error> {
        Ok(ArrayFile { inner: Inner::open(path, MapMode::ReadOnly, wait)? })
    }
}

impl ArrayFileCow {
    pub(crate) fn open(path: &Path, wait: LockWait) -> Result<ArrayFileCow, Error> {
        Ok(ArrayFileCow { inner: Inner::open(path, MapMode::Private, wait)? })
    }
}

impl WriteArray for ArrayFileCow {
    fn as_bytes_mut(&mut self) -> Result<&mut [u8], Error> {
        Ok(self.inner.payload.bytes_mut())
    }
}

impl ArrayFileMut {
    pub(crate) fn open(path: &Path, wait: LockWait) -> Result<ArrayFileMut, Error> {
        let inner = Inner::open(path, MapMode::Shared, wait)?;
        Ok(ArrayFileMut { inner, marked: false })
    }

    /// Marks the file *being modified* on disk, durably, unless this handle already did.
    ///
    /// # Errors
    /// Writing or syncing the header failed.
    pub fn mark_being_modified(&mut self) -> Result<(), Error> {
        if !self.marked {
            let inner = &mut self.inner;
            inner.header = write_checksum(
                &inner.file,
                &inner.path,
                &inner.header,
                PayloadChecksum::BeingModified,
            )?;
            self.marked = true;
        }
        Ok(())
    }

    /// Makes the payload durable, then writes its CRC-32 with state *valid*, durably.
    /// Returns the CRC.
    ///
    /// # Errors
    /// [`ErrorKind::Replaced`] when the file is no longer the one at its path; flushing the
    /// map or writing the header failed. The file then stays *being modified*.
    pub fn commit(&mut self) -> Result<u32, Error> {
        let inner = &mut self.inner;
        inner.payload.flush().map_err(|e| Error::io(&inner.path, "flushing the payload", e))?;
        let crc = crc32_parallel(inner.payload.bytes());
        // A program that ignores locks may have renamed another file over the path: then the
        // edits live only in the old file, and saying so is the only honest outcome.
        if !names_this_file(&inner.path, &inner.file) {
            return Err(Error::new(&inner.path, ErrorKind::Replaced));
        }
        inner.header =
            write_checksum(&inner.file, &inner.path, &inner.header, PayloadChecksum::Valid(crc))?;
        self.marked = false;
        Ok(crc)
    }
}

impl WriteArray for ArrayFileMut {
    fn as_bytes_mut(&mut self) -> Result<&mut [u8], Error> {
        self.mark_being_modified()?;
        Ok(self.inner.payload.bytes_mut())
    }
}

impl NewArrayFile {
    pub(crate) fn create(
        path: &Path,
        description: Description,
        attributes: Option<&Attributes>,
        new_file: NewFile,
    ) -> Result<NewArrayFile, Error> {
        let (pending, header) =
            new_file.begin(path, description, attributes, PayloadChecksum::Absent)?;
        // Sized without writing: the payload is a hole until it is filled.
        pending
            .file()
            .set_len(header.file_len())
            .map_err(|e| Error::io(path, "sizing the new file", e))?;
        // A second descriptor of the same open file (and lock) for the map and the header.
        let file = pending
            .file()
            .try_clone()
            .map_err(|e| Error::io(path, "duplicating a descriptor", e))?;
        let inner = Inner::map(path, file, header, attributes.cloned(), MapMode::Shared)?;
        Ok(NewArrayFile { inner, pending })
    }

    /// Writes the payload's checksum, makes the file durable and renames it into place.
    /// Returns the final header.
    ///
    /// # Errors
    /// Any I/O failure; the temporary file is then removed and nothing appears at the path.
    pub fn finish(self) -> Result<Header, Error> {
        let NewArrayFile { inner, pending } = self;
        inner.payload.flush().map_err(|e| Error::io(&inner.path, "flushing the payload", e))?;
        let crc = crc32_parallel(inner.payload.bytes());
        let header =
            write_checksum(&inner.file, &inner.path, &inner.header, PayloadChecksum::Valid(crc))?;
        drop(inner);
        pending.commit()?;
        Ok(header)
    }

    /// The final path.
    pub fn final_path(&self) -> PathBuf {
        self.inner.path.clone()
    }
}

impl WriteArray for NewArrayFile {
    fn as_bytes_mut(&mut self) -> Result<&mut [u8], Error> {
        Ok(self.inner.payload.bytes_mut())
    }
}

macro_rules! debug_via_header {
    ($($ty:ty),*) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("path", &self.inner.path)
                    .field("description", self.inner.header.description())
                    .field("checksum", &self.inner.header.checksum())
                    .finish_non_exhaustive()
            }
        }
    )*};
}

debug_via_header!(ArrayFile, ArrayFileCow, ArrayFileMut, NewArrayFile);
