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

/// Runs `f` (an open that may wait for another process's lock) on a helper thread, so that a
/// stop can end the wait: `None` when a stop was asked for first. The helper is left blocked
/// in its wait, and ends with the process; what it opens afterwards is dropped unused.
///
/// The waits themselves cannot be interrupted: the handler is installed with `SA_RESTART`,
/// so a blocking lock call resumes after the signal.
pub(crate) fn unless_stopped<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let helper = std::thread::spawn(move || {
        // The receiver is gone when a stop came first: the value is dropped here.
        let _ = tx.send(f());
    });
    loop {
        if requested() {
            return None;
        }
        match rx.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(value) => return Some(value),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            // The helper panicked before it sent anything: panic here too.
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                if let Err(panic) = helper.join() {
                    std::panic::resume_unwind(panic);
                }
                return None;
            }
        }
    }
}
