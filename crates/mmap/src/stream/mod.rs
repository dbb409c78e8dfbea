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
pub(crate) mod sink;
mod write_behind;

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use arrfile_format::{Attributes, ByteOrder, Description, Dtype, Header, Order, PayloadChecksum};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use self::sink::{Bound, PayloadSink};
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
///
/// When the number of rows is not known in advance, [`StreamWriter::create_growing`] takes
/// the dtype and the shape of one row, and fixes the outer dimension at [`Self::finish`].
pub struct StreamWriter {
    path: PathBuf,
    pending: PendingFile,
    /// The header of the prefix written: the final shape for a fixed writer, outer length 0
    /// for a growing one.
    header: Header,
    sink: PayloadSink,
    growing: bool,
    /// Rows of 0 bytes counted by [`Self::write_empty_rows`].
    empty_rows: u64,
}

/// A failure of [`StreamWriter::copy_from`] or [`crate::Appender::copy_from`]: reading the
/// source, or writing the arrfile.
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

    /// Starts a new file whose number of rows is not known yet (format 1.0 all the same: the
    /// file appears complete at [`Self::finish`], with its final shape).
    ///
    /// Give the dtype, the shape of one row (`trailing_shape`: every dimension but the outer
    /// one, in header order), the order and the byte order; then write rows in chunks of any
    /// size (a row may span several writes). The outer dimension — the first in C order, the
    /// last in F order, so that each row follows the one before in the payload — is the
    /// number of whole rows written when [`Self::finish`] is called; zero rows make an empty
    /// array. With the default [`crate::Options`]; see [`crate::Options::stream_growing`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use arrfile_format::{ByteOrder, Dtype, Order};
    /// use arrfile_mmap::{ReadArray, StreamWriter};
    /// # let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("measurements.arr");
    /// // Rows of 3 f32 each, as many as come.
    /// let mut writer =
    ///     StreamWriter::create_growing(&path, Dtype::F32, &[3], Order::C, ByteOrder::Little, None)?;
    /// for step in 0..10u8 {
    ///     let row = [f32::from(step), f32::from(step) * 2.0, -1.0];
    ///     writer.write_elements(&row)?;
    /// }
    /// let header = writer.finish()?;
    /// assert_eq!(header.shape(), &[10, 3]);
    /// let array = arrfile_mmap::open(&path)?;
    /// assert_eq!(array.view::<f32>()?[3..6], [1.0, 2.0, -1.0]);
    /// assert!(array.verify().is_valid());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::Description`] when one row exceeds the size bound or there are more than
    /// 63 trailing dimensions; as [`Self::create`].
    pub fn create_growing(
        path: impl AsRef<Path>,
        dtype: Dtype,
        trailing_shape: &[u64],
        order: Order,
        byte_order: ByteOrder,
        attributes: Option<&Attributes>,
    ) -> Result<StreamWriter, Error> {
        crate::Options::new().stream_growing(
            path,
            dtype,
            trailing_shape,
            order,
            byte_order,
            attributes,
        )
    }

    pub(crate) fn new(
        path: &Path,
        description: Description,
        attributes: Option<&Attributes>,
        new_file: NewFile,
    ) -> Result<StreamWriter, Error> {
        let (pending, header) =
            new_file.begin(path, description, attributes, PayloadChecksum::Absent)?;
        let sink = PayloadSink::new(path, header.data_offset(), Bound::Exact(header.data_len()));
        Ok(StreamWriter {
            path: path.to_owned(),
            pending,
            header,
            sink,
            growing: false,
            empty_rows: 0,
        })
    }

    /// A growing writer of `description`, whose outer length is 0.
    pub(crate) fn new_growing(
        path: &Path,
        description: Description,
        attributes: Option<&Attributes>,
        new_file: NewFile,
    ) -> Result<StreamWriter, Error> {
        // At least one dimension: `growing_description` made the outer one.
        let bound = Bound::rows_after(&description)
            .ok_or_else(|| Error::new(path, arrfile_format::DescriptionError::NotAppendable))?;
        let (pending, header) =
            new_file.begin(path, description, attributes, PayloadChecksum::Absent)?;
        let sink = PayloadSink::new(path, header.data_offset(), bound);
        Ok(StreamWriter {
            path: path.to_owned(),
            pending,
            header,
            sink,
            growing: true,
            empty_rows: 0,
        })
    }

    /// The header of the file being written: checksum state *absent* until finished, and for
    /// a growing writer an outer dimension of 0 (the final one is set by [`Self::finish`]).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Payload bytes received so far.
    pub fn written(&self) -> u64 {
        self.sink.written()
    }

    /// Payload bytes still expected; for a growing writer, the bytes the spec's size bound
    /// (2^62) still allows.
    pub fn remaining(&self) -> u64 {
        self.sink.remaining()
    }

    /// The temporary path the file has until it is finished. (Nothing is mapped: another
    /// process that writes it can spoil the checksum, not this process's memory.)
    pub fn temp_path(&self) -> &Path {
        self.pending.temp_path()
    }

    /// Appends payload bytes, as stored (in the file's byte order).
    ///
    /// # Errors
    /// More bytes than the payload needs ([`ErrorKind::WrongPayloadLength`]), or for a
    /// growing writer more rows than the size bound allows ([`ErrorKind::TooManyRows`]);
    /// after an earlier failed write, [`ErrorKind::WrongPayloadLength`] or
    /// [`ErrorKind::EarlierWriteFailed`]; or an I/O error.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.sink.write_bytes(self.pending.file(), bytes)
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
        match self.header.description().swap_unit_from(ByteOrder::NATIVE) {
            None => self.sink.write_bytes(self.pending.file(), bytes),
            Some(unit) => self.sink.write_swapped(self.pending.file(), bytes, unit),
        }
    }

    /// For a growing writer whose rows have 0 bytes (a trailing dimension is 0): counts
    /// `rows` more rows, which no bytes can express.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use arrfile_format::{ByteOrder, Dtype, Order};
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("e.arr");
    /// let mut writer =
    ///     arrfile_mmap::StreamWriter::create_growing(&path, Dtype::F32, &[0], Order::C, ByteOrder::Little, None)?;
    /// writer.write_empty_rows(7)?;
    /// assert_eq!(writer.finish()?.shape(), &[7, 0]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::NotGrowing`] for a writer of fixed shape, [`ErrorKind::RowsNotEmpty`]
    /// when rows have bytes, [`ErrorKind::TooManyRows`] past the size bound.
    pub fn write_empty_rows(&mut self, rows: u64) -> Result<(), Error> {
        if !self.growing {
            let shape = self.header.shape().to_vec();
            return Err(Error::new(&self.path, ErrorKind::NotGrowing { shape }));
        }
        self.empty_rows =
            count_empty_rows(&self.path, self.header.description(), self.empty_rows, rows)?;
        Ok(())
    }

    /// Copies the rest of the payload from `reader`, reading straight into aligned buffers:
    /// for a growing writer, everything up to the end of `reader`.
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
        let swap_unit = self.header.description().swap_unit_from(source);
        self.sink.copy_from(self.pending.file(), reader, swap_unit, progress)
    }

    /// Checks that exactly `data_len` bytes came (for a growing writer: whole rows, whose
    /// number becomes the outer dimension), writes the header with the payload's CRC, makes
    /// the file durable and renames it into place. Returns the final header.
    ///
    /// # Errors
    /// [`ErrorKind::WrongPayloadLength`] when bytes are missing, or when fewer reached the
    /// file than were given because a write failed (nothing then appears at the path);
    /// [`ErrorKind::PartialRow`] when a growing writer's bytes end inside a row;
    /// [`ErrorKind::EarlierWriteFailed`] after a growing writer's failed write; or an I/O
    /// error.
    pub fn finish(mut self) -> Result<Header, Error> {
        let file = self.pending.file();
        self.sink.flush(file)?;
        let written = self.sink.written();
        let header = if self.growing {
            let rows = whole_rows(&self.path, self.header.description(), written, self.empty_rows)?;
            // The sink refused anything past the size bound, so the grown shape is valid.
            self.header
                .committed_append(rows, PayloadChecksum::Absent)
                .map_err(|e| Error::new(&self.path, e))?
        } else if written != self.header.data_len() {
            let kind = ErrorKind::WrongPayloadLength { expected: self.header.data_len(), written };
            return Err(Error::new(&self.path, kind));
        } else {
            self.header.clone()
        };
        // The write-behind fsyncs' errors are reported here: the final fsync may not see them.
        let crc = self.sink.end()?;
        let header = header.with_checksum(PayloadChecksum::Valid(crc));
        write_header(file, &self.path, &header)?;
        self.pending.commit()?;
        Ok(header)
    }
}

/// The description of a growing array before its first row: `trailing_shape` with an outer
/// dimension of 0 first (C order) or last (F order).
pub(crate) fn growing_description(
    path: &Path,
    dtype: Dtype,
    trailing_shape: &[u64],
    order: Order,
    byte_order: ByteOrder,
) -> Result<Description, Error> {
    let shape: Vec<u64> = match order {
        Order::C => std::iter::once(0).chain(trailing_shape.iter().copied()).collect(),
        Order::F => trailing_shape.iter().copied().chain(std::iter::once(0)).collect(),
    };
    // The outer dimension is 0: a row over the size bound is refused through its unit.
    let description =
        Description::new(dtype, shape, order, byte_order).map_err(|e| Error::new(path, e))?;
    description.with_outer_len(1).map_err(|e| Error::new(path, e))?;
    Ok(description)
}

/// The rows that `written` bytes (and `empty_rows` rows of 0 bytes) make after the rows of
/// `description`, or [`ErrorKind::PartialRow`].
pub(crate) fn whole_rows(
    path: &Path,
    description: &Description,
    written: u64,
    empty_rows: u64,
) -> Result<u64, Error> {
    let row_len = description.row_len();
    let base = description.outer_len().unwrap_or(0);
    if row_len == 0 {
        return Ok(base + empty_rows);
    }
    if !written.is_multiple_of(row_len) {
        return Err(Error::new(path, ErrorKind::PartialRow { row_len, written }));
    }
    Ok(base + written / row_len)
}

/// `counted` rows of 0 bytes and `rows` more, if rows have 0 bytes and the size bound
/// allows them.
pub(crate) fn count_empty_rows(
    path: &Path,
    description: &Description,
    counted: u64,
    rows: u64,
) -> Result<u64, Error> {
    let row_len = description.row_len();
    if row_len != 0 {
        return Err(Error::new(path, ErrorKind::RowsNotEmpty { row_len }));
    }
    let base = description.outer_len().unwrap_or(0);
    let total = counted.saturating_add(rows);
    let found = base.saturating_add(total);
    if description.with_outer_len(found).is_err() {
        let max = match Bound::rows_after(description) {
            Some(Bound::Rows { max_rows, .. }) => max_rows,
            _ => 0,
        };
        return Err(Error::new(path, ErrorKind::TooManyRows { max, found }));
    }
    Ok(total)
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("path", &self.path)
            .field("description", self.header.description())
            .field("growing", &self.growing)
            .field("written", &self.sink.written())
            .finish_non_exhaustive()
    }
}

impl Write for StreamWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink.flush(self.pending.file()).map_err(io::Error::other)
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
        assert!(out.sink.write_behind.syncer.is_some(), "the helper started");
        out.finish().unwrap();
        let array = crate::open(dir.path().join("out.arr")).unwrap();
        assert!(array.as_bytes() == &data[..]);
        assert!(array.verify().is_valid());
    }
}
