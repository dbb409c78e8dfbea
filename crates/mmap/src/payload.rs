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
//!   existing mappings of the old file intact. Appends (format 1.1) only write after the
//!   committed end, and a rollback cuts only those bytes: committed bytes never change, and
//!   the file never becomes shorter than any mapping of its committed payload;
//! - the length of the file was checked against the header (R19; R20 unless an append is in
//!   progress) just before mapping, and nothing outside `[data_offset, data_offset + data_len)`
//!   is mapped: an append's uncommitted rows never are.
//!
//! Advisory locks bind only cooperating programs. A program that ignores them and truncates
//! or writes an arrfile that this crate has mapped breaks the assumption above; that is the
//! remaining, documented hazard of every memory-mapped file format. A program can at least
//! die of it politely: [`exit_on_mapping_fault`] turns the `SIGBUS` of a truncated map into a
//! line on stderr and an exit code (the `arrfile` command installs it); and
//! [`crate::ArrayReader`] reads instead of mapping, for passes where an error must be
//! returned, not the process ended.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};

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
    /// `offset + len` is at most the length of the file (the committed end; an append in
    /// progress may have written after it), and holds the lock that `mode` needs.
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
        // one. Appenders run beside readers but only write after the committed end, and
        // their rollback cuts only that; this crate never truncates a file below a mapped
        // range. The remaining hazard,
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

/// The line the fault handler writes, as a leaked buffer (pointer and length), and the exit
/// code: atomics, so that the handler reads them without locks (async-signal-safe).
static FAULT_MESSAGE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static FAULT_MESSAGE_LEN: AtomicUsize = AtomicUsize::new(0);
static FAULT_EXIT_CODE: AtomicI32 = AtomicI32::new(2);

/// For programs, not libraries: turns the `SIGBUS` that touching a mapped page of a file
/// another process truncated raises (see the module documentation) into the line set with
/// [`set_mapping_fault_message`] on stderr and exit code `code`, instead of a silent death
/// by signal (exit 135 in a shell). The `arrfile` command installs it at start.
///
/// # Errors
/// The operating system refused the handler.
pub fn exit_on_mapping_fault(code: u8) -> io::Result<()> {
    FAULT_EXIT_CODE.store(i32::from(code), Ordering::SeqCst);
    // SAFETY: `sigaction` is given a zeroed, then initialised `struct sigaction` whose
    // handler is `on_mapping_fault`, an `extern "C"` function that calls only
    // async-signal-safe functions (`write`, `_exit`) and reads only atomics.
    let result = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_mapping_fault as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGBUS, &action, std::ptr::null_mut())
    };
    if result == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// The line (with its newline) that [`exit_on_mapping_fault`]'s handler writes: set it to
/// name the file before each pass over a mapping.
pub fn set_mapping_fault_message(message: &str) {
    // Leaked on purpose: the handler may read it at any time; one short line per file.
    let bytes: &'static mut [u8] = Box::leak(message.as_bytes().to_vec().into_boxed_slice());
    FAULT_MESSAGE_LEN.store(0, Ordering::SeqCst);
    FAULT_MESSAGE.store(bytes.as_mut_ptr(), Ordering::SeqCst);
    FAULT_MESSAGE_LEN.store(bytes.len(), Ordering::SeqCst);
}

extern "C" fn on_mapping_fault(_signal: libc::c_int) {
    let message = FAULT_MESSAGE.load(Ordering::SeqCst);
    let len = FAULT_MESSAGE_LEN.load(Ordering::SeqCst);
    if !message.is_null() {
        // SAFETY: `message` points to a leaked buffer of at least `len` bytes that is never
        // freed (the length is stored after the pointer, and zeroed before it changes);
        // `write` is async-signal-safe.
        let _ = unsafe { libc::write(libc::STDERR_FILENO, message.cast(), len) };
    }
    // SAFETY: `_exit` is async-signal-safe and does not return.
    unsafe { libc::_exit(FAULT_EXIT_CODE.load(Ordering::SeqCst)) }
}
