//! Advisory locks between processes: shared for readers, exclusive for writers.

use std::fs::{File, TryLockError};
use std::path::Path;

use crate::error::{Error, ErrorKind};

/// Which lock an open takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LockKind {
    Shared,
    Exclusive,
}

/// Whether to wait for a conflicting lock to be released.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockWait {
    /// Fail at once with [`ErrorKind::Locked`] (the default).
    #[default]
    NoWait,
    /// Block until the other process releases its lock.
    Wait,
}

/// Takes the lock on `file`; it is released when the file is closed.
pub(crate) fn lock(file: &File, path: &Path, kind: LockKind, wait: LockWait) -> Result<(), Error> {
    let result = match (kind, wait) {
        (LockKind::Shared, LockWait::Wait) => file.lock_shared().map_err(TryLockError::Error),
        (LockKind::Exclusive, LockWait::Wait) => file.lock().map_err(TryLockError::Error),
        (LockKind::Shared, LockWait::NoWait) => file.try_lock_shared(),
        (LockKind::Exclusive, LockWait::NoWait) => file.try_lock(),
    };
    match result {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => {
            let (wanted, held) = match kind {
                LockKind::Shared => ("a shared lock", "an exclusive (writer's) lock"),
                LockKind::Exclusive => ("an exclusive lock", "a shared or exclusive lock"),
            };
            Err(Error::new(path, ErrorKind::Locked { wanted, held }))
        }
        Err(TryLockError::Error(e)) => Err(Error::io(path, "locking the file", e)),
    }
}
