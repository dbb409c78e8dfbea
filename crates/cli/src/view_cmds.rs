//! `show`, `stats`, `diff` and `preview`: flags and glue; the work is in `arrfile-view`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use arrfile_format::{Description, Order};
use arrfile_view::{Colormap, ErrorKind, Hooks, PreviewOptions, Reduce, Source, Tolerance};
use clap::Args;

use crate::args::{ByteOrderArg, OrderArg, parse_dtype, parse_shape, resolve_shape};
use crate::error::{CliError, EXIT_INVALID, EXIT_OK, stdout_error};
use crate::{interrupt, progress};

/// How to read an input that is neither an arrfile nor a `.npy` (raw bytes).
#[derive(Debug, Args)]
pub(crate) struct RawInput {
    /// Raw input: the dtype (f32, <f4, bf16, ...). For a .npy: the dtype of untyped data (<V2).
    #[arg(long)]
    dtype: Option<String>,
    /// Raw input: the shape, such as 1000,100; one dimension may be -1.
    #[arg(long, allow_hyphen_values = true)]
    shape: Option<String>,
    /// Raw input: the element order.
    #[arg(long, value_enum, default_value = "C")]
    order: OrderArg,
    /// Raw input: the byte order [default: little, or what --dtype implies].
    #[arg(long, value_enum)]
    byte_order: Option<ByteOrderArg>,
    /// Raw input: bytes to skip before the data.
    #[arg(long, default_value_t = 0)]
    offset: u64,
}

/// `arrfile show`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  arrfile show a.arr --slice '0:5, :'\n  arrfile show x.npy --slice '..., -1' --json\n  arrfile show raw.dat --dtype '>f8' --shape -1,3"
)]
pub(crate) struct ShowArgs {
    /// An arrfile, a .npy, or a raw file with --dtype and --shape.
    file: PathBuf,
    /// numpy-style indices: '0:5, :', '..., -1', '::2', '-1'.
    #[arg(long, allow_hyphen_values = true)]
    slice: Option<String>,
    /// Print JSON: the description, the view's shape and nested values ("..." where elided).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    raw: RawInput,
}

/// `arrfile stats`.
#[derive(Debug, Args)]
#[command(
    after_help = "NaN is skipped as np.nanmean and np.nanstd do; std is the population one (ddof=0)."
)]
pub(crate) struct StatsArgs {
    /// An arrfile, a .npy, or a raw file with --dtype and --shape.
    file: PathBuf,
    /// Also give the statistics of each index of this axis (negative counts from the end).
    #[arg(long, allow_hyphen_values = true)]
    axis: Option<i64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Threads [default: every core].
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    raw: RawInput,
}

/// `arrfile diff`.
#[derive(Debug, Args)]
#[command(
    after_help = "Compares by logical index, across byte orders and C/F orders. Without --rtol or\n--atol the comparison is exact (NaN equals NaN, -0.0 equals 0.0); with either, as\nnp.allclose: |a - b| <= atol + rtol * |b|, the other defaulting to rtol 1e-5, atol 1e-8.\nExit code 0 when equal, 1 when the arrays (or their dtypes or shapes) differ."
)]
pub(crate) struct DiffArgs {
    /// The first array: an arrfile, a .npy, or a raw file with --dtype and --shape.
    a: PathBuf,
    /// The second array.
    b: PathBuf,
    /// Relative tolerance (np.allclose's rtol).
    #[arg(long)]
    rtol: Option<f64>,
    /// Absolute tolerance (np.allclose's atol).
    #[arg(long)]
    atol: Option<f64>,
    /// How many differing elements to list.
    #[arg(long, default_value_t = 10)]
    first: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    raw: RawInput,
}

/// `arrfile preview`.
#[derive(Debug, Args)]
#[command(
    after_help = "NaN pixels are magenta. An existing output is replaced (atomically).\nExamples:\n  arrfile preview cube.arr --slice '10, :, :' --cmap magma -o slice.png\n  arrfile preview signal.arr -o signal.png      (1-D: a line plot)"
)]
pub(crate) struct PreviewArgs {
    /// An arrfile, a .npy, or a raw file with --dtype and --shape.
    file: PathBuf,
    /// The PNG to write.
    #[arg(short, long)]
    output: PathBuf,
    /// numpy-style indices choosing a 2-D (image) or 1-D (line plot) view.
    #[arg(long, allow_hyphen_values = true)]
    slice: Option<String>,
    /// The colormap: viridis, magma, inferno, plasma, cividis, turbo, greys.
    #[arg(long, default_value = "viridis")]
    cmap: Colormap,
    /// The value at the colormap's low end [default: the data's minimum].
    #[arg(long, allow_hyphen_values = true)]
    vmin: Option<f64>,
    /// The value at the colormap's high end [default: the data's maximum].
    #[arg(long, allow_hyphen_values = true)]
    vmax: Option<f64>,
    /// The image's longest side at most (the width of a line plot), in pixels.
    #[arg(long, default_value_t = 1024)]
    size: u32,
    /// How a block of elements becomes a pixel when downsampling: mean, min or max.
    #[arg(long, default_value = "mean")]
    reduce: Reduce,
    /// No progress bar.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    raw: RawInput,
}

/// A library error as the command's error; `output` is what an interruption did not write.
fn view_error(e: arrfile_view::Error, output: &Path) -> CliError {
    if e.is_usage() {
        return CliError::Usage(e.to_string());
    }
    let (path, message) = (e.path().to_owned(), e.to_string());
    match e.into_kind() {
        ErrorKind::Open(inner) => CliError::Arrfile(inner),
        ErrorKind::Io { action, source } => CliError::Io { path, action, source },
        ErrorKind::Interrupted => CliError::Interrupted { path: output.to_owned() },
        ErrorKind::TooShort { .. } => CliError::Invalid { path, message },
        _ => CliError::Io { path, action: "writing", source: std::io::Error::other(message) },
    }
}

/// Opens an arrfile, a `.npy` (told by its magic) or a raw file described by `raw`.
fn open(path: &Path, raw: &RawInput) -> Result<Source, CliError> {
    let mut file = File::open(path).map_err(|e| CliError::io(path, "opening", e))?;
    let len = file.metadata().map_err(|e| CliError::io(path, "reading metadata", e))?.len();
    let mut magic = [0u8; 8];
    let got = file.read(&mut magic).map_err(|e| CliError::io(path, "reading", e))?;
    let dtype = raw.dtype.as_deref().map(|d| parse_dtype(d, raw.byte_order)).transpose()?;
    let npy_error = |source| CliError::Npy { path: path.to_owned(), source };
    if got >= 6 && magic[..6] == arrfile_npy::MAGIC {
        let file = File::open(path).map_err(|e| CliError::io(path, "opening", e))?;
        let header = arrfile_npy::read_header(file, dtype.map(|d| d.0)).map_err(|e| match e {
            arrfile_npy::ReadError::Io(e) => CliError::io(path, "reading the .npy header", e),
            arrfile_npy::ReadError::Npy(source) => npy_error(source),
            e => CliError::io(path, "reading the .npy header", std::io::Error::other(e)),
        })?;
        header.check_file_len(len).map_err(npy_error)?;
        return Source::from_file(path, header.description, header.data_offset)
            .map_err(|e| view_error(e, path));
    }
    let Some((dtype, byte_order)) = dtype.filter(|_| magic != arrfile_format::MAGIC) else {
        return Source::open(path).map_err(|e| view_error(e, path));
    };
    let shape = raw.shape.as_deref().ok_or_else(|| {
        CliError::Usage(format!("{}: a raw input needs --shape with --dtype", path.display()))
    })?;
    let shape = resolve_shape(&parse_shape(shape)?, dtype, len.saturating_sub(raw.offset), path)?;
    let order = Order::from(raw.order);
    let desc = Description::new(dtype, shape, order, byte_order.unwrap_or_default())
        .map_err(|e| CliError::Usage(format!("--shape: {e}")))?;
    Source::from_file(path, desc, raw.offset).map_err(|e| view_error(e, path))
}

fn print(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
    writeln!(out, "{}", text.trim_end_matches('\n')).map_err(stdout_error)
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

const STDOUT: &str = "<stdout>";

pub(crate) fn show(args: ShowArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let source = open(&args.file, &args.raw)?;
    let slice = args.slice.as_deref();
    let text = if args.json {
        arrfile_view::show_json(&source, slice).map(|v| pretty(&v))
    } else {
        arrfile_view::show(&source, slice)
    };
    print(out, &text.map_err(|e| view_error(e, Path::new(STDOUT)))?)?;
    Ok(EXIT_OK)
}

pub(crate) fn stats(args: StatsArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let source = open(&args.file, &args.raw)?;
    let bar = progress::bar(source.description().data_len(), args.quiet, "stats");
    let hooks = Hooks { progress: &|n| bar.inc(n), cancelled: &interrupt::requested };
    let stats = arrfile_view::stats(&source, args.axis, args.threads, hooks)
        .map_err(|e| view_error(e, Path::new(STDOUT)))?;
    bar.finish_and_clear();
    print(out, &if args.json { pretty(&stats.to_json()) } else { stats.to_text() })?;
    Ok(EXIT_OK)
}

/// Exit code 0 when equal, 1 when not.
pub(crate) fn diff(args: DiffArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let (a, b) = (open(&args.a, &args.raw)?, open(&args.b, &args.raw)?);
    let tolerance = Tolerance { rtol: args.rtol, atol: args.atol };
    let hooks = Hooks { cancelled: &interrupt::requested, ..Hooks::default() };
    let report = arrfile_view::diff(&a, &b, tolerance, args.first, hooks)
        .map_err(|e| view_error(e, Path::new(STDOUT)))?;
    print(out, &if args.json { pretty(&report.to_json()) } else { report.to_text() })?;
    Ok(if report.equal() { EXIT_OK } else { EXIT_INVALID })
}

pub(crate) fn preview(args: PreviewArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let source = open(&args.file, &args.raw)?;
    let (vmin, vmax, size, slice) = (args.vmin, args.vmax, args.size, args.slice);
    let options = PreviewOptions { slice, cmap: args.cmap, vmin, vmax, size, reduce: args.reduce };
    let bar = progress::bar(source.description().data_len(), args.quiet, "preview");
    let hooks = Hooks { progress: &|n| bar.inc(n), cancelled: &interrupt::requested };
    let report = arrfile_view::preview(&source, &options, &args.output, hooks)
        .map_err(|e| view_error(e, &args.output))?;
    bar.finish_and_clear();
    print(out, &format!("{} -> {}: {report}", args.file.display(), args.output.display()))?;
    Ok(EXIT_OK)
}
