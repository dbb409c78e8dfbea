//! Advisory locks between processes: `flock` shared for readers, exclusive for writers; and
//! the OFD record locks of the append protocol ([`RecordLock`]).

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

/// The record locks of format 1.1's append protocol (spec §11): OFD locks over the whole
/// file, taken with `fcntl(F_OFD_SETLK / F_OFD_SETLKW)`.
///
/// Why OFD locks, and why not through rustix: POSIX `F_SETLK` locks belong to the process
/// and vanish when the process closes *any* descriptor of the file (a reader opened and
/// dropped in the same process would silently release an appender's lock); OFD locks belong
/// to the open file description, like `flock`. rustix's `fcntl_lock` takes `F_SETLK` locks,
/// so these go through `nix` (and libc's `fcntl`, which is what crash tests intercept).
///
/// They are independent of the `flock` locks above: an appender holds a shared `flock` (so
/// that `r+` writers, which take it exclusively, are excluded) *and* the exclusive record
/// lock (so that other appenders, recoveries and replacing writers are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordLock {
    /// The append lock (`F_WRLCK` over the whole file): one appender or recovery at a time.
    /// The file must be open for writing.
    Append,
    /// A replacing writer's lock on the file it renames over, over its first byte: excluded
    /// by, and excluding, the append lock, and (`exclusive`: `F_WRLCK`, the file open for
    /// writing) other replacing writers' locks. Shared replacing locks (two writers that
    /// both checked that the path names the file) would let one rename over the file that
    /// the other's rename put there, which an appender or `r+` writer may hold by then.
    /// `F_RDLCK` only for a file this process cannot open for writing.
    Replace { exclusive: bool },
}

/// How long a replacing writer that was not asked to wait waits for another replacing
/// writer's lock (held for a rename and a directory sync) before it reports the file locked.
const REPLACE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The whole file, from offset 0 to any length (`l_len` 0), as OFD locks require
/// (`l_pid` 0). `l_type` is `F_RDLCK`, `F_WRLCK` or `F_UNLCK`.
fn whole_file(l_type: libc::c_int) -> libc::flock {
    range(l_type, 0)
}

/// From offset 0, `len` bytes (0: to any length).
// The lock types and SEEK_SET are 0, 1 or 2: `c_int` constants for a `c_short` field.
#[allow(clippy::cast_possible_truncation)]
fn range(l_type: libc::c_int, len: libc::off_t) -> libc::flock {
    libc::flock {
        l_type: l_type as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: len,
        l_pid: 0,
    }
}

/// Whether a lock that `F_OFD_GETLK` reported is the append lock (exclusive, whole file),
/// not a replacing writer's (its first byte, or shared).
fn is_append_lock(found: &libc::flock) -> bool {
    i32::from(found.l_type) == libc::F_WRLCK && found.l_start == 0 && found.l_len == 0
}

/// Takes a record lock of the append protocol on `file`; it is released when the last
/// descriptor of this open file description is closed.
pub(crate) fn lock_record(
    file: &File,
    path: &Path,
    kind: RecordLock,
    wait: LockWait,
) -> Result<(), Error> {
    use nix::errno::Errno;
    use nix::fcntl::{FcntlArg, fcntl};
    let request = match kind {
        RecordLock::Append => whole_file(libc::F_WRLCK),
        RecordLock::Replace { exclusive: true } => range(libc::F_WRLCK, 1),
        RecordLock::Replace { exclusive: false } => range(libc::F_RDLCK, 1),
    };
    let replace = matches!(kind, RecordLock::Replace { .. });
    let give_up = std::time::Instant::now() + REPLACE_WAIT;
    loop {
        let arg = match wait {
            LockWait::NoWait => FcntlArg::F_OFD_SETLK(&request),
            LockWait::Wait => FcntlArg::F_OFD_SETLKW(&request),
        };
        match fcntl(file, arg) {
            Ok(_) => return Ok(()),
            // A signal while waiting: wait again.
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN | Errno::EACCES) => {
                // Another replacing writer's lock is held for a rename: wait for it even
                // when not asked to (an appender's is held for a session: refuse).
                let mut found = request;
                let replacing = replace
                    && fcntl(file, FcntlArg::F_OFD_GETLK(&mut found)).is_ok()
                    && !is_append_lock(&found);
                if replacing && std::time::Instant::now() < give_up {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
                let (wanted, held) = match (kind, replacing) {
                    (RecordLock::Append, _) => (
                        "the append lock",
                        "the append lock (an append or a recovery is running on this file)",
                    ),
                    (RecordLock::Replace { .. }, false) => (
                        "a record lock to replace the file",
                        "the append lock (an append or a recovery is running on this file)",
                    ),
                    (RecordLock::Replace { .. }, true) => (
                        "a record lock to replace the file",
                        "another replacing writer's record lock, for over 10 s",
                    ),
                };
                return Err(Error::new(path, ErrorKind::Locked { wanted, held }));
            }
            // A filesystem without OFD locks: no appender can take the append lock there
            // either, so a replacing writer has nobody to wait for.
            Err(Errno::EINVAL | Errno::ENOLCK | Errno::EOPNOTSUPP) if replace => {
                return Ok(());
            }
            Err(e) => return Err(Error::io(path, "taking the append lock", e.into())),
        }
    }
}

/// Whether another open file description holds the append lock on `file` (an appender or
/// a recovery is running), asked with `F_OFD_GETLK` without taking anything.
pub(crate) fn append_lock_held_on(file: &File) -> std::io::Result<bool> {
    use nix::fcntl::{FcntlArg, fcntl};
    // A read lock conflicts with write locks only: the reply names a writer's lock, or
    // says F_UNLCK when there is none.
    // A replacing writer's lock (its first byte) is not the append lock.
    let mut probe = whole_file(libc::F_RDLCK);
    fcntl(file, FcntlArg::F_OFD_GETLK(&mut probe))?;
    Ok(is_append_lock(&probe))
}

/// Whether any process holds the append lock of the file at `path`: an append (or a
/// recovery) is running there now. A file whose header says an append is in progress
/// while this is false holds an interrupted append, which [`crate::recover`] rolls back.
///
/// Takes no lock and changes nothing.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("log.arr");
/// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U8, vec![0, 4])?, None)?;
/// assert!(!arrfile_mmap::append_lock_held(&path)?);
/// let appender = arrfile_mmap::append(&path)?;
/// assert!(arrfile_mmap::append_lock_held(&path)?);
/// drop(appender);
/// assert!(!arrfile_mmap::append_lock_held(&path)?);
/// # Ok(()) }
/// ```
///
/// # Errors
/// The file cannot be opened, or the system cannot answer (an I/O error naming the file).
pub fn append_lock_held(path: impl AsRef<Path>) -> Result<bool, Error> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(path, "opening", e))?;
    append_lock_held_on(&file).map_err(|e| Error::io(path, "asking for the append lock", e))
}
