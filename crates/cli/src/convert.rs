//! `arrfile convert`: raw `.dat` and `.npy` into arrfiles, streaming, with the CRC computed
//! while copying and the output written through a temporary file and a rename.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrfile_format::{Attributes, ByteOrder, Description, Header, Order};
use arrfile_mmap::{CopyError, Options};

use crate::args::{
    ByteOrderArg, OrderArg, parse_dtype, parse_shape, refuse_existing, resolve_shape,
};
use crate::error::CliError;
use crate::interrupt::{StopOnSignal, requested};
use crate::progress;
use arrfile_npy as npy;

/// What to convert and how.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConvertRequest {
    /// The raw or `.npy` input.
    pub(crate) input: PathBuf,
    /// The output; default: the input with the extension `.arr`.
    pub(crate) output: Option<PathBuf>,
    /// Raw input: the dtype (required). `.npy` input: an override for untyped data (`<V2`).
    pub(crate) dtype: Option<String>,
    /// Raw input: the shape (required); one dimension may be `-1`.
    pub(crate) shape: Option<String>,
    /// Raw input: the order (default C).
    pub(crate) order: Option<OrderArg>,
    /// Raw input: the byte order of the input (default little, or what `--dtype` implies).
    pub(crate) byte_order: Option<ByteOrderArg>,
    /// Raw input: bytes to skip before the data.
    pub(crate) offset: u64,
    /// Store big-endian input as it is instead of converting it to little-endian.
    pub(crate) keep_byte_order: bool,
    /// Replace an existing output.
    pub(crate) force: bool,
    /// No progress bar.
    pub(crate) quiet: bool,
    /// The metadata block.
    pub(crate) attributes: Option<Attributes>,
    /// Alignment, overwriting and lock waiting of the output.
    pub(crate) options: Options,
}

/// What was converted.
#[derive(Clone, Debug)]
pub(crate) struct ConvertReport {
    /// The file written.
    pub(crate) output: PathBuf,
    /// `raw` or `npy x.y`.
    pub(crate) input_kind: String,
    /// The byte order of the input.
    pub(crate) input_byte_order: ByteOrder,
    /// The header written.
    pub(crate) header: Header,
}

/// Where the data is and what it is.
struct Source {
    description: Description,
    data_offset: u64,
    kind: String,
}

/// Converts one file.
///
/// # Errors
/// [`CliError`]: usage, refused input (with both byte counts for a size mismatch), I/O,
/// interruption. On any error nothing is left at the output path, temp files included.
pub(crate) fn convert(request: &ConvertRequest) -> Result<ConvertReport, CliError> {
    let input = &request.input;
    let mut file = File::open(input).map_err(|e| CliError::io(input, "opening the input", e))?;
    let meta =
        file.metadata().map_err(|e| CliError::io(input, "reading the input's metadata", e))?;
    if meta.is_dir() {
        return Err(CliError::invalid(input, "expected a raw or .npy file, found a directory"));
    }
    let len = meta.len();
    let mut magic = Vec::with_capacity(npy::MAGIC.len());
    (&mut file)
        .take(npy::MAGIC.len() as u64)
        .read_to_end(&mut magic)
        .map_err(|e| CliError::io(input, "reading the input", e))?;
    // A file cut inside the magic is a truncated .npy, not raw data.
    let source = if !magic.is_empty() && npy::MAGIC.starts_with(&magic) {
        npy_source(request, &mut file)?
    } else {
        raw_source(request, len)?
    };
    let output = output_path(request)?;

    let in_order = source.description.byte_order();
    let out_order = if request.keep_byte_order { in_order } else { ByteOrder::Little };
    let description = source.description.clone().stored_as(out_order);

    file.seek(SeekFrom::Start(source.data_offset))
        .map_err(|e| CliError::io(input, "seeking to the data", e))?;
    let mut writer =
        request.options.stream(&output, description.clone(), request.attributes.as_ref())?;
    let bar = progress::bar(description.data_len(), request.quiet, "converting");
    let copied = writer.copy_from(&mut StopOnSignal(&mut file), in_order, |n| bar.set_position(n));
    bar.finish_and_clear();
    match copied {
        Ok(_) => {}
        Err(_) if requested() => return Err(CliError::Interrupted { path: output }),
        Err(CopyError::Read(e)) => return Err(CliError::io(input, "reading the input", e)),
        Err(CopyError::ShortInput { copied, expected }) => {
            return Err(CliError::invalid(
                input,
                format!(
                    "expected {expected} bytes of data, found {copied}: the file shrank while it was read"
                ),
            ));
        }
        Err(CopyError::Write(e)) => return Err(e.into()),
        Err(other) => return Err(CliError::invalid(input, other.to_string())),
    }
    // Bytes appended while copying would otherwise be silently left out.
    let now =
        file.metadata().map_err(|e| CliError::io(input, "reading the input's metadata", e))?.len();
    if now != len {
        return Err(CliError::invalid(
            input,
            format!("expected {len} bytes, found {now}: the file changed while it was read"),
        ));
    }
    let header = writer.finish()?;
    Ok(ConvertReport { output, input_kind: source.kind, input_byte_order: in_order, header })
}

fn npy_source(request: &ConvertRequest, file: &mut File) -> Result<Source, CliError> {
    let input = &request.input;
    let raw_only = [
        ("--shape", request.shape.is_some()),
        ("--order", request.order.is_some()),
        ("--byte-order", request.byte_order.is_some()),
        ("--offset", request.offset != 0),
    ];
    if let Some((flag, _)) = raw_only.iter().find(|(_, given)| *given) {
        return Err(CliError::Usage(format!(
            "{flag} is for raw input; {} is a .npy file, whose header gives dtype, shape and order",
            input.display()
        )));
    }
    let dtype_override = match &request.dtype {
        None => None,
        Some(spelling) => Some(parse_dtype(spelling, None)?.0),
    };
    let header = npy::read_file_header(file, input, dtype_override).map_err(CliError::from)?;
    Ok(Source {
        kind: format!("npy {}.{}", header.version.0, header.version.1),
        data_offset: header.data_offset,
        description: header.description,
    })
}

fn raw_source(request: &ConvertRequest, len: u64) -> Result<Source, CliError> {
    let input = &request.input;
    let (Some(dtype), Some(shape)) = (&request.dtype, &request.shape) else {
        return Err(CliError::Usage(format!(
            "{}: raw input needs --dtype and --shape (a raw file records neither); .npy files are detected by their magic bytes",
            input.display()
        )));
    };
    let (dtype, byte_order) = parse_dtype(dtype, request.byte_order)?;
    let dims = parse_shape(shape)?;
    let available = len.checked_sub(request.offset).ok_or_else(|| {
        CliError::invalid(
            input,
            format!("expected more than --offset {} bytes, found a file of {len}", request.offset),
        )
    })?;
    let shape = resolve_shape(&dims, dtype, available, input)?;
    let order = request.order.map_or(Order::C, Order::from);
    let description = Description::new(dtype, shape, order, byte_order.unwrap_or_default())
        .map_err(|e| CliError::Usage(format!("--shape: {e}")))?;
    Ok(Source { description, data_offset: request.offset, kind: "raw".to_owned() })
}

fn output_path(request: &ConvertRequest) -> Result<PathBuf, CliError> {
    let output = request.output.clone().unwrap_or_else(|| request.input.with_extension("arr"));
    if same_file(&output, &request.input) {
        return Err(CliError::Usage(format!(
            "{}: the output would replace the input; give another path with -o",
            output.display()
        )));
    }
    refuse_existing(&output, request.force)?;
    Ok(output)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
