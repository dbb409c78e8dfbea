//! The payload CRC on every core, with progress and cancellation: the one implementation
//! behind [`crate::ReadArray::verify`], [`crate::ReadArray::verify_with`], `commit` and
//! `finish`. CRC-32 parts combine, so each thread hashes one part at a time.

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
///
/// The calling thread works too. The threads take `PIECE`-sized parts in turn from a shared
/// counter, so that one slowed thread delays the result by one part, not by its share of the
/// payload; the parts' CRCs are then combined in order. A break stops every thread at its
/// next part.
pub(crate) fn crc32_with_progress(
    bytes: &[u8],
    threads: usize,
    progress: &mut dyn FnMut(u64) -> ControlFlow<()>,
) -> Option<u32> {
    let threads = threads.min(bytes.len() / MIN_PART).max(1);
    let pieces: Vec<&[u8]> = bytes.chunks(PIECE).collect();
    let next = AtomicUsize::new(0);
    let hashed_bytes = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let work = || {
        let mut done = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(piece) = pieces.get(index) else { break };
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(piece);
            hashed_bytes.fetch_add(piece.len() as u64, Ordering::Relaxed);
            done.push((index, hasher));
        }
        done
    };
    let mut hashed = thread::scope(|scope| {
        // A helper that cannot start leaves its share to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        // The calling thread hashes one part at a time, reporting after each.
        let mut hashed = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(piece) = pieces.get(index) else { break };
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(piece);
            let so_far = hashed_bytes.fetch_add(piece.len() as u64, Ordering::Relaxed);
            hashed.push((index, hasher));
            if progress(so_far + piece.len() as u64).is_break() {
                stop.store(true, Ordering::Relaxed);
            }
        }
        for helper in helpers {
            // Hashing cannot panic; should a helper die anyway, its parts are redone below.
            hashed.extend(helper.join().unwrap_or_default());
        }
        hashed
    });
    if stop.load(Ordering::Relaxed) || progress(bytes.len() as u64).is_break() {
        return None;
    }
    hashed.sort_unstable_by_key(|(index, _)| *index);
    let mut total = crc32fast::Hasher::new();
    let mut parts = hashed.into_iter().peekable();
    for (index, piece) in pieces.iter().enumerate() {
        match parts.next_if(|(i, _)| *i == index) {
            Some((_, hasher)) => total.combine(&hasher),
            None => {
                let mut hasher = crc32fast::Hasher::new();
                hasher.update(piece);
                total.combine(&hasher);
            }
        }
    }
    Some(total.finalize())
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
    let count = usize::try_from(len.div_ceil(piece)).unwrap_or(usize::MAX);
    let threads = threads.min(usize::try_from(len / MIN_PART as u64).unwrap_or(usize::MAX)).max(1);
    let next = AtomicUsize::new(0);
    let hashed_bytes = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<io::Error>> = Mutex::new(None);
    // Hashes piece `index`; `None` when reading failed (the error is kept, every thread stops).
    let hash_piece = |index: usize, buffer: &mut Vec<u8>| -> Option<(usize, crc32fast::Hasher)> {
        let start = index as u64 * piece;
        let n = usize::try_from(piece.min(len - start)).ok()?;
        buffer.resize(n, 0);
        match file.read_exact_at(buffer, offset + start) {
            Ok(()) => {
                let mut hasher = crc32fast::Hasher::new();
                hasher.update(buffer);
                Some((index, hasher))
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
        let mut done = Vec::new();
        let mut buffer = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= count {
                break;
            }
            let Some(part) = hash_piece(index, &mut buffer) else { break };
            hashed_bytes.fetch_add(buffer.len() as u64, Ordering::Relaxed);
            done.push(part);
        }
        done
    };
    let mut stopped_by_caller = false;
    let mut hashed = thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut hashed = Vec::new();
        let mut buffer = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= count {
                break;
            }
            let Some(part) = hash_piece(index, &mut buffer) else { break };
            let so_far = hashed_bytes.fetch_add(buffer.len() as u64, Ordering::Relaxed);
            hashed.push(part);
            if progress(so_far + buffer.len() as u64).is_break() {
                stopped_by_caller = true;
                stop.store(true, Ordering::Relaxed);
            }
        }
        for helper in helpers {
            hashed.extend(helper.join().unwrap_or_default());
        }
        hashed
    });
    if let Some(e) = failure.into_inner().ok().flatten() {
        return Err(e);
    }
    if stopped_by_caller || progress(len).is_break() {
        return Ok(None);
    }
    hashed.sort_unstable_by_key(|(index, _)| *index);
    if hashed.len() != count {
        // A helper died (hashing cannot panic, but a thread can be killed): hash it again.
        return crc32_of_file(file, offset, len, 1, &mut |_| ControlFlow::Continue(()));
    }
    let mut total = crc32fast::Hasher::new();
    for (_, hasher) in hashed {
        total.combine(&hasher);
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
