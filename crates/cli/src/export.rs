//! `arrfile export`: an arrfile to the `.npy` numpy itself would write, or to raw bytes.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use arrfile_npy::{ExportFormat, ExportStep, FileError};

use crate::args::refuse_existing;
use crate::error::CliError;
use crate::{interrupt, progress};

/// Exports `input` to `output` (default: the input with `.npy`, or `.dat` with `raw`).
///
/// A payload whose checksum is *valid* is checked first; a corrupt file is not exported.
/// The output appears complete or not at all.
///
/// # Errors
/// [`CliError`]: the input is invalid or corrupt, the output exists, I/O, interruption.
pub(crate) fn export(
    input: &Path,
    output: Option<&Path>,
    raw: bool,
    force: bool,
    quiet: bool,
) -> Result<PathBuf, CliError> {
    let reader = arrfile_mmap::Options::new().open_reader(input)?;
    let output = output
        .map_or_else(|| input.with_extension(if raw { "dat" } else { "npy" }), Path::to_owned);
    refuse_existing(&output, force)?;
    let format = if raw { ExportFormat::Raw } else { ExportFormat::Npy };
    let len = reader.header().data_len();
    let (verifying, writing) =
        (progress::bar(len, quiet, "verifying"), progress::bar(len, quiet, "exporting"));
    let result = arrfile_npy::export(&reader, &output, format, force, |step| {
        match step {
            ExportStep::Verifying(n) => verifying.set_position(n),
            ExportStep::Writing(n) => {
                verifying.finish_and_clear();
                writing.set_position(n);
            }
            _ => {}
        }
        if interrupt::requested() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    verifying.finish_and_clear();
    writing.finish_and_clear();
    result.map_err(|e| match e {
        FileError::Stopped { .. } => CliError::Interrupted { path: output.clone() },
        FileError::Corrupt { path, expected, found } => CliError::invalid(
            &path,
            format!(
                "payload checksum mismatch: expected CRC-32 {expected:#010x}, found {found:#010x}; not exported"
            ),
        ),
        FileError::Npy { path, source } => CliError::Npy { path, source },
        FileError::Io { path, action, source } => CliError::Io { path, action, source },
        FileError::Arrfile(e) if matches!(e.kind(), arrfile_mmap::ErrorKind::AlreadyExists) => {
            CliError::OutputExists { path: output.clone() }
        }
        FileError::Arrfile(e) => e.into(),
        other => CliError::invalid(input, other.to_string()),
    })?;
    Ok(output)
}
