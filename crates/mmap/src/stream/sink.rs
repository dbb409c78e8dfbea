//! The payload writer that [`super::StreamWriter`] (a new file) and [`crate::Appender`] (rows
//! after a committed array) share: buffered sequential writes at the file's cursor, the CRC
//! of what was written, write-behind, the pipelined copy, byte-order conversion, and a
//! bound on the length checked before anything is written past it.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use arrfile_format::{Description, MAX_DATA_LEN};
use zerocopy::IntoBytes;

use super::pipeline::{PipelinedCopy, fill_chunk, short};
use super::write_behind::{WriteBehind, write_counted};
use super::{BUFFER_LEN, Block, CopyError, aligned_buffer};
use crate::error::{Error, ErrorKind};
use crate::fileio::read_full;

/// How many bytes a sink takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    /// A new file's payload of exactly this many bytes.
    Exact(u64),
    /// Rows of `row_len` bytes after `base_rows` rows, at most `max_rows` rows in all: the
    /// spec's size bound (2^62 bytes) for the dtype and trailing shape. The number of rows
    /// is decided by the caller, at its end.
    Rows {
        /// Bytes per row (index of the outer axis); may be 0.
        row_len: u64,
        /// Rows before the first byte of this sink (a committed array's outer length).
        base_rows: u64,
        /// The most rows the array may have.
        max_rows: u64,
    },
}

impl Bound {
    /// Rows after those of `description`, whose outer axis grows; `None` for a 0-d array.
    pub(crate) fn rows_after(description: &Description) -> Option<Bound> {
        let base_rows = description.outer_len()?;
        // R13 bounds itemsize × the non-zero dimensions: the outer length may grow until
        // that product reaches 2^62 (whatever a trailing 0 makes of the byte count).
        let unit = description
            .trailing_shape()
            .iter()
            .filter(|&&dim| dim != 0)
            .fold(description.dtype().itemsize() as u64, |acc, &dim| acc.saturating_mul(dim));
        let max_rows = MAX_DATA_LEN / unit.max(1);
        Some(Bound::Rows { row_len: description.row_len(), base_rows, max_rows })
    }

    /// The most bytes the sink takes.
    fn limit(self) -> u64 {
        match self {
            Bound::Exact(len) => len,
            // A valid header has base_rows ≤ max_rows, and max_rows × row_len ≤ 2^62.
            Bound::Rows { row_len, base_rows, max_rows } => {
                max_rows.saturating_sub(base_rows).saturating_mul(row_len)
            }
        }
    }

    /// Why `offered` bytes in all are refused.
    fn refusal(self, offered: u64) -> ErrorKind {
        match self {
            Bound::Exact(expected) => ErrorKind::WrongPayloadLength { expected, written: offered },
            Bound::Rows { row_len: 0, .. } => {
                ErrorKind::PartialRow { row_len: 0, written: offered }
            }
            Bound::Rows { row_len, base_rows, max_rows } => ErrorKind::TooManyRows {
                max: max_rows,
                found: base_rows.saturating_add(offered.div_ceil(row_len)),
            },
        }
    }
}

/// Buffered, hashed, bounded writing of payload bytes at the cursor of a file that its owner
/// holds (and passes to each call, so that the owner keeps it for its header writes).
pub(crate) struct PayloadSink {
    path: PathBuf,
    /// The file offset of the sink's first byte, to tell what reached the file after a
    /// failed write.
    start: u64,
    bound: Bound,
    hasher: crc32fast::Hasher,
    written: u64,
    buffer: Vec<Block>,
    filled: usize,
    pub(super) write_behind: WriteBehind,
    /// A write failed: the bytes counted and hashed may not all be in the file, so the sink
    /// refuses to go on, and its owner to commit.
    failed: bool,
}

impl PayloadSink {
    /// A sink whose first byte goes to file offset `start` (where the owner has put the
    /// file's cursor).
    pub(crate) fn new(path: &Path, start: u64, bound: Bound) -> PayloadSink {
        PayloadSink {
            path: path.to_owned(),
            start,
            bound,
            hasher: crc32fast::Hasher::new(),
            written: 0,
            buffer: aligned_buffer(BUFFER_LEN),
            filled: 0,
            write_behind: WriteBehind::default(),
            failed: false,
        }
    }

    /// Bytes received so far (hashed; some may still be in the buffer).
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Bytes the bound still allows.
    pub(crate) fn remaining(&self) -> u64 {
        self.bound.limit().saturating_sub(self.written)
    }

    pub(crate) fn check_room(&self, len: usize) -> Result<(), Error> {
        let offered = self.written.saturating_add(len as u64);
        if offered > self.bound.limit() {
            return Err(Error::new(&self.path, self.bound.refusal(offered)));
        }
        Ok(())
    }

    /// After a failed write: the error that further writes and the owner's commit give,
    /// with the bytes that really reached the file.
    pub(crate) fn refuse_after_failure(&self, file: &File) -> Result<(), Error> {
        if !self.failed {
            return Ok(());
        }
        let on_disk = file.metadata().map_or(0, |m| m.len()).saturating_sub(self.start);
        let kind = match self.bound {
            Bound::Exact(expected) => ErrorKind::WrongPayloadLength { expected, written: on_disk },
            Bound::Rows { .. } => ErrorKind::EarlierWriteFailed { given: self.written, on_disk },
        };
        Err(Error::new(&self.path, kind))
    }

    /// Writes payload bytes, as stored (in the file's byte order).
    pub(crate) fn write_bytes(&mut self, file: &File, bytes: &[u8]) -> Result<(), Error> {
        self.refuse_after_failure(file)?;
        self.check_room(bytes.len())?;
        let result = self.append(file, bytes);
        self.failed |= result.is_err();
        result
    }

    fn append(&mut self, file: &File, mut bytes: &[u8]) -> Result<(), Error> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        // A large write with nothing buffered goes straight to the file: no copy.
        if self.filled == 0 && bytes.len() >= BUFFER_LEN {
            return self.write_through(file, bytes);
        }
        while !bytes.is_empty() {
            let buffer = self.buffer.as_mut_bytes();
            let n = bytes.len().min(buffer.len() - self.filled);
            buffer[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == buffer.len() {
                self.flush_buffer(file)?;
            }
        }
        Ok(())
    }

    /// Writes `bytes` with each unit of `swap_unit` bytes reversed (elements given in the
    /// other byte order), through a bounded scratch buffer.
    pub(crate) fn write_swapped(
        &mut self,
        file: &File,
        bytes: &[u8],
        swap_unit: usize,
    ) -> Result<(), Error> {
        self.refuse_after_failure(file)?;
        self.check_room(bytes.len())?;
        let mut scratch = aligned_buffer(BUFFER_LEN.min(bytes.len().next_multiple_of(64)));
        let scratch = scratch.as_mut_bytes();
        let step = scratch.len() / swap_unit * swap_unit;
        for chunk in bytes.chunks(step.max(swap_unit)) {
            let out = &mut scratch[..chunk.len()];
            out.copy_from_slice(chunk);
            out.chunks_mut(swap_unit).for_each(<[u8]>::reverse);
            self.write_bytes(file, out)?;
        }
        Ok(())
    }

    /// Copies from `reader` (see [`super::StreamWriter::copy_from`]): exactly the rest of an
    /// [`Bound::Exact`] payload, or everything up to the end of the input for
    /// [`Bound::Rows`] (more than the bound allows is refused).
    pub(crate) fn copy_from(
        &mut self,
        file: &File,
        reader: &mut impl Read,
        swap_unit: Option<usize>,
        progress: impl FnMut(u64),
    ) -> Result<u64, CopyError> {
        self.refuse_after_failure(file)?;
        let result = self.copy(file, reader, swap_unit, progress);
        self.failed |= result.is_err();
        let copied = result?;
        if !matches!(self.bound, Bound::Exact(_)) && self.remaining() == 0 {
            // Up to the bound: one byte more in the input is one too many.
            let mut probe = [0u8; 1];
            if read_full(reader, &mut probe).map_err(CopyError::Read)? > 0 {
                let refused = self.bound.refusal(self.written.saturating_add(1));
                return Err(CopyError::Write(Error::new(&self.path, refused)));
            }
        }
        Ok(copied)
    }

    fn copy(
        &mut self,
        file: &File,
        reader: &mut impl Read,
        swap_unit: Option<usize>,
        progress: impl FnMut(u64),
    ) -> Result<u64, CopyError> {
        self.flush_buffer(file)?;
        let exact = matches!(self.bound, Bound::Exact(_));
        let limit = self.remaining();
        if exact && limit <= BUFFER_LEN as u64 {
            return self.copy_serial(file, reader, swap_unit, progress);
        }
        let mut buffer = std::mem::take(&mut self.buffer);
        let PayloadSink { path, hasher, written, write_behind, .. } = self;
        let copy = PipelinedCopy { path, file, hasher, written, write_behind };
        let result = copy.run(reader, swap_unit, progress, limit, exact, &mut buffer);
        self.buffer = buffer;
        result
    }

    /// [`Self::copy_from`] on the calling thread alone: for payloads of one buffer or less.
    fn copy_serial(
        &mut self,
        file: &File,
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
                self.write_through(file, chunk)?;
                copied += n as u64;
                progress(copied);
            }
            Ok(copied)
        })();
        self.buffer = buffer;
        result
    }

    fn write_through(&mut self, file: &File, bytes: &[u8]) -> Result<(), Error> {
        write_counted(file, &self.path, &mut self.write_behind, bytes)
    }

    fn flush_buffer(&mut self, file: &File) -> Result<(), Error> {
        if self.filled > 0 {
            let filled = std::mem::take(&mut self.filled);
            let buffer = std::mem::take(&mut self.buffer);
            let result = self.write_through(file, &buffer.as_bytes()[..filled]);
            self.buffer = buffer;
            result?;
        }
        Ok(())
    }

    /// Writes what is buffered to the file (a failure is kept, as for any write).
    pub(crate) fn flush(&mut self, file: &File) -> Result<(), Error> {
        self.refuse_after_failure(file)?;
        let result = self.flush_buffer(file);
        self.failed |= result.is_err();
        result
    }

    /// After [`Self::flush`]: stops write-behind (returning the first error its `fdatasync`s
    /// met, which a later sync may not see again) and returns the CRC-32 of every byte
    /// written. The sink takes no more bytes.
    pub(crate) fn end(&mut self) -> Result<u32, Error> {
        let result = self.write_behind.finish();
        self.failed |= result.is_err();
        result.map_err(|e| Error::io(&self.path, "syncing the payload", e))?;
        Ok(std::mem::take(&mut self.hasher).finalize())
    }
}

#[cfg(test)]
mod tests {
    use arrfile_format::{Dtype, Order};

    use super::*;

    #[test]
    fn the_row_bound_follows_r13() {
        let desc = |dtype, shape: Vec<u64>| {
            Description::new(dtype, shape, Order::C, arrfile_format::ByteOrder::Little).unwrap()
        };
        let rows = |d: &Description| match Bound::rows_after(d) {
            Some(Bound::Rows { row_len, base_rows, max_rows }) => (row_len, base_rows, max_rows),
            other => panic!("{other:?}"),
        };
        assert_eq!(rows(&desc(Dtype::F64, vec![3, 4])), (32, 3, 1 << 57));
        // A trailing 0 makes rows of 0 bytes; the other dimensions still bound the count.
        assert_eq!(rows(&desc(Dtype::U16, vec![5, 0, 1 << 20])), (0, 5, 1 << 41));
        assert_eq!(rows(&desc(Dtype::U8, vec![7])), (1, 7, 1 << 62));
        assert_eq!(Bound::rows_after(&desc(Dtype::U8, vec![])), None);
        let f = Description::new(Dtype::U32, vec![2, 9], Order::F, arrfile_format::ByteOrder::Big)
            .unwrap();
        assert_eq!(rows(&f), (8, 9, 1 << 59));
    }

    #[test]
    fn bytes_past_the_row_bound_are_refused_before_they_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sink");
        let file = File::create(&path).unwrap();
        let bound = Bound::Rows { row_len: 4, base_rows: 10, max_rows: 12 };
        let mut sink = PayloadSink::new(&path, 0, bound);
        sink.write_bytes(&file, &[1; 5]).unwrap();
        let error = sink.write_bytes(&file, &[1; 4]).unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::TooManyRows { max: 12, found: 13 }), "{error}");
        // Refused, not failed: the sink goes on.
        sink.flush(&file).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 5);
        // A copy goes up to the bound, and refuses one byte more.
        assert_eq!(sink.copy_from(&file, &mut &[2u8; 3][..], None, |_| {}).unwrap(), 3);
        let more = sink.copy_from(&file, &mut &[3u8; 1][..], None, |_| {});
        match more {
            Err(CopyError::Write(e)) => {
                assert!(matches!(e.kind(), ErrorKind::TooManyRows { max: 12, found: 13 }), "{e}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(file.metadata().unwrap().len(), 8);
        assert_eq!(sink.end().unwrap(), arrfile_format::crc32(&[1, 1, 1, 1, 1, 2, 2, 2]));
    }
}
