//! The payload CRC on every core, with progress and cancellation: one engine
//! (`crc32_of_pieces`) behind [`crate::ReadArray::verify`], [`crate::ReadArray::verify_with`],
//! [`crate::ArrayReader::verify_with`], `commit` and `finish`, over a map or over `pread`s.
//! CRC-32 parts combine, so each thread hashes one part at a time.

use std::fs::File;
use std::io;
use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;

/// Payloads smaller than this per thread are not worth a thread.
const MIN_PART: usize = 16 << 20;

/// Bytes a thread takes at a time: small enough that a thread slowed down (by another
/// process, or by the hypervisor) leaves the rest to the others instead of holding everyone
/// up with half the work, and that progress and cancellation are prompt (a few ms); large
/// enough that taking and combining parts costs nothing.
const PIECE: usize = 8 << 20;

/// Bytes read at a time by the `pread` verify: well inside a core's L2 cache.
const READ_LEN: usize = 256 << 10;

/// CRC-32/ISO-HDLC of `bytes`, computed on up to all available cores.
pub(crate) fn crc32_parallel(bytes: &[u8]) -> u32 {
    let done = crc32_with_progress(bytes, cores(), &mut |_| ControlFlow::Continue(()));
    // Cannot be stopped: the progress callback never breaks.
    done.unwrap_or_else(|| crc32fast::hash(bytes))
}

/// The number of cores this process may use.
pub(crate) fn cores() -> usize {
    thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// CRC-32/ISO-HDLC of `bytes` on at most `threads` threads (1: the calling thread only).
///
/// Public, but hidden from the docs, for the benchmarks, which measure one and two cores;
/// use [`crate::ReadArray::verify`].
#[doc(hidden)]
pub fn crc32_with_threads(bytes: &[u8], threads: usize) -> u32 {
    let done = crc32_with_progress(bytes, threads, &mut |_| ControlFlow::Continue(()));
    done.unwrap_or_else(|| crc32fast::hash(bytes))
}

/// CRC-32/ISO-HDLC of `bytes` on at most `threads` threads, calling `progress` on the
/// calling thread with the bytes hashed so far (after each part it hashes, and once at the
/// end with the total); `None` when `progress` returned [`ControlFlow::Break`].
pub(crate) fn crc32_with_progress(
    bytes: &[u8],
    threads: usize,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
) -> Option<u32> {
    let hash = |index: usize, _: &mut Vec<u8>| {
        let piece = &bytes[index * PIECE..bytes.len().min((index + 1) * PIECE)];
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(piece);
        Ok((piece.len() as u64, hasher))
    };
    let count = bytes.len().div_ceil(PIECE);
    // Reading memory cannot fail.
    crc32_of_pieces(count, bytes.len() as u64, threads, progress, hash).ok().flatten()
}

/// CRC-32/ISO-HDLC of `len` bytes of `file` from `offset`, read with positioned reads
/// (`pread`) into a buffer per thread, on up to `threads` threads; progress and cancellation
/// as [`crc32_with_progress`].
///
/// Reading rather than mapping turns a file truncated under the reader (by a program that
/// ignores locks, or a network filesystem) into an error instead of `SIGBUS`.
pub(crate) fn crc32_of_file(
    file: &File,
    offset: u64,
    len: u64,
    threads: usize,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
) -> io::Result<Option<u32>> {
    let piece = PIECE as u64;
    let hash = |index: usize, buffer: &mut Vec<u8>| {
        let start = index as u64 * piece;
        let n = piece.min(len - start);
        // Read in parts small enough to stay in the core's cache between the copy and the
        // CRC: one pass over memory, not three (measured: 8 MiB reads made verify ~1.4×
        // slower than hashing the map; these make it as fast).
        buffer.resize(READ_LEN, 0);
        let mut hasher = crc32fast::Hasher::new();
        let mut done = 0;
        while done < n {
            let part = usize::try_from((n - done).min(READ_LEN as u64)).unwrap_or(READ_LEN);
            file.read_exact_at(&mut buffer[..part], offset + start + done)?;
            hasher.update(&buffer[..part]);
            done += part as u64;
        }
        Ok((n, hasher))
    };
    let count = usize::try_from(len.div_ceil(piece)).unwrap_or(usize::MAX);
    crc32_of_pieces(count, len, threads, progress, hash)
}

/// The one engine of every payload CRC: `count` pieces of at most `PIECE` bytes, each hashed
/// by `hash(index, scratch)`, on at most `threads` threads (fewer for small payloads), their
/// CRCs combined in order.
///
/// The calling thread works too, and reports progress after each piece it hashes. The threads
/// take pieces in turn from a shared counter, so that one slowed thread delays the result by
/// one piece, not by its share of the payload. A break from `progress` or an error from
/// `hash` stops every thread at its next piece; the first error is returned.
fn crc32_of_pieces(
    count: usize,
    len: u64,
    threads: usize,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
    hash: impl Fn(usize, &mut Vec<u8>) -> io::Result<(u64, crc32fast::Hasher)> + Sync,
) -> io::Result<Option<u32>> {
    let threads = threads.min(usize::try_from(len / MIN_PART as u64).unwrap_or(usize::MAX)).max(1);
    let next = AtomicUsize::new(0);
    let hashed_bytes = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<io::Error>> = Mutex::new(None);
    // The next piece, hashed: `None` when there are no more, or when this or another thread
    // must stop (the error, if any, is kept).
    let take = |scratch: &mut Vec<u8>| -> Option<(usize, u64, crc32fast::Hasher)> {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= count {
            return None;
        }
        match hash(index, scratch) {
            Ok((n, hasher)) => {
                let so_far = hashed_bytes.fetch_add(n, Ordering::Relaxed) + n;
                Some((index, so_far, hasher))
            }
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                if let Ok(mut first) = failure.lock() {
                    first.get_or_insert(e);
                }
                None
            }
        }
    };
    let work = || {
        let (mut done, mut scratch) = (Vec::new(), Vec::new());
        while let Some((index, _, hasher)) = take(&mut scratch) {
            done.push((index, hasher));
        }
        done
    };
    let mut stopped = false;
    let mut hashed = thread::scope(|scope| {
        // A helper that cannot start leaves its share to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let (mut hashed, mut scratch) = (Vec::new(), Vec::new());
        while let Some((index, so_far, hasher)) = take(&mut scratch) {
            hashed.push((index, hasher));
            if progress(so_far).is_break() {
                stopped = true;
                stop.store(true, Ordering::Relaxed);
            }
        }
        for helper in helpers {
            // Hashing cannot panic; should a helper die anyway, its pieces are redone below.
            hashed.extend(helper.join().unwrap_or_default());
        }
        hashed
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    if stopped || progress(len).is_break() {
        return Ok(None);
    }
    hashed.sort_unstable_by_key(|(index, _)| *index);
    let mut total = crc32fast::Hasher::new();
    let mut parts = hashed.into_iter().peekable();
    let mut scratch = Vec::new();
    for index in 0..count {
        match parts.next_if(|(i, _)| *i == index) {
            Some((_, hasher)) => total.combine(&hasher),
            None => total.combine(&hash(index, &mut scratch)?.1),
        }
    }
    Ok(Some(total.finalize()))
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    fn data() -> Vec<u8> {
        (0..(3 * MIN_PART + 12345)).map(|i| (i * 7 % 253) as u8).collect()
    }

    #[test]
    fn parts_combine_to_the_whole() {
        let data = data();
        let whole = crc32fast::hash(&data);
        for threads in 1..=5 {
            assert_eq!(crc32_with_threads(&data, threads), whole, "{threads} threads");
        }
        assert_eq!(crc32_with_threads(&[], 4), 0);
        assert_eq!(crc32_parallel(&data), whole);
    }

    #[test]
    fn progress_rises_to_the_total() {
        let data = data();
        for threads in [1, 2, 4] {
            let mut seen = Vec::new();
            let crc = crc32_with_progress(&data, threads, &mut |n| {
                seen.push(n);
                ControlFlow::Continue(())
            });
            assert_eq!(crc, Some(crc32fast::hash(&data)));
            assert_eq!(seen.last(), Some(&(data.len() as u64)), "{threads} threads");
            assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{threads} threads: {seen:?}");
        }
        let mut calls = 0;
        let empty = crc32_with_progress(&[], 2, &mut |n| {
            calls += 1;
            assert_eq!(n, 0);
            ControlFlow::Continue(())
        });
        assert_eq!((empty, calls), (Some(0), 1));
    }

    #[test]
    fn reading_the_file_gives_the_crc_of_mapping_it() {
        let data = data();
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &[7; 100]).unwrap();
        std::io::Write::write_all(&mut file, &data).unwrap();
        let whole = crc32fast::hash(&data);
        for threads in [1, 2, 4] {
            let mut last = 0;
            let crc = crc32_of_file(&file, 100, data.len() as u64, threads, &mut |n| {
                last = n;
                ControlFlow::Continue(())
            });
            assert_eq!(crc.unwrap(), Some(whole), "{threads} threads");
            assert_eq!(last, data.len() as u64);
        }
        // Cut short under the reader: an error, not a signal.
        file.set_len(1000).unwrap();
        let short =
            crc32_of_file(&file, 100, data.len() as u64, 2, &mut |_| ControlFlow::Continue(()));
        assert_eq!(short.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        let stopped = crc32_of_file(&file, 0, 1000, 2, &mut |_| ControlFlow::Break(()));
        assert_eq!(stopped.unwrap(), None);
    }

    #[test]
    fn a_break_stops_every_thread() {
        let data = data();
        for threads in [1, 2, 4] {
            let mut calls = 0;
            let crc = crc32_with_progress(&data, threads, &mut |_| {
                calls += 1;
                ControlFlow::Break(())
            });
            assert_eq!(crc, None);
            assert_eq!(calls, 1, "{threads} threads: no call after the break");
        }
    }
}
