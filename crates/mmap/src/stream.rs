//! Out-of-core creation: write the payload in chunks of any size, with the CRC computed on
//! the fly and memory that stays constant whatever the array's size.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use arrfile_format::{Attributes, ByteOrder, Description, Header, PayloadChecksum};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::fileio::write_header;
use crate::temp::{PendingFile, begin_arrfile};
use crate::{Element, Error, ErrorKind, Options, ViewError};

/// The buffer size: large enough for full-speed `write`s, small enough to keep memory flat.
pub const BUFFER_LEN: usize = 1 << 20;

/// 64 bytes aligned to 64: buffers made of these start on a cache line (unaligned copies
/// were measured 4.5× slower here).
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C, align(64))]
struct Block([u8; 64]);

fn aligned_buffer(len: usize) -> Vec<Block> {
    vec![Block([0; 64]); len.div_ceil(64)]
}

/// Writes a new arrfile from a stream of bytes or elements.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// use arrfile_mmap::{ReadArray, StreamWriter};
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("squares.arr");
/// let mut writer = StreamWriter::create(&path, Description::c_order(Dtype::F64, vec![1000])?, None)?;
/// for chunk in (0..1000).collect::<Vec<u32>>().chunks(300) {
///     let values: Vec<f64> = chunk.iter().map(|&i| f64::from(i * i)).collect();
///     writer.write_elements(&values)?;
/// }
/// writer.finish()?;
/// assert!(arrfile_mmap::open(&path)?.verify().is_valid());
/// # Ok(()) }
/// ```
pub struct StreamWriter {
    path: PathBuf,
    pending: PendingFile,
    header: Header,
    hasher: crc32fast::Hasher,
    written: u64,
    buffer: Vec<Block>,
    filled: usize,
}

/// A failure of [`StreamWriter::copy_from`]: reading the source, or writing the arrfile.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Reading the source failed.
    #[error("reading the input: {0}")]
    Read(#[source] io::Error),
    /// The source ended before the payload was complete.
    #[error("the input ended after {copied} of the {expected} payload bytes")]
    ShortInput {
        /// Bytes copied.
        copied: u64,
        /// Bytes the payload needs.
        expected: u64,
    },
    /// Writing the arrfile failed.
    #[error(transparent)]
    Write(#[from] Error),
}

impl StreamWriter {
    /// Starts a new file at a temporary sibling of `path`, with the default [`Options`].
    ///
    /// # Errors
    /// The attributes cannot be encoded, or the temporary file cannot be created.
    pub fn create(
        path: impl AsRef<Path>,
        description: Description,
        attributes: Option<&Attributes>,
    ) -> Result<StreamWriter, Error> {
        Options::new().stream(path, description, attributes)
    }

    pub(crate) fn with_options(
        path: &Path,
        description: Description,
        attributes: Option<&Attributes>,
        options: &Options,
    ) -> Result<StreamWriter, Error> {
        let (pending, header) =
            begin_arrfile(path, description, attributes, options, PayloadChecksum::Absent)?;
        Ok(StreamWriter {
            path: path.to_owned(),
            pending,
            header,
            hasher: crc32fast::Hasher::new(),
            written: 0,
            buffer: aligned_buffer(BUFFER_LEN),
            filled: 0,
        })
    }

    /// The header of the file being written (checksum state *absent* until finished).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Payload bytes received so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Payload bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.header.data_len() - self.written
    }

    /// The temporary path the file has until it is finished.
    pub fn temp_path(&self) -> &Path {
        self.pending.temp_path()
    }

    fn check_room(&self, len: usize) -> Result<(), Error> {
        let offered = self.written.saturating_add(len as u64);
        if offered > self.header.data_len() {
            let kind = ErrorKind::WrongPayloadLength {
                expected: self.header.data_len(),
                written: offered,
            };
            return Err(Error::new(&self.path, kind));
        }
        Ok(())
    }

    /// Appends payload bytes, as stored (in the file's byte order).
    ///
    /// # Errors
    /// More bytes than the payload needs ([`ErrorKind::WrongPayloadLength`]), or an I/O error.
    pub fn write_bytes(&mut self, mut bytes: &[u8]) -> Result<(), Error> {
        self.check_room(bytes.len())?;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        // A large write with nothing buffered goes straight to the file: no copy.
        if self.filled == 0 && bytes.len() >= BUFFER_LEN {
            return self.write_through(bytes);
        }
        while !bytes.is_empty() {
            let buffer = self.buffer.as_mut_bytes();
            let n = bytes.len().min(buffer.len() - self.filled);
            buffer[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == buffer.len() {
                self.flush_buffer()?;
            }
        }
        Ok(())
    }

    /// Appends elements given in the host's byte order; they are converted to the file's.
    ///
    /// # Errors
    /// [`ViewError::DtypeMismatch`] when `T` is not the file's dtype; as [`Self::write_bytes`].
    pub fn write_elements<T: Element>(&mut self, items: &[T]) -> Result<(), Error> {
        let dtype = self.header.dtype();
        if T::DTYPE != dtype {
            return Err(Error::new(
                &self.path,
                ViewError::DtypeMismatch { requested: T::DTYPE, file: dtype },
            ));
        }
        let bytes = items.as_bytes();
        if self.header.description().byte_order() == ByteOrder::NATIVE || size_of::<T>() == 1 {
            return self.write_bytes(bytes);
        }
        self.check_room(bytes.len())?;
        let unit = dtype.swap_unit();
        let mut scratch = aligned_buffer(BUFFER_LEN.min(bytes.len().next_multiple_of(64)));
        let scratch = scratch.as_mut_bytes();
        let step = scratch.len() / size_of::<T>() * size_of::<T>();
        for chunk in bytes.chunks(step.max(size_of::<T>())) {
            let out = &mut scratch[..chunk.len()];
            out.copy_from_slice(chunk);
            out.chunks_mut(unit).for_each(<[u8]>::reverse);
            self.write_bytes(out)?;
        }
        Ok(())
    }

    /// Copies the rest of the payload from `reader`, reading straight into the aligned buffer.
    ///
    /// With `swap_unit`, every unit of that many bytes is reversed on the way (for converting
    /// byte order). `progress` is called with the bytes copied so far after each chunk.
    ///
    /// # Errors
    /// [`CopyError`]: the reader failed or ended early, or writing failed.
    pub fn copy_from(
        &mut self,
        reader: &mut impl Read,
        swap_unit: Option<usize>,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, CopyError> {
        self.flush_buffer()?;
        let expected = self.remaining();
        let mut copied = 0u64;
        let mut buffer = std::mem::take(&mut self.buffer);
        let result = (|| {
            while copied < expected {
                let bytes = buffer.as_mut_bytes();
                let want =
                    usize::try_from(expected - copied).unwrap_or(usize::MAX).min(bytes.len());
                let n = read_full(reader, &mut bytes[..want]).map_err(CopyError::Read)?;
                if n == 0 {
                    return Err(CopyError::ShortInput { copied, expected });
                }
                let chunk = &mut bytes[..n];
                if let Some(unit) = swap_unit.filter(|&u| u > 1) {
                    chunk.chunks_mut(unit).for_each(<[u8]>::reverse);
                }
                self.hasher.update(chunk);
                self.written += n as u64;
                self.write_through(chunk)?;
                copied += n as u64;
                progress(copied);
            }
            Ok(copied)
        })();
        self.buffer = buffer;
        result
    }

    fn file(&self) -> &File {
        self.pending.file()
    }

    fn write_through(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.file().write_all(bytes).map_err(|e| Error::io(&self.path, "writing the payload", e))
    }

    fn flush_buffer(&mut self) -> Result<(), Error> {
        if self.filled > 0 {
            let filled = std::mem::take(&mut self.filled);
            let buffer = std::mem::take(&mut self.buffer);
            let result = self.write_through(&buffer.as_bytes()[..filled]);
            self.buffer = buffer;
            result?;
        }
        Ok(())
    }

    /// Checks that exactly `data_len` bytes came, writes the header with the payload's CRC,
    /// makes the file durable and renames it into place. Returns the final header.
    ///
    /// # Errors
    /// [`ErrorKind::WrongPayloadLength`] when bytes are missing, or when fewer reached the
    /// file than were given because a write failed (nothing then appears at the path), or an
    /// I/O error.
    pub fn finish(mut self) -> Result<Header, Error> {
        self.flush_buffer()?;
        if self.written != self.header.data_len() {
            let kind = ErrorKind::WrongPayloadLength {
                expected: self.header.data_len(),
                written: self.written,
            };
            return Err(Error::new(&self.path, kind));
        }
        // A write that failed (a full disk, say) may have left fewer bytes in the file than
        // were counted and hashed: only a file as long as its header says is committed.
        let on_disk = self
            .file()
            .metadata()
            .map_err(|e| Error::io(&self.path, "reading the new file's length", e))?
            .len();
        if on_disk != self.header.file_len() {
            let kind = ErrorKind::WrongPayloadLength {
                expected: self.header.data_len(),
                written: on_disk.saturating_sub(self.header.data_offset()),
            };
            return Err(Error::new(&self.path, kind));
        }
        let crc = std::mem::take(&mut self.hasher).finalize();
        let header = self.header.clone().with_checksum(PayloadChecksum::Valid(crc));
        write_header(self.file(), &self.path, &header)?;
        self.pending.commit()?;
        Ok(header)
    }
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("path", &self.path)
            .field("description", self.header.description())
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl Write for StreamWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buffer().map_err(io::Error::other)
    }
}
