//! The command line: flags (clap) and the dispatch to each command.

use std::io::Write;
use std::path::PathBuf;

use arrfile_format::{Alignment, ChecksumState, Description, Order};
use clap::{Args, Parser, Subcommand};

use crate::append::{AppendRequest, append};
use crate::args::{
    ByteOrderArg, OrderArg, parse_attributes, parse_dtype, parse_shape, refuse_existing,
};
use crate::convert::{ConvertRequest, convert};
use crate::error::CliError;
use crate::error::{EXIT_CODES_HELP, EXIT_OK, stdout_error};
use crate::inspect;

/// Self-describing, checksummed, memory-mappable array files.
#[derive(Debug, Parser)]
#[command(name = "arrfile", version, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub(crate) struct Cli {
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Convert a raw .dat or a .npy file into an arrfile, streaming.
    Convert(ConvertArgs),
    /// Create a zero-filled, sparse arrfile, ready to be filled in place.
    Create(CreateArgs),
    /// Grow an arrfile in place by the rows of raw, .npy and arrfile inputs, all or none.
    Append(AppendArgs),
    /// Show an arrfile's header: dtype, shape, order, sizes, checksum state, attributes.
    Info(InfoArgs),
    /// Check headers and payload checksums.
    Verify(VerifyArgs),
    /// Write an arrfile's array as a .npy (or, with --raw, as raw bytes).
    Export(ExportArgs),
    /// Remove the temporary files that killed writers left in a directory.
    Clean(CleanArgs),
    /// Roll back an interrupted append: the file holds its committed array again.
    Recover(RecoverArgs),
    /// Print the values, as numpy prints them (summarised when large); --slice picks a view.
    Show(crate::view_cmds::ShowArgs),
    /// Count, min, max, mean, std, NaN/inf/zero counts; --axis for one row per index.
    Stats(crate::view_cmds::StatsArgs),
    /// Compare two arrays by logical index; exit 1 when they differ.
    Diff(crate::view_cmds::DiffArgs),
    /// Draw a 2-D array (colormap) or a 1-D array (line plot) as a PNG.
    Preview(crate::view_cmds::PreviewArgs),
}

/// Options of new files.
#[derive(Debug, Args)]
pub(crate) struct NewFileArgs {
    /// An attribute for the metadata block; VALUE is JSON if it parses as JSON, else a string.
    #[arg(long = "attr", value_name = "KEY=VALUE")]
    pub(crate) attrs: Vec<String>,
    /// A JSON object of attributes (--attr entries override its keys).
    #[arg(long, value_name = "FILE")]
    pub(crate) attrs_json: Option<PathBuf>,
    /// Payload alignment: a power of two from 4096 to 1048576 (65536 suits 64 KiB pages).
    #[arg(long, value_name = "BYTES")]
    pub(crate) alignment: Option<u64>,
    /// Replace an existing output file.
    #[arg(long)]
    pub(crate) force: bool,
    /// With --force: wait for a writer that holds the existing output, instead of failing.
    #[arg(long, requires = "force")]
    pub(crate) wait: bool,
}

impl NewFileArgs {
    /// The library's options for these flags.
    fn options(&self) -> Result<arrfile_mmap::Options, CliError> {
        let mut options = arrfile_mmap::Options::new().overwrite(self.force);
        if let Some(alignment) = alignment(self.alignment)? {
            options = options.alignment(alignment);
        }
        if self.wait {
            options = options.lock_wait(arrfile_mmap::LockWait::Wait);
        }
        Ok(options)
    }
}

/// `arrfile convert`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  arrfile convert raw.dat --dtype f32 --shape 1000000,100\n  arrfile convert raw.dat --dtype '>f8' --shape -1,3 --order F -o out.arr\n  arrfile convert weights.npy\n  arrfile convert bf16.npy --dtype bf16     (ml_dtypes bfloat16, saved by numpy as <V2)"
)]
pub(crate) struct ConvertArgs {
    /// The input: raw bytes, or a .npy file (detected by its magic bytes).
    pub(crate) input: PathBuf,
    /// The output [default: the input with the extension .arr].
    #[arg(short, long)]
    pub(crate) output: Option<PathBuf>,
    /// Raw input: the dtype (f32, float32, <f4, f4, bf16, ...). For .npy: the dtype of untyped data (<V2).
    #[arg(long)]
    pub(crate) dtype: Option<String>,
    /// Raw input: the shape, such as 1000000,100; one dimension may be -1.
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) shape: Option<String>,
    /// Raw input: the element order.
    #[arg(long, value_enum)]
    pub(crate) order: Option<OrderArg>,
    /// Raw input: the byte order of the input [default: little, or what --dtype implies].
    #[arg(long, value_enum)]
    pub(crate) byte_order: Option<ByteOrderArg>,
    /// Raw input: bytes to skip before the data.
    #[arg(long, default_value_t = 0)]
    pub(crate) offset: u64,
    /// Store big-endian input as it is (default: convert it to little-endian while copying).
    #[arg(long)]
    pub(crate) keep_byte_order: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Options of the new file.
    #[command(flatten)]
    pub(crate) new_file: NewFileArgs,
}

/// `arrfile create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The new file.
    pub(crate) output: PathBuf,
    /// The dtype.
    #[arg(long)]
    pub(crate) dtype: String,
    /// The shape, such as 1000000,100 (empty for 0-d).
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) shape: String,
    /// The element order.
    #[arg(long, value_enum, default_value = "C")]
    pub(crate) order: OrderArg,
    /// The payload's byte order [default: little].
    #[arg(long, value_enum)]
    pub(crate) byte_order: Option<ByteOrderArg>,
    /// Options of the new file.
    #[command(flatten)]
    pub(crate) new_file: NewFileArgs,
}

/// `arrfile append`.
#[derive(Debug, Args)]
#[command(
    after_help = "Rows go along the outer axis: the first in C order, the last in F order. Each input must hold
BASE's dtype and rows of BASE's trailing shape (and, unless the layouts agree, its order);
every input is checked before anything is written, and the rows of all are committed at once.
The CRC of the grown array is combined from the old one: the old rows are not read again.
Ctrl-C, SIGTERM or an error leave BASE as it was. A base left mid-append by a killed process
is rolled back first.

Examples:
  arrfile append log.arr steps.dat                   (raw rows of log.arr's dtype and row shape)
  arrfile append log.arr steps.dat --shape -1,3,4 --byte-order big
  arrfile append log.arr day2.npy day3.npy more.arr
  arrfile append log.arr huge.dat --wait             (after the append running now)"
)]
pub(crate) struct AppendArgs {
    /// The arrfile that grows.
    pub(crate) base: PathBuf,
    /// The inputs, in order: raw bytes, .npy files or arrfiles (detected by their magic bytes).
    #[arg(required = true, value_name = "MORE")]
    pub(crate) inputs: Vec<PathBuf>,
    /// Raw inputs: the dtype; it must be BASE's [default: BASE's].
    #[arg(long)]
    pub(crate) dtype: Option<String>,
    /// Raw inputs: the whole shape, such as -1,3,4, checked against BASE's trailing shape
    /// [default: as many rows as the size holds].
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) shape: Option<String>,
    /// Raw inputs: their byte order [default: little, or what --dtype implies].
    #[arg(long, value_enum)]
    pub(crate) byte_order: Option<ByteOrderArg>,
    /// Raw inputs: bytes to skip before the data.
    #[arg(long, default_value_t = 0)]
    pub(crate) offset: u64,
    /// No progress bar.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Wait for another appender or writer of BASE (or a writer of an arrfile input) instead
    /// of failing.
    #[arg(long)]
    pub(crate) wait: bool,
}

/// `arrfile recover`.
#[derive(Debug, Args)]
#[command(
    after_help = "A file whose append was interrupted (`arrfile info` says so) holds the committed array and
uncommitted rows after it: recover cuts those rows and clears the flag, leaving the file byte
for byte as it was before that append. Files without an interrupted append are not changed.

Examples:
  arrfile recover log.arr
  arrfile recover --wait *.arr"
)]
pub(crate) struct RecoverArgs {
    /// The arrfiles.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// Wait for an append or a writer that holds a file instead of failing.
    #[arg(long)]
    pub(crate) wait: bool,
}

/// `arrfile info`.
#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    /// The arrfile.
    pub(crate) file: PathBuf,
    /// Print stable JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `arrfile verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The arrfiles.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// No progress bar.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// `arrfile export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The arrfile.
    pub(crate) file: PathBuf,
    /// The output [default: the input with the extension .npy, or .dat with --raw].
    #[arg(short, long)]
    pub(crate) output: Option<PathBuf>,
    /// Write the raw payload bytes instead of a .npy.
    #[arg(long)]
    pub(crate) raw: bool,
    /// Replace an existing output file.
    #[arg(long)]
    pub(crate) force: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// `arrfile clean`.
#[derive(Debug, Args)]
pub(crate) struct CleanArgs {
    /// The directory.
    #[arg(default_value = ".")]
    pub(crate) dir: PathBuf,
}

fn alignment(bytes: Option<u64>) -> Result<Option<Alignment>, CliError> {
    bytes
        .map(|b| Alignment::new(b).map_err(|e| CliError::Usage(format!("--alignment: {e}"))))
        .transpose()
}

/// Runs a command, writing its results to `out` and per-file problems to `err`. Returns the
/// exit code.
///
/// # Errors
/// The command failed as a whole; the caller prints the error and exits with its code.
pub(crate) fn run(
    command: Command,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, CliError> {
    match command {
        Command::Convert(args) => {
            let request = ConvertRequest {
                input: args.input,
                output: args.output,
                dtype: args.dtype,
                shape: args.shape,
                order: args.order,
                byte_order: args.byte_order,
                offset: args.offset,
                keep_byte_order: args.keep_byte_order,
                force: args.new_file.force,
                quiet: args.quiet,
                attributes: parse_attributes(
                    &args.new_file.attrs,
                    args.new_file.attrs_json.as_deref(),
                )?,
                options: args.new_file.options()?,
            };
            let report = convert(&request)?;
            let h = &report.header;
            writeln!(
                out,
                "{} -> {}: {} {:?}, {} order, {} endian ({}), {} bytes, CRC-32 {:#010x}",
                request.input.display(),
                report.output.display(),
                h.dtype(),
                h.shape(),
                h.description().order().name(),
                h.description().byte_order().name(),
                if report.input_byte_order == h.description().byte_order() {
                    format!("from {}", report.input_kind)
                } else {
                    format!("from {} {} endian", report.input_kind, report.input_byte_order.name())
                },
                h.data_len(),
                h.checksum().crc_field(),
            )
            .map_err(stdout_error)?;
            Ok(EXIT_OK)
        }
        Command::Create(args) => {
            let (dtype, byte_order) = parse_dtype(&args.dtype, args.byte_order)?;
            let dims = parse_shape(&args.shape)?;
            let shape = dims
                .iter()
                .map(|d| {
                    d.ok_or_else(|| {
                        CliError::Usage("--shape: -1 needs an input to infer it from".into())
                    })
                })
                .collect::<Result<Vec<u64>, _>>()?;
            let desc = Description::new(dtype, shape, Order::from(args.order), Default::default())
                .map_err(|e| CliError::Usage(format!("--shape: {e}")))?
                .stored_as(byte_order.unwrap_or_default());
            let attributes =
                parse_attributes(&args.new_file.attrs, args.new_file.attrs_json.as_deref())?;
            refuse_existing(&args.output, args.new_file.force)?;
            let options = args.new_file.options()?;
            let header = options.create_zeroed(&args.output, desc, attributes.as_ref())?;
            writeln!(
                out,
                "created {}: {} {:?}, {} order, {} bytes of zeros (sparse), CRC-32 {:#010x}",
                args.output.display(),
                header.dtype(),
                header.shape(),
                header.description().order().name(),
                header.data_len(),
                header.checksum().crc_field()
            )
            .map_err(stdout_error)?;
            Ok(EXIT_OK)
        }
        Command::Append(args) => {
            let request = AppendRequest {
                base: args.base,
                inputs: args.inputs,
                dtype: args.dtype,
                shape: args.shape,
                byte_order: args.byte_order,
                offset: args.offset,
                quiet: args.quiet,
                wait: args.wait,
            };
            let report = append(&request)?;
            let base = request.base.display();
            if let Some(bytes_cut) = report.recovered {
                writeln!(
                    out,
                    "{base}: rolled back an interrupted append first: cut {bytes_cut} uncommitted bytes"
                )
                .map_err(stdout_error)?;
            }
            let after = &report.after;
            let checksum = match after.checksum_state() {
                ChecksumState::Valid => format!("CRC-32 {:#010x}", after.checksum().crc_field()),
                ChecksumState::Absent => "checksum absent, as before".to_owned(),
                ChecksumState::BeingModified => "checksum being modified, as before".to_owned(),
            };
            writeln!(
                out,
                "{base}: appended {} rows from {} file(s): shape {:?} -> {:?}, {checksum}",
                report.rows,
                request.inputs.len(),
                report.before.shape(),
                after.shape(),
            )
            .map_err(stdout_error)?;
            Ok(EXIT_OK)
        }
        Command::Recover(args) => crate::append::recover(&args.files, args.wait, out, err),
        Command::Info(args) => inspect::info(&args.file, args.json, out),
        Command::Verify(args) => inspect::verify(&args.files, args.quiet, out, err),
        Command::Export(args) => {
            let output = crate::export::export(
                &args.file,
                args.output.as_deref(),
                args.raw,
                args.force,
                args.quiet,
            )?;
            writeln!(out, "{} -> {}", args.file.display(), output.display())
                .map_err(stdout_error)?;
            Ok(EXIT_OK)
        }
        Command::Show(args) => crate::view_cmds::show(args, out),
        Command::Stats(args) => crate::view_cmds::stats(args, out),
        Command::Diff(args) => crate::view_cmds::diff(args, out),
        Command::Preview(args) => crate::view_cmds::preview(args, out),
        Command::Clean(args) => {
            let removed = arrfile_mmap::remove_stale_temp_files(&args.dir)?;
            for path in &removed {
                writeln!(out, "removed {}", path.display()).map_err(stdout_error)?;
            }
            writeln!(
                out,
                "{} stale temporary file(s) removed from {}",
                removed.len(),
                args.dir.display()
            )
            .map_err(stdout_error)?;
            Ok(EXIT_OK)
        }
    }
}
