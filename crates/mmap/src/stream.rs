//! Out-of-core creation: write the payload in chunks of any size, with the CRC computed on
//! the fly and memory that stays constant whatever the array's size.
//!
//! Two things keep a durable write close to the speed of a plain one (measured by
//! `benches/compare`, see `benches/RESULTS.md`):
//! - *write-behind*: every [`WRITE_BEHIND`] bytes, a helper thread asks the kernel to write
//!   the file back (`fdatasync`) while the payload is still being written, so that the fsync
//!   of [`StreamWriter::finish`] finds only the tail left instead of the whole file;
//! - [`StreamWriter::copy_from`] reads and hashes on the calling thread while a helper thread
//!   writes the chunks read before: reading and writing the page cache overlap.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use arrfile_format::{Attributes, ByteOrder, Description, Header, PayloadChecksum};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::fileio::write_header;
use crate::temp::{PendingFile, begin_arrfile};
use crate::{Element, Error, ErrorKind, Options, ViewError};

/// The buffer size: large enough for full-speed `write`s, small enough to keep memory flat.
/// (Larger is slower: a 2 MiB buffer no longer stays in a 1 MiB L2 cache between the read,
/// the CRC and the write; a 1 GiB conversion then took 1.7× as long.)
pub const BUFFER_LEN: usize = 1 << 20;

/// Bytes written between two write-behind requests (see the module documentation). Writers
/// of smaller files never start the helper thread.
const WRITE_BEHIND: u64 = 32 << 20;

/// Chunks that [`StreamWriter::copy_from`] may have read but not yet written.
const PIPELINE_DEPTH: usize = 3;

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
    write_behind: WriteBehind,
    /// A write failed: the bytes counted and hashed may not all be in the file, so the writer
    /// refuses to go on and to finish.
    failed: bool,
}

/// The helper thread of write-behind, and where it sends its result.
type Syncer = (mpsc::SyncSender<()>, thread::JoinHandle<io::Result<()>>);

/// Starts the writeback of what was written while more is being written: every
/// [`WRITE_BEHIND`] bytes, a helper thread (started on first need) calls `fdatasync` on the
/// file. At most one request waits while one runs; a later one covers everything before it.
///
/// `fdatasync` reports a writeback error once per open file description, which the helper
/// shares: its first error is kept and returned by [`WriteBehind::finish`], so that an error
/// it consumed still fails [`StreamWriter::finish`].
#[derive(Default)]
struct WriteBehind {
    pending: u64,
    syncer: Option<Syncer>,
    unavailable: bool,
}

impl WriteBehind {
    /// Counts `n` bytes written to `file`; asks for writeback every [`WRITE_BEHIND`] bytes.
    fn wrote(&mut self, file: &File, n: usize) {
        self.pending += n as u64;
        if self.pending < WRITE_BEHIND {
            return;
        }
        self.pending = 0;
        if self.syncer.is_none() && !self.unavailable {
            self.syncer = Self::start(file);
            self.unavailable = self.syncer.is_none();
        }
        if let Some((requests, _)) = &self.syncer {
            // Full: a request is already waiting, and it will cover these bytes too.
            // Disconnected: the helper stopped on an error, which `finish` returns.
            let _ = requests.try_send(());
        }
    }

    /// The helper thread, on a duplicate of the descriptor; `None` when it cannot start (the
    /// writer then works as before, with all the writeback in the final fsync).
    fn start(file: &File) -> Option<Syncer> {
        let file = file.try_clone().ok()?;
        let (requests, received) = mpsc::sync_channel::<()>(1);
        let thread = thread::Builder::new()
            .name("arrfile-write-behind".into())
            .spawn(move || {
                for () in received {
                    file.sync_data()?;
                }
                Ok(())
            })
            .ok()?;
        Some((requests, thread))
    }

    /// Stops the helper, waiting for a running `fdatasync`; returns its first error.
    fn finish(&mut self) -> io::Result<()> {
        match self.syncer.take() {
            None => Ok(()),
            Some((requests, thread)) => {
                drop(requests);
                thread.join().unwrap_or(Ok(()))
            }
        }
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Writes all of `bytes` to `file` and counts them for write-behind.
fn write_counted(
    file: &File,
    path: &Path,
    write_behind: &mut WriteBehind,
    bytes: &[u8],
) -> Result<(), Error> {
    let mut writer = file;
    writer.write_all(bytes).map_err(|e| Error::io(path, "writing the payload", e))?;
    write_behind.wrote(file, bytes.len());
    Ok(())
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

    /// Copies the rest of the payload from `reader`, reading straight into aligned buffers.
    ///
    /// The calling thread reads and hashes while a helper thread writes the chunks read
    /// before: at most a few [`BUFFER_LEN`] chunks are in flight, so memory stays constant.
    /// With `swap_unit`, every unit of that many bytes is reversed on the way (for converting
    /// byte order). `progress` is called with the bytes copied so far after each chunk.
    ///
    /// # Errors
    /// [`CopyError`]: the reader failed or ended early, or writing failed.
    pub fn copy_from(
        &mut self,
        reader: &mut impl Read,
        swap_unit: Option<usize>,
        progress: impl FnMut(u64),
    ) -> Result<u64, CopyError> {
        self.refuse_after_failure()?;
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
        let swap_unit = swap_unit.filter(|&u| u > 1);
        if self.remaining() <= BUFFER_LEN as u64 {
            return self.copy_serial(reader, swap_unit, progress);
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        let StreamWriter { path, pending, hasher, written, write_behind, header, .. } = self;
        let expected = header.data_len() - *written;
        let copy = Copy { path, file: pending.file(), hasher, written, write_behind };
        let result = copy.pipelined(reader, swap_unit, progress, expected, &mut buffer);
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

/// The parts of a [`StreamWriter`] that a pipelined copy uses, borrowed apart so that the
/// writer thread can have the file while the calling thread hashes.
struct Copy<'a> {
    path: &'a Path,
    file: &'a File,
    hasher: &'a mut crc32fast::Hasher,
    written: &'a mut u64,
    write_behind: &'a mut WriteBehind,
}

impl Copy<'_> {
    /// Reads, swaps and hashes chunks here; a scoped thread writes them. `buffer` is the
    /// writer's own, used first and handed back (or a new one) at the end.
    fn pipelined(
        self,
        reader: &mut impl Read,
        swap_unit: Option<usize>,
        mut progress: impl FnMut(u64),
        expected: u64,
        buffer: &mut Vec<Block>,
    ) -> Result<u64, CopyError> {
        let Copy { path, file, hasher, written, write_behind } = self;
        let mut spare = Some(std::mem::take(buffer));
        let mut copied = 0u64;
        let result = thread::scope(|scope| {
            let (to_write, chunks) = mpsc::sync_channel::<(Vec<Block>, usize)>(PIPELINE_DEPTH);
            let (give_back, returned) = mpsc::channel::<Vec<Block>>();
            let writer = thread::Builder::new()
                .name("arrfile-copy-writer".into())
                .spawn_scoped(scope, move || -> Result<(), Error> {
                    for (chunk, n) in chunks {
                        write_counted(file, path, write_behind, &chunk.as_bytes()[..n])?;
                        // The reader may be gone (it failed): the buffer is then dropped.
                        let _ = give_back.send(chunk);
                    }
                    Ok(())
                })
                .map_err(|e| Error::io(path, "starting the writer thread", e))?;
            let mut allocated = 1;
            let read_result = (|| {
                while copied < expected {
                    // A free buffer: the spare, a new one while few exist, or one the writer
                    // gave back. None: the writer stopped on an error, returned below.
                    let chunk = match spare.take() {
                        Some(chunk) => Some(chunk),
                        None if allocated < PIPELINE_DEPTH + 2 => {
                            allocated += 1;
                            Some(aligned_buffer(BUFFER_LEN))
                        }
                        None => returned.recv().ok(),
                    };
                    let Some(mut chunk) = chunk else { return Ok(()) };
                    let n = fill_chunk(reader, &mut chunk, expected - copied, swap_unit)?;
                    if n == 0 {
                        return Err(short(copied, expected));
                    }
                    hasher.update(&chunk.as_bytes()[..n]);
                    *written += n as u64;
                    copied += n as u64;
                    if to_write.send((chunk, n)).is_err() {
                        return Ok(()); // the writer stopped on an error: joined below
                    }
                    progress(copied);
                }
                Ok(())
            })();
            drop(to_write);
            let write_result = writer.join().unwrap_or_else(|_| {
                Err(Error::io(path, "writing the payload", io::Error::other("writer panicked")))
            });
            spare = spare.take().or_else(|| returned.try_recv().ok());
            read_result?;
            write_result?;
            Ok(copied)
        });
        *buffer = spare.unwrap_or_else(|| aligned_buffer(BUFFER_LEN));
        result
    }
}

/// Reads up to `left` bytes (at most a buffer) into `chunk`, swapping each unit of
/// `swap_unit` bytes; returns the bytes read, 0 at the end of the input.
fn fill_chunk(
    reader: &mut impl Read,
    chunk: &mut [Block],
    left: u64,
    swap_unit: Option<usize>,
) -> Result<usize, CopyError> {
    let bytes = chunk.as_mut_bytes();
    let want = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
    let n = read_full(reader, &mut bytes[..want]).map_err(CopyError::Read)?;
    if let Some(unit) = swap_unit {
        bytes[..n].chunks_mut(unit).for_each(<[u8]>::reverse);
    }
    Ok(n)
}

fn short(copied: u64, expected: u64) -> CopyError {
    CopyError::ShortInput { copied, expected }
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

#[cfg(test)]
mod tests {
    use arrfile_format::Dtype;

    use super::*;
    use crate::ReadArray;

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
        let copied = out.copy_from(&mut &data[12..], None, |n| calls.push(n)).unwrap();
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
        out.copy_from(&mut &data[..], Some(8), |_| {}).unwrap();
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
        match out.copy_from(&mut &data[..], None, |_| {}) {
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
        let result = out.copy_from(&mut FailAfter(3 * BUFFER_LEN + 5), None, |_| {});
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
