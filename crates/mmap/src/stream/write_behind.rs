//! Write-behind: the kernel writes the file back while the payload is still being written,
//! so that the fsync of [`super::StreamWriter::finish`] finds only the tail left.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc;
use std::thread;

use crate::error::Error;

/// Bytes written between two write-behind requests. Writers of smaller files never start
/// the helper thread.
pub(super) const WRITE_BEHIND: u64 = 32 << 20;

/// The helper thread of write-behind, and where it sends its result.
pub(super) type Syncer = (mpsc::SyncSender<()>, thread::JoinHandle<io::Result<()>>);

/// Starts the writeback of what was written while more is being written: every
/// [`WRITE_BEHIND`] bytes, a helper thread (started on first need) calls `fdatasync` on the
/// file. At most one request waits while one runs; a later one covers everything before it.
///
/// `fdatasync` reports a writeback error once per open file description, which the helper
/// shares: its first error is kept and returned by [`WriteBehind::finish`], so that an error
/// it consumed still fails [`StreamWriter::finish`].
#[derive(Default)]
pub(super) struct WriteBehind {
    pending: u64,
    pub(super) syncer: Option<Syncer>,
    unavailable: bool,
}

impl WriteBehind {
    /// Counts `n` bytes written to `file`; asks for writeback every [`WRITE_BEHIND`] bytes.
    pub(super) fn wrote(&mut self, file: &File, n: usize) {
        self.pending += n as u64;
        if self.pending < WRITE_BEHIND {
            return;
        }
        self.pending = 0;
        if self.syncer.is_none() && !self.unavailable {
            self.syncer = Self::start(file);
            self.unavailable = self.syncer.is_none();
        }
        if let Some((requests, _)) = &self.syncer {
            // Full: a request is already waiting, and it will cover these bytes too.
            // Disconnected: the helper stopped on an error, which `finish` returns.
            let _ = requests.try_send(());
        }
    }

    /// The helper thread, on a duplicate of the descriptor; `None` when it cannot start (the
    /// writer then works as before, with all the writeback in the final fsync).
    fn start(file: &File) -> Option<Syncer> {
        let file = file.try_clone().ok()?;
        let (requests, received) = mpsc::sync_channel::<()>(1);
        let thread = thread::Builder::new()
            .name("arrfile-write-behind".into())
            .spawn(move || {
                for () in received {
                    file.sync_data()?;
                }
                Ok(())
            })
            .ok()?;
        Some((requests, thread))
    }

    /// Stops the helper, waiting for a running `fdatasync`; returns its first error.
    pub(super) fn finish(&mut self) -> io::Result<()> {
        match self.syncer.take() {
            None => Ok(()),
            Some((requests, thread)) => {
                drop(requests);
                thread.join().unwrap_or(Ok(()))
            }
        }
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Writes all of `bytes` to `file` and counts them for write-behind.
pub(super) fn write_counted(
    file: &File,
    path: &Path,
    write_behind: &mut WriteBehind,
    bytes: &[u8],
) -> Result<(), Error> {
    let mut writer = file;
    writer.write_all(bytes).map_err(|e| Error::io(path, "writing the payload", e))?;
    write_behind.wrote(file, bytes.len());
    Ok(())
}
