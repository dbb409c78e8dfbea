//! The payload CRC on every core: CRC-32 parts combine, so each thread hashes one part.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Parts smaller than this are not worth a thread.
const MIN_PART: usize = 16 << 20;

/// CRC-32/IEEE of `bytes`, computed on up to all available cores.
///
/// ```
/// let data = vec![7u8; 1 << 20];
/// assert_eq!(arrfile_mmap::crc32_parallel(&data), arrfile_format::crc32(&data));
/// ```
pub fn crc32_parallel(bytes: &[u8]) -> u32 {
    let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    crc32_with_threads(bytes, cores)
}

/// Bytes a thread takes at a time: small enough that a thread slowed down (by another
/// process, or by the hypervisor) leaves the rest to the others instead of holding everyone
/// up with half the work, large enough that taking and combining parts costs nothing.
const PIECE: usize = 8 << 20;

/// CRC-32/IEEE of `bytes` on at most `threads` threads (1 means the calling thread only).
///
/// The calling thread works too. The threads take `PIECE`-sized parts in turn from a shared
/// counter, so that one slowed thread delays the result by one part, not by its share of the
/// payload; the parts' CRCs are then combined in order.
pub fn crc32_with_threads(bytes: &[u8], threads: usize) -> u32 {
    let threads = threads.min(bytes.len() / MIN_PART).max(1);
    if threads == 1 {
        return crc32fast::hash(bytes);
    }
    let pieces: Vec<&[u8]> = bytes.chunks(PIECE).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(piece) = pieces.get(index) else { return done };
            let mut hasher = crc32fast::Hasher::new();
            hasher.update(piece);
            done.push((index, hasher));
        }
    };
    let mut hashed = thread::scope(|scope| {
        // A helper that cannot start leaves its share to the others.
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| thread::Builder::new().spawn_scoped(scope, work).ok())
            .collect();
        let mut hashed = work();
        for helper in helpers {
            // Hashing cannot panic; should a helper die anyway, its parts are redone below.
            hashed.extend(helper.join().unwrap_or_default());
        }
        hashed
    });
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
    total.finalize()
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod tests {
    use super::*;

    #[test]
    fn parts_combine_to_the_whole() {
        let data: Vec<u8> = (0..(3 * MIN_PART + 12345)).map(|i| (i * 7 % 253) as u8).collect();
        let whole = crc32fast::hash(&data);
        for threads in 1..=5 {
            assert_eq!(crc32_with_threads(&data, threads), whole, "{threads} threads");
        }
        assert_eq!(crc32_with_threads(&[], 4), 0);
    }
}

/// CRC-32/IEEE of `len` zero bytes, in O(log len) steps and without reading anything: the
/// checksum of a freshly created, sparse payload.
///
/// ```
/// assert_eq!(arrfile_mmap::crc32_of_zeros(10_000), arrfile_format::crc32(&[0; 10_000]));
/// ```
pub fn crc32_of_zeros(len: u64) -> u32 {
    // `block` hashes 2^k zeros; doubling it combines it with itself.
    let mut block = crc32fast::Hasher::new();
    block.update(&[0]);
    let mut total = crc32fast::Hasher::new();
    let mut rest = len;
    while rest > 0 {
        if rest & 1 == 1 {
            total.combine(&block);
        }
        rest >>= 1;
        if rest > 0 {
            let copy = block.clone();
            block.combine(&copy);
        }
    }
    total.finalize()
}

#[cfg(test)]
#[allow(clippy::cast_possible_truncation)]
mod zero_tests {
    use super::*;

    #[test]
    fn crc_of_zeros_matches_hashing_them() {
        for len in [0u64, 1, 2, 3, 7, 64, 4095, 4096, 100_003] {
            assert_eq!(crc32_of_zeros(len), crc32fast::hash(&vec![0; len as usize]), "{len}");
        }
    }
}
