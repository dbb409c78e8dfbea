//! New files appear complete or not at all: a sibling temp file, fsync, rename, fsync dir.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use crate::error::{Error, ErrorKind};
use crate::fileio::names_this_file;
use crate::lock::{LockKind, LockWait, RecordLock, lock, lock_record};

/// The marker in the names of temporary files: `.<final name>.arrtmp-<random>`.
pub(crate) const TEMP_MARKER: &str = ".arrtmp-";

/// A new file being written beside its final path: it lives at `.<name>.arrtmp-<random>`
/// in the same directory, under an exclusive lock, until [`PendingFile::commit`] makes it
/// durable and renames it into place. Dropped uncommitted, it is deleted. Killed, it leaves
/// a file that [`remove_stale_temp_files`] recognises (by its name, and by its lock being
/// gone) and removes.
///
/// Every writer of this crate goes through it. It is public, but hidden from the docs, for
/// the sibling crates that write other formats with the same guarantee (`arrfile-npy`'s
/// `.npy` export, the command's PNG previews); it is not part of the stable API.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::Write;
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("out.bin");
/// let pending = arrfile_mmap::PendingFile::create(&path, false)?;
/// pending.file().write_all(b"all or nothing")?;
/// assert!(!path.exists());
/// pending.commit()?;
/// assert_eq!(std::fs::read(&path)?, b"all or nothing");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[doc(hidden)]
pub struct PendingFile {
    file: File,
    temp: TempPath,
    path: PathBuf,
    overwrite: bool,
    wait: LockWait,
}

impl PendingFile {
    /// Creates the temporary sibling of `path`. With `overwrite` false, an existing `path`
    /// is refused now and again at the rename (which then does not replace it).
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`], or an I/O error creating the file.
    pub fn create(path: impl AsRef<Path>, overwrite: bool) -> Result<PendingFile, Error> {
        PendingFile::create_waiting(path.as_ref(), overwrite, LockWait::NoWait)
    }

    /// As [`PendingFile::create`]; `wait` says whether [`PendingFile::commit`] waits for a
    /// writer of the file it replaces, or fails at once.
    ///
    /// # Errors
    /// As [`PendingFile::create`].
    pub fn create_waiting(
        path: &Path,
        overwrite: bool,
        wait: LockWait,
    ) -> Result<PendingFile, Error> {
        if !overwrite && path.exists() {
            return Err(Error::new(path, ErrorKind::AlreadyExists));
        }
        let dir = parent_dir(path);
        let name = path.file_name().ok_or_else(|| Error::new(path, ErrorKind::IsADirectory))?;
        let (file, temp) = locked_temp_file(path, dir, name)?;
        Ok(PendingFile { file, temp, path: path.to_owned(), overwrite, wait })
    }

    /// The open temporary file, for writing.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Where the file lives until it is committed.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the file durable, renames it to its final path, and makes the rename durable.
    /// Returns the open file.
    ///
    /// A file it replaces is first locked (shared): an `r+` writer of that file holds an
    /// exclusive lock until it is done, and an appender the append lock until it commits or
    /// rolls back, so their changes are never orphaned by the rename; readers keep their
    /// mapping of the old file, as a rename leaves it intact.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`] (without `overwrite`), [`ErrorKind::Locked`] (a writer or
    /// an appender holds the file to replace, and waiting was not asked for), or an I/O error; the
    /// temporary file is then removed.
    pub fn commit(self) -> Result<File, Error> {
        let PendingFile { file, temp, path, overwrite, wait } = self;
        file.sync_all().map_err(|e| Error::io(&path, "syncing the new file", e))?;
        // Held until the rename is done; `None` when there is nothing to replace.
        let _replaced = if overwrite { lock_replaced_file(&path, wait)? } else { None };
        if overwrite { temp.persist(&path) } else { temp.persist_noclobber(&path) }.map_err(
            |e| match e.error.kind() {
                std::io::ErrorKind::AlreadyExists => Error::new(&path, ErrorKind::AlreadyExists),
                _ => Error::io(&path, "renaming the temporary file into place", e.error),
            },
        )?;
        sync_parent(&path)?;
        Ok(file)
    }
}

/// The marker in the names of temporary files in their first instant, before their lock:
/// `.<final name>.arrnew-<random>`. The cleaner leaves these alone unless they are old.
const NEW_MARKER: &str = ".arrnew-";

/// An unlocked `.arrnew-` file older than this was left by a writer killed in the instant
/// between creating and locking it.
const NEW_FILE_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// A new temporary file in `dir`, exclusively locked from the moment it has the name that
/// [`remove_stale_temp_files`] looks for.
///
/// `O_EXCL` creation and `flock` are two steps: a cleaner that ran between them would find
/// the file unlocked and remove it under its writer. So the file is created as
/// `.<name>.arrnew-<random>`, locked, and only then renamed (the same inode, the same lock)
/// to `.<name>.arrtmp-<random>`.
fn locked_temp_file(path: &Path, dir: &Path, name: &OsStr) -> Result<(File, TempPath), Error> {
    let mut new_prefix = OsString::from(".");
    new_prefix.push(name);
    new_prefix.push(NEW_MARKER);
    let new = tempfile::Builder::new()
        .prefix(&new_prefix)
        .rand_bytes(10)
        .permissions(new_file_permissions())
        .tempfile_in(dir)
        .map_err(|e| Error::io(path, "creating a temporary file beside it", e))?;
    lock(new.as_file(), new.path(), LockKind::Exclusive, LockWait::NoWait)?;
    let (file, new) = new.into_parts();
    let random = new
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit(NEW_MARKER).next())
        .unwrap_or_default()
        .to_owned();
    let mut temp_name = OsString::from(".");
    temp_name.push(name);
    temp_name.push(TEMP_MARKER);
    temp_name.push(&random);
    let temp = dir.join(temp_name);
    // No other writer can hold this name: the random part is the unique one of `new`.
    std::fs::rename(&new, &temp)
        .map_err(|e| Error::io(path, "naming the temporary file beside it", e))?;
    // Renamed: dropping `new` must not remove anything now.
    let _ = new.keep();
    let temp = TempPath::try_from_path(&temp)
        .map_err(|e| Error::io(path, "naming the temporary file beside it", e))?;
    Ok((file, temp))
}

/// Locks the file at `path` that a commit is about to replace, so that no `r+` writer is
/// editing it (a shared `flock`), no appender is growing it and no other replacing writer
/// is renaming over it (a record lock over its first byte, which the append lock excludes:
/// spec §11.5, and exclusive when the file can be opened for writing); `None` when no file
/// is there.
fn lock_replaced_file(path: &Path, wait: LockWait) -> Result<Option<File>, Error> {
    // A writer that finishes between the open and the lock leaves a file that is no longer
    // at the path; look again.
    for _ in 0..CREATE_ATTEMPTS {
        // Opened for writing (nothing is written) for the exclusive record lock.
        let (existing, exclusive) = match File::options().read(true).write(true).open(path) {
            Ok(existing) => (existing, true),
            Err(_) => match File::open(path) {
                Ok(existing) => (existing, false),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                // Not ours to judge (a directory, no permission): the rename reports it.
                Err(_) => return Ok(None),
            },
        };
        lock(&existing, path, LockKind::Shared, wait)?;
        lock_record(&existing, path, RecordLock::Replace { exclusive }, wait)?;
        if names_this_file(path, &existing) {
            return Ok(Some(existing));
        }
    }
    Ok(None)
}

/// How often a racing rename or cleaner is looked at again before giving up.
const CREATE_ATTEMPTS: usize = 16;

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(unix)]
fn sync_parent(path: &Path) -> Result<(), Error> {
    File::open(parent_dir(path))
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(path, "syncing the directory after the rename", e))
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> Result<(), Error> {
    Ok(())
}

/// Removes the temporary files that killed writers left in `dir`, and returns their paths.
///
/// A temporary file is stale when no process holds its lock: live writers hold an exclusive
/// lock on theirs until they finish or are dropped, and the kernel releases it when a writer
/// dies, however it dies.
///
/// # Errors
/// Reading the directory failed.
pub fn remove_stale_temp_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "listing the directory", e))?;
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_temp = name.starts_with('.') && name.contains(TEMP_MARKER);
        let is_new = name.starts_with('.') && name.contains(NEW_MARKER);
        if !(is_temp || is_new) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else { continue };
        // A `.arrnew-` file is unlocked for an instant in a live writer's hands; only an old
        // one is a killed writer's.
        let old = || {
            file.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > NEW_FILE_GRACE))
        };
        // Locked by no writer (a live writer holds its exclusive lock until it finishes), and
        // still the file at that name, before and after the probe: its writer is gone. The
        // probe is a shared lock, so that a file renamed into place meanwhile (now a final
        // file, with readers) is never locked against its readers; the name is checked first
        // so that such a file is almost never locked at all.
        if (is_temp || old())
            && names_this_file(&path, &file)
            && file.try_lock_shared().is_ok()
            && names_this_file(&path, &file)
            && std::fs::remove_file(&path).is_ok()
        {
            removed.push(path);
        }
    }
    Ok(removed)
}

/// The mode a new file gets from `open(2)`: 0o666 less the umask, as `cp` and numpy give
/// (tempfile's default, 0o600, would make outputs private to their creator).
#[cfg(unix)]
fn new_file_permissions() -> std::fs::Permissions {
    std::os::unix::fs::PermissionsExt::from_mode(0o666)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use arrfile_format::{Description, Dtype};

    use super::*;

    /// A replacing writer's lock on the file it renames over excludes another replacing
    /// writer's, which waits for the rename (even without `LockWait::Wait`) and then locks the
    /// file that rename put there. Found by the torture test: the two locks were shared, so
    /// both writers checked that the path named the old file, and the second renamed over the
    /// file the first had put there, which an appender or an `r+` writer held by then.
    #[test]
    fn a_replacing_writer_waits_for_another_then_locks_the_file_it_put_there() {
        let dir = tempfile::tempdir().unwrap();
        let (path, later) = (dir.path().join("a.arr"), dir.path().join("later.arr"));
        let desc = Description::c_order(Dtype::U8, vec![2, 2]).unwrap();
        crate::create_zeroed(&path, desc.clone(), None).unwrap();
        crate::create_zeroed(&later, desc, None).unwrap();
        // The first writer, between its lock and its rename.
        let held = lock_replaced_file(&path, LockWait::NoWait).unwrap().unwrap();
        let (done, finished) = mpsc::channel();
        let second = std::thread::spawn({
            let path = path.clone();
            move || {
                let locked = lock_replaced_file(&path, LockWait::NoWait);
                done.send(()).unwrap();
                locked
            }
        });
        assert!(finished.recv_timeout(Duration::from_millis(300)).is_err(), "it did not wait");
        // Nobody appends to the file about to be replaced.
        let refused = crate::append(&path).unwrap_err();
        assert!(matches!(refused.kind(), ErrorKind::Locked { .. }), "{refused}");
        std::fs::rename(&later, &path).unwrap();
        drop(held);
        let locked = second.join().unwrap().unwrap().unwrap();
        assert!(names_this_file(&path, &locked));
        let refused = crate::append(&path).unwrap_err();
        assert!(matches!(refused.kind(), ErrorKind::Locked { .. }), "{refused}");
        drop(locked);
        crate::append(&path).unwrap();
    }
}
