//! `arrfile export`: an arrfile to the `.npy` numpy itself would write, or to raw bytes.

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
    let pending =
        arrfile_mmap::PendingFile::create(&output, force).map_err(|e| match e.kind() {
            arrfile_mmap::ErrorKind::AlreadyExists => {
                CliError::OutputExists { path: output.clone() }
            }
            _ => e.into(),
        })?;
    let mut file = pending.file();
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
    pending.commit().map_err(|e| match e.kind() {
        arrfile_mmap::ErrorKind::AlreadyExists => CliError::OutputExists { path: output.clone() },
        _ => e.into(),
    })?;
    Ok(output)
}
