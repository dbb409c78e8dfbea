//! The one place that maps files.
//!
//! # The hazard of mapped files
//!
//! A mapping shows the file's bytes as they are *now*. If any process (this one included)
//! truncates the file while it is mapped, touching the lost pages raises `SIGBUS`; if another
//! process writes the mapped bytes, a `&[u8]` handed out here changes under its borrower, which
//! Rust counts as undefined behaviour. memmap2 makes mapping `unsafe` for these reasons.
//!
//! This crate makes the hazard a protocol rather than a hope:
//! - every open holds an advisory lock for as long as the mapping lives: shared for readers
//!   (`r`, `c`), exclusive for writers (`r+`, `w+`), so cooperating processes never write a
//!   file that another has mapped for reading, nor one that another has mapped for writing;
//! - a `w+` file is written only through its creator's map: its temporary path is not part of
//!   the API, so no other process is invited to write the bytes behind its `&mut [u8]` (to
//!   fill a new file from several processes, each takes the exclusive lock in turn with `r+`);
//! - no code of this crate truncates or rewrites in place a file that may be mapped: new files
//!   are written to a sibling temporary file and renamed over the final path, which leaves
//!   existing mappings of the old file intact;
//! - the length of the file was checked against the header (R19, R20) just before mapping, and
//!   nothing outside `[data_offset, data_offset + data_len)` is mapped.
//!
//! Advisory locks bind only cooperating programs. A program that ignores them and truncates
//! or writes an arrfile that this crate has mapped breaks the assumption above; that is the
//! remaining, documented hazard of every memory-mapped file format.

use std::fs::File;
use std::io;

use memmap2::{Mmap, MmapMut, MmapOptions};

/// The payload's memory: a mapping of exactly the payload, or nothing when it is empty.
///
/// See the module documentation for the hazard and the protocol that contains it.
pub(crate) enum Payload {
    /// An empty payload: nothing is mapped (a zero-length map is an error on most systems,
    /// and numpy's maps the whole file instead).
    Empty,
    /// Mode `r`.
    ReadOnly(Mmap),
    /// Modes `r+` and `w+`: writes reach the file.
    Shared(MmapMut),
    /// Mode `c`: writes stay in this process.
    Private(MmapMut),
}

/// How to map.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapMode {
    ReadOnly,
    Shared,
    Private,
}

impl Payload {
    /// Maps `len` bytes of `file` from `offset`.
    ///
    /// The caller has validated the header against the file's current length, so that
    /// `offset + len` is the length of the file, and holds the lock that `mode` needs.
    pub(crate) fn map(file: &File, offset: u64, len: usize, mode: MapMode) -> io::Result<Payload> {
        if len == 0 {
            return Ok(Payload::Empty);
        }
        let mut options = MmapOptions::new();
        options.offset(offset).len(len);
        // SAFETY: memmap2 requires that the mapped range is not truncated or modified by
        // others while mapped. The range lies within the file (its length was just checked
        // against the header), and the caller holds the advisory lock of the mode: readers a
        // shared lock, which every writer of this crate must exclude, writers an exclusive
        // one. This crate never truncates a file that may be mapped. The remaining hazard,
        // programs that ignore the locks, is documented at the module level.
        let payload = unsafe {
            match mode {
                MapMode::ReadOnly => Payload::ReadOnly(options.map(file)?),
                MapMode::Shared => Payload::Shared(options.map_mut(file)?),
                MapMode::Private => Payload::Private(options.map_copy(file)?),
            }
        };
        Ok(payload)
    }

    /// The payload bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Payload::Empty => &[],
            Payload::ReadOnly(map) => map,
            Payload::Shared(map) | Payload::Private(map) => map,
        }
    }

    /// The payload bytes for writing; empty for read-only maps (which no writer has).
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Payload::Empty | Payload::ReadOnly(_) => &mut [],
            Payload::Shared(map) | Payload::Private(map) => map,
        }
    }

    /// Writes changed pages of a shared map to the file and waits for them.
    pub(crate) fn flush(&self) -> io::Result<()> {
        match self {
            Payload::Shared(map) => map.flush(),
            Payload::Empty | Payload::ReadOnly(_) | Payload::Private(_) => Ok(()),
        }
    }
}
