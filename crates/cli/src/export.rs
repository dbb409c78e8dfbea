//! `arrfile export`: an arrfile to the `.npy` numpy itself would write, or to raw bytes.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use arrfile_npy::{ExportFormat, FileError};

use crate::args::refuse_existing;
use crate::error::CliError;
use crate::{interrupt, progress};

/// Exports `input` to `output` (default: the input with `.npy`, or `.dat` with `raw`).
///
/// The payload is hashed while it is copied; a corrupt file is not exported.
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
    let bar = progress::bar(len, quiet, "exporting");
    let result = arrfile_npy::export(&reader, &output, format, force, |written| {
        bar.set_position(written);
        if interrupt::requested() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    });
    bar.finish_and_clear();
    result.map_err(|e| match e {
        FileError::Arrfile(e) if matches!(e.kind(), arrfile_mmap::ErrorKind::AlreadyExists) => {
            CliError::OutputExists { path: output.clone() }
        }
        other => CliError::from(other),
    })?;
    Ok(output)
}
