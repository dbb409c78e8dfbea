//! Where the elements come from: an arrfile (validated, locked and mapped by `arrfile-mmap`),
//! or any file holding raw elements at a byte offset (a `.npy`'s data, a raw `.dat`). Long
//! passes read with `pread` in bounded chunks; single elements come from the map or from
//! one page read around them.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use arrfile_format::Description;
use arrfile_mmap::{ArrayFile, ReadArray};

use crate::error::{Error, ErrorKind};
use crate::value::{Value, decode};

/// An array to look at: a description and its payload bytes in storage order.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// use arrfile_view::Source;
/// # let dir = tempfile::tempdir()?;
/// let raw = dir.path().join("raw.dat");
/// std::fs::write(&raw, [1u8, 0, 2, 0, 3, 0])?; // three little-endian u16 after no header
/// let source = Source::from_file(&raw, Description::c_order(Dtype::U16, vec![3])?, 0)?;
/// assert_eq!(source.description().element_count(), 3);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Source {
    path: PathBuf,
    description: Description,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    /// A validated, locked arrfile: single elements are read from the map (touching only
    /// their pages), long passes with `pread` from `file` (no page faults of a fresh map).
    Mapped {
        array: ArrayFile,
        file: File,
        offset: u64,
    },
    File {
        file: File,
        offset: u64,
    },
}

impl Source {
    /// Opens an arrfile read-only: every reader check of the spec, then a map of the payload.
    ///
    /// # Errors
    /// [`ErrorKind::Open`] when the file cannot be opened or fails a check.
    pub fn open(path: impl AsRef<Path>) -> Result<Source, Error> {
        let path = path.as_ref();
        let array = arrfile_mmap::open(path).map_err(|e| Error::new(path, ErrorKind::Open(e)))?;
        let file = File::open(path)
            .map_err(|source| Error::new(path, ErrorKind::Io { action: "opening", source }))?;
        Ok(Source {
            path: path.to_owned(),
            description: array.description().clone(),
            inner: Inner::Mapped { offset: array.header().data_offset(), array, file },
        })
    }

    /// A file whose data, described by `description`, starts at byte `offset`: the data of a
    /// `.npy` (its header parsed by the caller), or a raw file. Read with `pread`, in chunks.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the file cannot be opened, [`ErrorKind::TooShort`] when it holds
    /// less than `offset + description.data_len()` bytes.
    pub fn from_file(
        path: impl AsRef<Path>,
        description: Description,
        offset: u64,
    ) -> Result<Source, Error> {
        let path = path.as_ref();
        let io = |action, source| Error::new(path, ErrorKind::Io { action, source });
        let file = File::open(path).map_err(|e| io("opening", e))?;
        let found = file.metadata().map_err(|e| io("reading metadata", e))?.len();
        let expected = offset.saturating_add(description.data_len());
        if found < expected {
            return Err(Error::new(path, ErrorKind::TooShort { expected, offset, found }));
        }
        Ok(Source { path: path.to_owned(), description, inner: Inner::File { file, offset } })
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// dtype, shape, order and byte order.
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// Payload bytes `[start, start + len)`: borrowed from the map, or read into `scratch`.
    pub(crate) fn bytes<'a>(
        &'a self,
        start: u64,
        len: usize,
        scratch: &'a mut Vec<u8>,
    ) -> Result<&'a [u8], Error> {
        match &self.inner {
            Inner::Mapped { file, offset, .. } | Inner::File { file, offset } => {
                scratch.resize(len, 0);
                file.read_exact_at(scratch, offset.saturating_add(start)).map_err(|source| {
                    Error::new(&self.path, ErrorKind::Io { action: "reading the data", source })
                })?;
                Ok(&scratch[..])
            }
        }
    }
}

impl Source {
    /// Payload bytes `[start, start + buf.len())`, read into `buf` (one `pread`).
    pub(crate) fn read_into(&self, start: u64, buf: &mut [u8]) -> Result<(), Error> {
        match &self.inner {
            Inner::Mapped { file, offset, .. } | Inner::File { file, offset } => {
                file.read_exact_at(buf, offset.saturating_add(start)).map_err(|source| {
                    Error::new(&self.path, ErrorKind::Io { action: "reading the data", source })
                })
            }
        }
    }
}

/// Bytes read from a file source at a time, when elements are read one by one: a page.
const WINDOW: u64 = 4 << 10;

/// Reads single elements by storage index, through a window for file sources, so that
/// neighbouring reads cost one `pread`; a mapped source is read in place (only the pages of
/// the elements asked for are touched).
pub(crate) struct ElementReader<'a> {
    source: &'a Source,
    window: Vec<u8>,
    window_start: u64,
    window_len: usize,
}

impl<'a> ElementReader<'a> {
    pub(crate) fn new(source: &'a Source) -> Self {
        ElementReader { source, window: Vec::new(), window_start: 0, window_len: 0 }
    }

    pub(crate) fn get(&mut self, index: u64) -> Result<Value, Error> {
        let desc = &self.source.description;
        let size = desc.dtype().itemsize();
        let at = index * size as u64;
        let bytes: &[u8] = match &self.source.inner {
            Inner::Mapped { array, .. } => {
                let at = usize::try_from(at).unwrap_or(usize::MAX);
                array.as_bytes().get(at..at.saturating_add(size)).unwrap_or(&[])
            }
            Inner::File { .. } => {
                let inside = at >= self.window_start
                    && at + size as u64 <= self.window_start + self.window_len as u64;
                if !inside {
                    let start = at - at % WINDOW.max(size as u64);
                    let len = (desc.data_len() - start).min(WINDOW.max(size as u64 * 2));
                    let mut scratch = std::mem::take(&mut self.window);
                    self.source.bytes(start, len as usize, &mut scratch)?;
                    self.window = scratch;
                    self.window_start = start;
                    self.window_len = len as usize;
                }
                let off = (at - self.window_start) as usize;
                &self.window[off..off + size]
            }
        };
        if bytes.len() < size {
            return Err(Error::new(
                &self.source.path,
                ErrorKind::Io {
                    action: "reading an element",
                    source: std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                },
            ));
        }
        Ok(decode(desc.dtype(), desc.byte_order(), bytes))
    }
}
