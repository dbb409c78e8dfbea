//! Ctrl-C and SIGTERM: a flag that long copies check, so they stop and clean up.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks running copies to stop (called from the signal handler).
pub(crate) fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Whether a stop was asked for.
pub(crate) fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// The error a reader returns once a stop was asked for.
pub(crate) fn interrupted_error() -> io::Error {
    io::Error::other("interrupted by a signal")
}

/// A reader that fails once a stop was asked for, so that a copy through it ends, and its
/// writer is dropped, which removes the temporary file.
pub(crate) struct StopOnSignal<R>(pub(crate) R);

impl<R: Read> Read for StopOnSignal<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if requested() {
            return Err(interrupted_error());
        }
        self.0.read(buf)
    }
}
