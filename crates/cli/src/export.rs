//! `arrfile export`: an arrfile to the `.npy` numpy itself would write, or to raw bytes.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use arrfile_format::ChecksumState;
use arrfile_mmap::ReadArray;

use crate::interrupt::requested;
use crate::{CliError, npy, progress};

/// Bytes written per step: keeps the progress bar moving and Ctrl-C prompt.
const STEP: usize = 8 << 20;

/// Exports `input` to `output` (default: the input with `.npy`, or `.dat` with `raw`).
///
/// The payload's CRC is checked while it is copied; a file that does not match its checksum
/// is not exported. The output appears complete or not at all.
///
/// # Errors
/// [`CliError`]: the input is invalid or corrupt, the output exists, I/O, interruption.
pub fn export(
    input: &Path,
    output: Option<&Path>,
    raw: bool,
    force: bool,
    quiet: bool,
) -> Result<PathBuf, CliError> {
    let array = arrfile_mmap::open(input)?;
    let output = output
        .map_or_else(|| input.with_extension(if raw { "dat" } else { "npy" }), Path::to_owned);
    if output.exists() && !force {
        return Err(CliError::OutputExists { path: output });
    }
    let header = if raw {
        Vec::new()
    } else {
        npy::write_header(array.description())
            .map_err(|source| CliError::Npy { path: input.to_owned(), source })?
    };
    let temp = temp_sibling(&output)?;
    let mut file = temp.as_file();
    file.write_all(&header).map_err(|e| CliError::io(&output, "writing", e))?;
    let bytes = array.as_bytes();
    let bar = progress::bar(bytes.len() as u64, quiet, "exporting");
    let mut hasher = crc32fast::Hasher::new();
    for chunk in bytes.chunks(STEP) {
        if requested() {
            return Err(CliError::Interrupted { path: output });
        }
        hasher.update(chunk);
        file.write_all(chunk).map_err(|e| CliError::io(&output, "writing", e))?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if array.checksum_state() == ChecksumState::Valid {
        let verification = array.header().checksum().verify_against(hasher.finalize());
        if let arrfile_format::Verification::Mismatch { expected, found } = verification {
            return Err(CliError::invalid(
                input,
                format!(
                    "payload checksum mismatch: expected CRC-32 {expected:#010x}, found {found:#010x}; not exported"
                ),
            ));
        }
    }
    file.sync_all().map_err(|e| CliError::io(&output, "syncing", e))?;
    let persisted = if force { temp.persist(&output) } else { temp.persist_noclobber(&output) };
    persisted.map_err(|e| match e.error.kind() {
        std::io::ErrorKind::AlreadyExists => CliError::OutputExists { path: output.clone() },
        _ => CliError::io(&output, "renaming the temporary file into place", e.error),
    })?;
    Ok(output)
}

/// A temporary file beside `path`, named as the arrfile writers name theirs, deleted on drop.
pub(crate) fn temp_sibling(path: &Path) -> Result<tempfile::NamedTempFile, CliError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut prefix = OsString::from(".");
    prefix.push(path.file_name().unwrap_or_default());
    prefix.push(arrfile_mmap::TEMP_MARKER);
    let temp = tempfile::Builder::new()
        .prefix(&prefix)
        .rand_bytes(10)
        .permissions(new_file_permissions())
        .tempfile_in(dir)
        .map_err(|e| CliError::io(path, "creating a temporary file beside it", e))?;
    // Live writers hold this lock; `arrfile clean` removes only unlocked (stale) files.
    temp.as_file().lock().map_err(|e| CliError::io(path, "locking the temporary file", e))?;
    Ok(temp)
}

/// The mode a new file gets from `open(2)`: 0o666 less the umask, as `cp` and numpy give
/// (tempfile's default, 0o600, would make outputs private to their creator).
#[cfg(unix)]
fn new_file_permissions() -> std::fs::Permissions {
    std::os::unix::fs::PermissionsExt::from_mode(0o666)
}
