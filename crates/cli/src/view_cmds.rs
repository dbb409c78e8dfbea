//! `show`, `stats`, `diff` and `preview`: flags and glue; the work is in `arrfile-view`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use arrfile_format::{Description, Order};
use arrfile_view::{ErrorKind, Hooks, Source};
use clap::Args;

use crate::args::{ByteOrderArg, OrderArg, parse_dtype, parse_shape, resolve_shape};
use crate::error::{EXIT_INVALID, EXIT_OK, stdout_error};
use crate::{CliError, interrupt, npy, progress};

/// How to read inputs that are neither arrfiles nor `.npy` files (raw bytes).
#[derive(Debug, Args)]
pub struct RawInput {
    /// Raw input: the dtype (f32, <f4, bf16, ...). For a .npy: the dtype of untyped data (<V2).
    #[arg(long)]
    pub dtype: Option<String>,
    /// Raw input: the shape, such as 1000,100; one dimension may be -1.
    #[arg(long, allow_hyphen_values = true)]
    pub shape: Option<String>,
    /// Raw input: the element order.
    #[arg(long, value_enum, default_value = "C")]
    pub order: OrderArg,
    /// Raw input: the byte order [default: little, or what --dtype implies].
    #[arg(long, value_enum)]
    pub byte_order: Option<ByteOrderArg>,
    /// Raw input: bytes to skip before the data.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
}

/// `arrfile show`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  arrfile show a.arr\n  arrfile show a.arr --slice '0:5, :'\n  arrfile show a.arr --slice '..., -1' --json\n  arrfile show x.npy\n  arrfile show raw.dat --dtype '>f8' --shape -1,3"
)]
pub struct ShowArgs {
    /// An arrfile, a .npy, or a raw file with --dtype and --shape.
    pub file: PathBuf,
    /// numpy-style indices: '0:5, :', '..., -1', '::2', '-1'.
    #[arg(long, allow_hyphen_values = true)]
    pub slice: Option<String>,
    /// Print JSON: the description, the view's shape and nested values ("..." where elided).
    #[arg(long)]
    pub json: bool,
    /// Raw input options.
    #[command(flatten)]
    pub raw: RawInput,
}

/// `arrfile stats`.
#[derive(Debug, Args)]
#[command(
    after_help = "NaN is skipped as np.nanmean/np.nanstd do; std is the population one (ddof=0).\nExamples:\n  arrfile stats a.arr\n  arrfile stats a.arr --axis 1 --json"
)]
pub struct StatsArgs {
    /// An arrfile, a .npy, or a raw file with --dtype and --shape.
    pub file: PathBuf,
    /// Also give the statistics of each index of this axis (negative counts from the end).
    #[arg(long, allow_hyphen_values = true)]
    pub axis: Option<i64>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Threads [default: every core].
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Raw input options.
    #[command(flatten)]
    pub raw: RawInput,
}

/// `arrfile diff`.
#[derive(Debug, Args)]
#[command(
    after_help = "Compares by logical index, across byte orders and C/F orders. Without --rtol or\n--atol the comparison is exact (NaN equals NaN, -0.0 equals 0.0); with either, as\nnp.allclose: |a - b| <= atol + rtol * |b|, the other defaulting to rtol 1e-5, atol 1e-8.\nExit code 0 when equal, 1 when the arrays (or their dtypes or shapes) differ."
)]
pub struct DiffArgs {
    /// The first array: an arrfile, a .npy, or a raw file with --dtype and --shape.
    pub a: PathBuf,
    /// The second array.
    pub b: PathBuf,
    /// Relative tolerance (np.allclose's rtol).
    #[arg(long)]
    pub rtol: Option<f64>,
    /// Absolute tolerance (np.allclose's atol).
    #[arg(long)]
    pub atol: Option<f64>,
    /// How many differing elements to list.
    #[arg(long, default_value_t = 10)]
    pub first: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Raw input options, for whichever input is raw.
    #[command(flatten)]
    pub raw: RawInput,
}

/// `arrfile preview`.
#[derive(Debug, Args)]
#[command(
    after_help = "NaN pixels are magenta. An existing output is replaced (atomically).\nExamples:\n  arrfile preview a.arr -o a.png\n  arrfile preview cube.arr --slice '10, :, :' --cmap magma -o slice.png\n  arrfile preview signal.arr -o signal.png      (1-D: a line plot)"
)]
pub struct PreviewArgs {
    /// An arrfile, a .npy, or a raw file with --dtype and --shape.
    pub file: PathBuf,
    /// The PNG to write.
    #[arg(short, long)]
    pub output: PathBuf,
    /// numpy-style indices choosing a 2-D (image) or 1-D (line plot) view.
    #[arg(long, allow_hyphen_values = true)]
    pub slice: Option<String>,
    /// The colormap: viridis, magma, inferno, plasma, cividis, turbo, greys.
    #[arg(long, default_value = "viridis")]
    pub cmap: String,
    /// The value at the colormap's low end [default: the data's minimum].
    #[arg(long, allow_hyphen_values = true)]
    pub vmin: Option<f64>,
    /// The value at the colormap's high end [default: the data's maximum].
    #[arg(long, allow_hyphen_values = true)]
    pub vmax: Option<f64>,
    /// The image's longest side at most (the width of a line plot), in pixels.
    #[arg(long, default_value_t = 1024)]
    pub size: u32,
    /// How a block of elements becomes a pixel when downsampling: mean, min or max.
    #[arg(long, default_value = "mean")]
    pub reduce: String,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Raw input options.
    #[command(flatten)]
    pub raw: RawInput,
}

fn view_error(e: arrfile_view::Error, output: &Path) -> CliError {
    if e.is_usage() {
        return CliError::Usage(e.to_string());
    }
    let path = e.path().to_owned();
    let message = e.to_string();
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
    if got >= 6 && magic[..6] == npy::MAGIC {
        let mut file = File::open(path).map_err(|e| CliError::io(path, "opening", e))?;
        let header = npy::read_header(&mut file, dtype.map(|d| d.0)).map_err(|e| match e {
            npy::ReadError::Io(e) => CliError::io(path, "reading the .npy header", e),
            npy::ReadError::Npy(source) => CliError::Npy { path: path.to_owned(), source },
        })?;
        header
            .check_file_len(len)
            .map_err(|source| CliError::Npy { path: path.to_owned(), source })?;
        return Source::from_file(path, header.description, header.data_offset)
            .map_err(|e| view_error(e, path));
    }
    let Some((dtype, byte_order)) = dtype.filter(|_| magic != arrfile_format::MAGIC) else {
        return Source::open(path).map_err(|e| view_error(e, path));
    };
    let dims = parse_shape(raw.shape.as_deref().ok_or_else(|| {
        CliError::Usage(format!("{}: a raw input needs --shape with --dtype", path.display()))
    })?)?;
    let shape = resolve_shape(&dims, dtype, len.saturating_sub(raw.offset), path)?;
    let desc =
        Description::new(dtype, shape, Order::from(raw.order), byte_order.unwrap_or_default())
            .map_err(|e| CliError::Usage(format!("--shape: {e}")))?;
    Source::from_file(path, desc, raw.offset).map_err(|e| view_error(e, path))
}

fn print(out: &mut dyn Write, text: &str) -> Result<(), CliError> {
    writeln!(out, "{}", text.trim_end_matches('\n')).map_err(stdout_error)
}

fn json_text(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `arrfile show`.
pub fn show(args: ShowArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let source = open(&args.file, &args.raw)?;
    let stdout = Path::new("<stdout>");
    let text = if args.json {
        json_text(
            &arrfile_view::show_json(&source, args.slice.as_deref())
                .map_err(|e| view_error(e, stdout))?,
        )
    } else {
        arrfile_view::show(&source, args.slice.as_deref()).map_err(|e| view_error(e, stdout))?
    };
    print(out, &text)?;
    Ok(EXIT_OK)
}

/// `arrfile stats`.
pub fn stats(args: StatsArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let source = open(&args.file, &args.raw)?;
    let bar = progress::bar(source.description().data_len(), args.quiet, "stats");
    let inc = |n: u64| bar.inc(n);
    let hooks = Hooks { progress: &inc, cancelled: &interrupt::requested };
    let stats = arrfile_view::stats(&source, args.axis, args.threads, hooks)
        .map_err(|e| view_error(e, Path::new("<stdout>")))?;
    bar.finish_and_clear();
    print(out, &if args.json { json_text(&stats.to_json()) } else { stats.to_text() })?;
    Ok(EXIT_OK)
}

/// `arrfile diff`: exit 0 when equal, 1 when not.
pub fn diff(args: DiffArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let a = open(&args.a, &args.raw)?;
    let b = open(&args.b, &args.raw)?;
    let tolerance = arrfile_view::Tolerance { rtol: args.rtol, atol: args.atol };
    let hooks = Hooks { cancelled: &interrupt::requested, ..Hooks::default() };
    let report = arrfile_view::diff(&a, &b, tolerance, args.first, hooks)
        .map_err(|e| view_error(e, Path::new("<stdout>")))?;
    print(out, &if args.json { json_text(&report.to_json()) } else { report.to_text() })?;
    Ok(if report.equal() { EXIT_OK } else { EXIT_INVALID })
}

/// `arrfile preview`.
pub fn preview(args: PreviewArgs, out: &mut dyn Write) -> Result<u8, CliError> {
    let cmap = arrfile_view::Colormap::from_name(&args.cmap).ok_or_else(|| {
        CliError::Usage(format!(
            "--cmap: expected one of {}, found {:?}",
            arrfile_view::Colormap::NAMES,
            args.cmap
        ))
    })?;
    let reduce = match args.reduce.as_str() {
        "mean" => arrfile_view::Reduce::Mean,
        "min" => arrfile_view::Reduce::Min,
        "max" => arrfile_view::Reduce::Max,
        other => {
            return Err(CliError::Usage(format!(
                "--reduce: expected mean, min or max, found {other:?}"
            )));
        }
    };
    let source = open(&args.file, &args.raw)?;
    let options = arrfile_view::PreviewOptions {
        slice: args.slice,
        cmap,
        vmin: args.vmin,
        vmax: args.vmax,
        size: args.size,
        reduce,
    };
    let bar = progress::bar(source.description().data_len(), args.quiet, "preview");
    let inc = |n: u64| bar.inc(n);
    let hooks = Hooks { progress: &inc, cancelled: &interrupt::requested };
    let report = arrfile_view::preview(&source, &options, &args.output, hooks)
        .map_err(|e| view_error(e, &args.output))?;
    bar.finish_and_clear();
    print(
        out,
        &format!(
            "{} -> {}: {}x{} pixels from {:?} ({} per pixel side), values {} to {}",
            args.file.display(),
            args.output.display(),
            report.width,
            report.height,
            report.shape,
            report.block,
            report.vmin,
            report.vmax
        ),
    )?;
    Ok(EXIT_OK)
}
