//! New files appear complete or not at all: a sibling temp file, fsync, rename, fsync dir.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use crate::lock::{LockKind, LockWait, lock};
use crate::{Error, ErrorKind};

/// The marker in the names of temporary files: `.<final name>.arrtmp-<random>`.
pub const TEMP_MARKER: &str = ".arrtmp-";

/// Creates the temporary sibling of `path`, holding an exclusive lock on it for as long as
/// it is open: that is how [`remove_stale_temp_files`] tells a live writer's file from a
/// killed one's. The file is deleted when the returned [`TempPath`] is dropped.
pub(crate) fn create_temp(path: &Path) -> Result<(File, TempPath), Error> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| Error::new(path, ErrorKind::IsADirectory))?;
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(TEMP_MARKER);
    let temp = tempfile::Builder::new()
        .prefix(&prefix)
        .rand_bytes(10)
        .permissions(new_file_permissions())
        .tempfile_in(dir)
        .map_err(|e| Error::io(path, "creating a temporary file beside it", e))?;
    lock(temp.as_file(), temp.path(), LockKind::Exclusive, LockWait::NoWait)?;
    Ok(temp.into_parts())
}

/// Makes `file` durable and renames its `temp` path to `path`; then makes the rename durable.
pub(crate) fn persist(
    file: &File,
    temp: TempPath,
    path: &Path,
    overwrite: bool,
) -> Result<(), Error> {
    file.sync_all().map_err(|e| Error::io(path, "syncing the new file", e))?;
    if overwrite { temp.persist(path) } else { temp.persist_noclobber(path) }.map_err(
        |e| match e.error.kind() {
            std::io::ErrorKind::AlreadyExists => Error::new(path, ErrorKind::AlreadyExists),
            _ => Error::io(path, "renaming the temporary file into place", e.error),
        },
    )?;
    sync_parent(path)
}

#[cfg(unix)]
fn sync_parent(path: &Path) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)
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
        if !(name.starts_with('.') && name.contains(TEMP_MARKER)) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else { continue };
        if file.try_lock().is_ok() && std::fs::remove_file(&path).is_ok() {
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
