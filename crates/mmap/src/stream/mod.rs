//! Out-of-core creation: write the payload in chunks of any size, with the CRC computed on
//! the fly and memory that stays constant whatever the array's size.
//!
//! Two things keep a durable write close to the speed of a plain one (measured by
//! `benches/compare`, see `benches/RESULTS.md`):
//! - *write-behind* (`write_behind.rs`): every 32 MiB, a helper thread asks the kernel to write
//!   the file back (`fdatasync`) while the payload is still being written, so that the fsync
//!   of [`StreamWriter::finish`] finds only the tail left instead of the whole file;
//! - [`StreamWriter::copy_from`] (`pipeline.rs`) reads and hashes on the calling thread while
//!   a helper thread writes the chunks read before: reading and writing the page cache overlap.

mod pipeline;
mod write_behind;

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use arrfile_format::{Attributes, ByteOrder, Description, Header, PayloadChecksum};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use self::pipeline::{PipelinedCopy, fill_chunk, short};
use self::write_behind::{WriteBehind, write_counted};
use crate::create::NewFile;
use crate::element::Element;
use crate::error::{Error, ErrorKind, ViewError};
use crate::fileio::write_header;
use crate::temp::PendingFile;

/// The buffer size: large enough for full-speed `write`s, small enough to keep memory flat.
/// (Larger is slower: a 2 MiB buffer no longer stays in a 1 MiB L2 cache between the read,
/// the CRC and the write; a 1 GiB conversion then took 1.7× as long.)
const BUFFER_LEN: usize = 1 << 20;

/// 64 bytes aligned to 64: buffers made of these start on a cache line (unaligned copies
/// were measured 4.5× slower here).
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C, align(64))]
pub(super) struct Block([u8; 64]);

pub(super) fn aligned_buffer(len: usize) -> Vec<Block> {
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
    write_behind: WriteBehind,
    /// A write failed: the bytes counted and hashed may not all be in the file, so the writer
    /// refuses to go on and to finish.
    failed: bool,
}

/// A failure of [`StreamWriter::copy_from`]: reading the source, or writing the arrfile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// Starts a new file at a temporary sibling of `path`, with the default
    /// [`crate::Options`] (whose [`crate::Options::stream`] sets alignment and overwriting).
    ///
    /// # Errors
    /// The attributes cannot be encoded, or the temporary file cannot be created.
    pub fn create(
        path: impl AsRef<Path>,
        description: Description,
        attributes: Option<&Attributes>,
    ) -> Result<StreamWriter, Error> {
        StreamWriter::new(path.as_ref(), description, attributes, NewFile::default())
    }

    pub(crate) fn new(
        path: &Path,
        description: Description,
        attributes: Option<&Attributes>,
        new_file: NewFile,
    ) -> Result<StreamWriter, Error> {
        let (pending, header) =
            new_file.begin(path, description, attributes, PayloadChecksum::Absent)?;
        Ok(StreamWriter {
            path: path.to_owned(),
            pending,
            header,
            hasher: crc32fast::Hasher::new(),
            written: 0,
            buffer: aligned_buffer(BUFFER_LEN),
            filled: 0,
            failed: false,
            write_behind: WriteBehind::default(),
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

    /// The temporary path the file has until it is finished. (Nothing is mapped: another
    /// process that writes it can spoil the checksum, not this process's memory.)
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
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.refuse_after_failure()?;
        self.check_room(bytes.len())?;
        let result = self.append(bytes);
        self.failed |= result.is_err();
        result
    }

    /// After a failed write: the error [`Self::finish`] and further writes give, with the
    /// bytes that really reached the file.
    fn refuse_after_failure(&self) -> Result<(), Error> {
        if !self.failed {
            return Ok(());
        }
        let on_disk = self.file().metadata().map_or(0, |m| m.len());
        let kind = ErrorKind::WrongPayloadLength {
            expected: self.header.data_len(),
            written: on_disk.saturating_sub(self.header.data_offset()),
        };
        Err(Error::new(&self.path, kind))
    }

    fn append(&mut self, mut bytes: &[u8]) -> Result<(), Error> {
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
        let Some(unit) = self.header.description().swap_unit_from(ByteOrder::NATIVE) else {
            return self.write_bytes(bytes);
        };
        self.check_room(bytes.len())?;
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

    /// Copies the rest of the payload from `reader`, reading straight into aligned buffers.
    ///
    /// The calling thread reads and hashes while a helper thread writes the chunks read
    /// before: at most a few 1 MiB chunks are in flight, so memory stays constant.
    /// `source` is the byte order of what `reader` yields: where it differs from the file's
    /// (and the dtype has a byte order), every value is swapped on the way. `progress` is
    /// called with the bytes copied so far after each chunk.
    ///
    /// # Errors
    /// [`CopyError`]: the reader failed or ended early, or writing failed.
    pub fn copy_from(
        &mut self,
        reader: &mut impl Read,
        source: ByteOrder,
        progress: impl FnMut(u64),
    ) -> Result<u64, CopyError> {
        self.refuse_after_failure()?;
        let swap_unit = self.header.description().swap_unit_from(source);
        let result = self.copy(reader, swap_unit, progress);
        self.failed |= result.is_err();
        result
    }

    fn copy(
        &mut self,
        reader: &mut impl Read,
        swap_unit: Option<usize>,
        progress: impl FnMut(u64),
    ) -> Result<u64, CopyError> {
        self.flush_buffer()?;
        if self.remaining() <= BUFFER_LEN as u64 {
            return self.copy_serial(reader, swap_unit, progress);
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        let StreamWriter { path, pending, hasher, written, write_behind, header, .. } = self;
        let expected = header.data_len() - *written;
        let copy = PipelinedCopy { path, file: pending.file(), hasher, written, write_behind };
        let result = copy.run(reader, swap_unit, progress, expected, &mut buffer);
        self.buffer = buffer;
        result
    }

    /// [`Self::copy_from`] on the calling thread alone: for payloads of one buffer or less.
    fn copy_serial(
        &mut self,
        reader: &mut impl Read,
        swap_unit: Option<usize>,
        mut progress: impl FnMut(u64),
    ) -> Result<u64, CopyError> {
        let expected = self.remaining();
        let mut copied = 0u64;
        let mut buffer = std::mem::take(&mut self.buffer);
        let result = (|| {
            while copied < expected {
                let n = fill_chunk(reader, &mut buffer, expected - copied, swap_unit)
                    .and_then(|n| if n == 0 { Err(short(copied, expected)) } else { Ok(n) })?;
                let chunk = &buffer.as_bytes()[..n];
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
        write_counted(self.pending.file(), &self.path, &mut self.write_behind, bytes)
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
        self.refuse_after_failure()?;
        self.flush_buffer()?;
        if self.written != self.header.data_len() {
            let kind = ErrorKind::WrongPayloadLength {
                expected: self.header.data_len(),
                written: self.written,
            };
            return Err(Error::new(&self.path, kind));
        }
        // The write-behind fsyncs' errors are reported here: the final fsync may not see them.
        self.write_behind.finish().map_err(|e| Error::io(&self.path, "syncing the payload", e))?;
        let crc = std::mem::take(&mut self.hasher).finalize();
        let header = self.header.clone().with_checksum(PayloadChecksum::Valid(crc));
        write_header(self.file(), &self.path, &header)?;
        self.pending.commit()?;
        Ok(header)
    }
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

#[cfg(test)]
mod tests {
    use arrfile_format::Dtype;

    use super::write_behind::WRITE_BEHIND;
    use super::*;
    use crate::array::ReadArray;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| u8::try_from((i * 31 + i / 251) % 256).unwrap_or(0)).collect()
    }

    fn writer(dir: &Path, dtype: Dtype, len: usize) -> StreamWriter {
        let count = (len / dtype.itemsize()) as u64;
        let description = Description::c_order(dtype, vec![count]).unwrap();
        StreamWriter::create(dir.join("out.arr"), description, None).unwrap()
    }

    #[test]
    fn pipelined_copy_writes_and_hashes_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        // Several buffers and a partial one, after a few bytes written before the copy.
        let data = pattern(5 * BUFFER_LEN + 4 * 1000);
        let mut out = writer(dir.path(), Dtype::U32, data.len());
        out.write_bytes(&data[..12]).unwrap();
        let mut calls = Vec::new();
        let copied = out.copy_from(&mut &data[12..], ByteOrder::Little, |n| calls.push(n)).unwrap();
        assert_eq!(copied, data.len() as u64 - 12);
        assert_eq!(calls.last(), Some(&copied));
        assert!(calls.windows(2).all(|w| w[0] < w[1]));
        out.finish().unwrap();
        let array = crate::open(dir.path().join("out.arr")).unwrap();
        assert_eq!(array.as_bytes(), &data[..]);
        assert!(array.verify().is_valid());
    }

    #[test]
    fn pipelined_copy_swaps_units() {
        let dir = tempfile::tempdir().unwrap();
        let data = pattern(3 * BUFFER_LEN + 8 * 77);
        let mut out = writer(dir.path(), Dtype::F64, data.len());
        out.copy_from(&mut &data[..], ByteOrder::Big, |_| {}).unwrap();
        out.finish().unwrap();
        let array = crate::open(dir.path().join("out.arr")).unwrap();
        let expected: Vec<u8> =
            data.chunks(8).flat_map(|unit| unit.iter().rev().copied()).collect();
        assert_eq!(array.as_bytes(), &expected[..]);
        assert!(array.verify().is_valid());
    }

    #[test]
    fn pipelined_copy_reports_a_short_input_and_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let data = pattern(4 * BUFFER_LEN);
        let mut out = writer(dir.path(), Dtype::U8, data.len() + 1);
        match out.copy_from(&mut &data[..], ByteOrder::Little, |_| {}) {
            Err(CopyError::ShortInput { copied, expected }) => {
                assert_eq!((copied, expected), (data.len() as u64, data.len() as u64 + 1));
            }
            other => panic!("expected ShortInput, got {other:?}"),
        }
        let temp = out.temp_path().to_owned();
        drop(out);
        assert!(!temp.exists(), "the temporary file is removed");

        struct FailAfter(usize);
        impl Read for FailAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("the disk is on fire"));
                }
                let n = buf.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
        }
        let mut out = writer(dir.path(), Dtype::U8, 8 * BUFFER_LEN);
        let result = out.copy_from(&mut FailAfter(3 * BUFFER_LEN + 5), ByteOrder::Little, |_| {});
        assert!(matches!(result, Err(CopyError::Read(e)) if e.to_string().contains("on fire")));
    }

    #[test]
    fn write_behind_keeps_the_bytes_and_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        // More than two write-behind intervals, in writes of an odd size.
        let len = usize::try_from(2 * WRITE_BEHIND).unwrap() + 3 * BUFFER_LEN + 17;
        let data = pattern(len);
        let mut out = writer(dir.path(), Dtype::U8, len);
        for chunk in data.chunks(65_537) {
            out.write_bytes(chunk).unwrap();
        }
        assert!(out.write_behind.syncer.is_some(), "the helper started");
        out.finish().unwrap();
        let array = crate::open(dir.path().join("out.arr")).unwrap();
        assert!(array.as_bytes() == &data[..]);
        assert!(array.verify().is_valid());
    }
}
