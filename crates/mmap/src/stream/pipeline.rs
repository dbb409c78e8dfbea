//! The pipelined copy of [`super::StreamWriter::copy_from`]: the calling thread reads, swaps
//! and hashes chunks while a helper thread writes the chunks read before, so that reading and
//! writing the page cache overlap.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;
use std::thread;

use zerocopy::IntoBytes;

use super::write_behind::{WriteBehind, write_counted};
use super::{BUFFER_LEN, Block, CopyError, aligned_buffer};
use crate::error::Error;
use crate::fileio::read_full;

/// Chunks that a pipelined copy may have read but not yet written.
const PIPELINE_DEPTH: usize = 3;

/// The parts of a [`super::sink::PayloadSink`] that a pipelined copy uses, borrowed apart so that the
/// writer thread can have the file while the calling thread hashes.
pub(super) struct PipelinedCopy<'a> {
    pub(super) path: &'a Path,
    pub(super) file: &'a File,
    pub(super) hasher: &'a mut crc32fast::Hasher,
    pub(super) written: &'a mut u64,
    pub(super) write_behind: &'a mut WriteBehind,
}

impl PipelinedCopy<'_> {
    /// Reads, swaps and hashes chunks here; a scoped thread writes them. `buffer` is the
    /// writer's own, used first and handed back (or a new one) at the end.
    ///
    /// Copies `expected` bytes: exactly (`exact`: an input that ends first is
    /// [`CopyError::ShortInput`]), or at most, up to the end of the input.
    pub(super) fn run(
        self,
        reader: &mut impl Read,
        swap_unit: Option<usize>,
        mut progress: impl FnMut(u64),
        expected: u64,
        exact: bool,
        buffer: &mut Vec<Block>,
    ) -> Result<u64, CopyError> {
        let PipelinedCopy { path, file, hasher, written, write_behind } = self;
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
                        return if exact { Err(short(copied, expected)) } else { Ok(()) };
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
pub(super) fn fill_chunk(
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

pub(super) fn short(copied: u64, expected: u64) -> CopyError {
    CopyError::ShortInput { copied, expected }
}
