//! `arrfile append` and `arrfile recover`: grow an arrfile in place by the rows of raw,
//! `.npy` and arrfile inputs (format 1.1), all committed at once; roll back an interrupted
//! append.
//!
//! Every input is checked against the base before anything is written: dtype, number of
//! dimensions, trailing shape (every axis but the one that grows) and, where the bytes
//! depend on it, C or F order. Then the library's appender copies them one after the other,
//! converting the byte order on the way, and commits once; an error or a signal rolls
//! everything back, leaving the base byte for byte as it was.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use arrfile_format::{ByteOrder, ChecksumState, Description, Dtype, Header, Order};
use arrfile_mmap::{Appender, ArrayReader, CopyError, LockWait, Options, Recovery};
use arrfile_npy as npy;

use crate::args::{ByteOrderArg, parse_dtype, parse_shape, resolve_shape};
use crate::error::CliError;
use crate::interrupt::{StopOnSignal, requested, unless_stopped};
use crate::progress;

/// What to append to what, and how.
#[derive(Clone, Debug, Default)]
pub(crate) struct AppendRequest {
    /// The arrfile that grows.
    pub(crate) base: PathBuf,
    /// The inputs, in order: raw, `.npy` or arrfile.
    pub(crate) inputs: Vec<PathBuf>,
    /// Raw inputs: the dtype (must be the base's; default: the base's).
    pub(crate) dtype: Option<String>,
    /// Raw inputs: the whole shape, one dimension may be `-1` (default: as many rows of the
    /// base's trailing shape as the size holds).
    pub(crate) shape: Option<String>,
    /// Raw inputs: their byte order (default little, or what `--dtype` implies).
    pub(crate) byte_order: Option<ByteOrderArg>,
    /// Raw inputs: bytes to skip before the data.
    pub(crate) offset: u64,
    /// No progress bar.
    pub(crate) quiet: bool,
    /// Wait for the locks of other processes instead of failing.
    pub(crate) wait: bool,
}

/// What was appended.
#[derive(Clone, Debug)]
pub(crate) struct AppendReport {
    /// The base's header before the append (the committed array).
    pub(crate) before: Header,
    /// Its header after the commit.
    pub(crate) after: Header,
    /// Rows appended.
    pub(crate) rows: u64,
    /// Bytes cut from an interrupted append found on the base and rolled back first.
    pub(crate) recovered: Option<u64>,
}

/// How an input's bytes are read.
enum Input {
    /// Raw or `.npy`: `len` bytes from `offset`; the file was `file_len` bytes long.
    Plain { file: File, offset: u64, file_len: u64 },
    /// An arrfile: its committed payload, read under its shared lock; `crc` is the CRC-32 it
    /// states for it, when valid (checked while copying).
    Arrfile { reader: ArrayReader, crc: Option<u32> },
}

/// What an input is, by its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Raw,
    Npy,
    Arrfile,
}

/// One input, checked against the base.
struct Source {
    path: PathBuf,
    kind: Kind,
    input: Input,
    /// The byte order of its values.
    byte_order: ByteOrder,
    /// Rows along the base's outer axis.
    rows: u64,
    /// Payload bytes: `rows` × the base's row length.
    len: u64,
}

/// The flags for raw inputs, parsed once.
struct RawFlags {
    dtype: Option<Dtype>,
    byte_order: ByteOrder,
    dims: Option<Vec<Option<u64>>>,
    offset: u64,
}

/// `[2, 3]`.
fn dims(shape: &[u64]) -> String {
    format!("{shape:?}")
}

/// The shape of the arrays that fit `base`: its trailing shape with `n` at the outer axis.
fn pattern(base: &Description) -> String {
    let mut parts: Vec<String> = base.trailing_shape().iter().map(u64::to_string).collect();
    match base.order() {
        Order::C => parts.insert(0, "n".to_owned()),
        Order::F => parts.push("n".to_owned()),
    }
    format!("[{}]", parts.join(", "))
}

/// Whether the C- and F-order layouts of `shape` are the same bytes: no elements, or at most
/// one dimension longer than 1.
fn order_free(shape: &[u64]) -> bool {
    shape.contains(&0) || shape.iter().filter(|&&d| d > 1).count() <= 1
}

/// The rows an array described by `found` adds to `base_desc`, or why it does not fit.
fn rows_of(
    base: &Path,
    base_desc: &Description,
    input: &Path,
    found: &Description,
) -> Result<u64, CliError> {
    let trailing = base_desc.trailing_shape();
    let dtype = base_desc.dtype();
    let base_name = base.display();
    if found.dtype() != dtype {
        return Err(CliError::invalid(
            input,
            format!(
                "expected {dtype} values ({base_name}'s dtype), found {}; an append does not convert values",
                found.dtype()
            ),
        ));
    }
    if found.ndim() != base_desc.ndim() {
        return Err(CliError::invalid(
            input,
            format!(
                "expected a {}-d array of shape {} (rows of {base_name}'s trailing shape {}), found a {}-d array of shape {}",
                base_desc.ndim(),
                pattern(base_desc),
                dims(trailing),
                found.ndim(),
                dims(found.shape()),
            ),
        ));
    }
    // The rows' axis is where the base's is: first in C order, last in F order.
    let as_base = found.clone().with_order(base_desc.order());
    if as_base.trailing_shape() != trailing {
        return Err(CliError::invalid(
            input,
            format!(
                "expected rows of shape {} {dtype} ({base_name}'s trailing shape), found {} (an array of shape {})",
                dims(trailing),
                dims(as_base.trailing_shape()),
                dims(found.shape()),
            ),
        ));
    }
    if found.order() != base_desc.order() && !order_free(found.shape()) {
        let (expected, axis) = match base_desc.order() {
            Order::C => ("C", "first"),
            Order::F => ("F", "last"),
        };
        return Err(CliError::invalid(
            input,
            format!(
                "expected {expected} order ({base_name}'s order, which grows its {axis} axis), found {} order, whose bytes for shape {} are laid out otherwise; save it in {expected} order first",
                found.order().name(),
                dims(found.shape()),
            ),
        ));
    }
    // The ndim check above leaves an outer axis: the base is not 0-d.
    Ok(as_base.outer_len().unwrap_or(0))
}

/// Parses the raw-input flags against the base.
fn raw_flags(
    request: &AppendRequest,
    base: &Path,
    base_desc: &Description,
) -> Result<RawFlags, CliError> {
    let (dtype, implied) = match &request.dtype {
        None => (None, request.byte_order.map(ByteOrder::from)),
        Some(spelling) => {
            let (dtype, byte_order) = parse_dtype(spelling, request.byte_order)?;
            if dtype != base_desc.dtype() {
                return Err(CliError::Usage(format!(
                    "--dtype {spelling}: expected {} ({}'s dtype), found {dtype}; an append does not convert values",
                    base_desc.dtype(),
                    base.display()
                )));
            }
            (Some(dtype), byte_order)
        }
    };
    let dims = request.shape.as_deref().map(parse_shape).transpose()?;
    if let Some(dims) = &dims
        && dims.len() != base_desc.ndim()
    {
        return Err(CliError::Usage(format!(
            "--shape {}: expected {} dimensions, as {} has (shape {}), found {}",
            request.shape.as_deref().unwrap_or_default(),
            base_desc.ndim(),
            base.display(),
            pattern(base_desc),
            dims.len()
        )));
    }
    Ok(RawFlags { dtype, byte_order: implied.unwrap_or_default(), dims, offset: request.offset })
}

/// Opens and checks one input.
fn source(
    path: &Path,
    base: &Path,
    base_desc: &Description,
    raw: &RawFlags,
    wait: bool,
) -> Result<Source, CliError> {
    // Asked before opening: opening a FIFO would wait for a writer.
    let meta = std::fs::metadata(path).map_err(|e| CliError::io(path, "opening the input", e))?;
    if meta.is_dir() {
        return Err(CliError::invalid(
            path,
            "expected a raw, .npy or arrfile input, found a directory",
        ));
    }
    if !meta.is_file() {
        return Err(CliError::invalid(
            path,
            "expected a regular file, found a pipe, socket or device: every input's length is checked before anything is written",
        ));
    }
    let mut file = File::open(path).map_err(|e| CliError::io(path, "opening the input", e))?;
    let file_len =
        file.metadata().map_err(|e| CliError::io(path, "reading the input's metadata", e))?.len();
    let mut magic = Vec::with_capacity(arrfile_format::MAGIC.len());
    (&mut file)
        .take(arrfile_format::MAGIC.len() as u64)
        .read_to_end(&mut magic)
        .map_err(|e| CliError::io(path, "reading the input", e))?;
    // A file cut inside a magic is a truncated file of that kind, not raw data.
    let starts = |m: &[u8]| !magic.is_empty() && m.starts_with(&magic[..magic.len().min(m.len())]);
    if starts(&npy::MAGIC) {
        let header = match npy::read_file_header(&mut file, path, None) {
            // Untyped data (ml_dtypes' bfloat16 and fp8): read it as the base's dtype.
            Err(npy::FileError::Npy { source: npy::NpyError::UntypedDescr { .. }, .. }) => {
                npy::read_file_header(&mut file, path, Some(base_desc.dtype()))
            }
            other => other,
        }
        .map_err(CliError::from)?;
        let rows = rows_of(base, base_desc, path, &header.description)?;
        return Ok(Source {
            path: path.to_owned(),
            kind: Kind::Npy,
            byte_order: header.description.byte_order(),
            rows,
            len: header.description.data_len(),
            input: Input::Plain { file, offset: header.data_offset, file_len },
        });
    }
    if starts(&arrfile_format::MAGIC) {
        drop(file);
        // Under a shared lock, which excludes r+ writers (an appender's rows are not read).
        let (owned, options) = (path.to_owned(), options(wait));
        let reader = open_unless_stopped(wait, base, move || options.open_reader(owned))?;
        let found = reader.header().description().clone();
        let rows = rows_of(base, base_desc, path, &found)?;
        let checksum = reader.header().checksum();
        let crc = (checksum.state() == ChecksumState::Valid).then(|| checksum.crc_field());
        return Ok(Source {
            path: path.to_owned(),
            kind: Kind::Arrfile,
            byte_order: found.byte_order(),
            rows,
            len: found.data_len(),
            input: Input::Arrfile { reader, crc },
        });
    }
    let available = file_len.checked_sub(raw.offset).ok_or_else(|| {
        CliError::invalid(
            path,
            format!("expected more than --offset {} bytes, found a file of {file_len}", raw.offset),
        )
    })?;
    let dtype = raw.dtype.unwrap_or(base_desc.dtype());
    let row_len = base_desc.row_len();
    let shape = match &raw.dims {
        Some(dims) => resolve_shape(dims, dtype, available, path)?,
        None if row_len == 0 => {
            return Err(CliError::Usage(format!(
                "{}: {}'s rows have 0 bytes (a trailing dimension is 0): give their number with --shape",
                path.display(),
                base.display()
            )));
        }
        None => {
            if !available.is_multiple_of(row_len) {
                return Err(CliError::invalid(
                    path,
                    format!(
                        "expected a multiple of {row_len} bytes (rows of shape {} {dtype}, {}'s trailing shape), found {available} bytes: {} whole rows and {} bytes of the next",
                        dims(base_desc.trailing_shape()),
                        base.display(),
                        available / row_len,
                        available % row_len
                    ),
                ));
            }
            // The base has an outer axis: its description takes any number of rows that fits.
            base_desc
                .with_outer_len(available / row_len)
                .map_err(|e| {
                    CliError::invalid(path, format!("expected rows that fit the format, found {e}"))
                })?
                .shape()
                .to_vec()
        }
    };
    let found = Description::new(dtype, shape, base_desc.order(), raw.byte_order)
        .map_err(|e| CliError::Usage(format!("--shape: {e}")))?;
    let rows = rows_of(base, base_desc, path, &found)?;
    Ok(Source {
        path: path.to_owned(),
        kind: Kind::Raw,
        byte_order: raw.byte_order,
        rows,
        len: found.data_len(),
        input: Input::Plain { file, offset: raw.offset, file_len },
    })
}

/// Reads an arrfile's committed payload with `pread`.
struct PayloadReader<'a> {
    reader: &'a ArrayReader,
    pos: u64,
    hasher: crc32fast::Hasher,
}

impl Read for PayloadReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.reader.header().data_len() - self.pos;
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        self.reader.read_payload_at(self.pos, &mut buf[..n]).map_err(io::Error::other)?;
        self.hasher.update(&buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

/// The error of a failed copy from `source`.
fn copy_error(source: &Path, e: CopyError) -> CliError {
    match e {
        CopyError::Read(e) => match e.downcast::<arrfile_mmap::Error>() {
            Ok(e) => CliError::Arrfile(e),
            Err(e) => CliError::io(source, "reading the input", e),
        },
        CopyError::Write(e) => e.into(),
        other => CliError::invalid(source, other.to_string()),
    }
}

/// Copies one source's rows into the appender; `done` bytes of `total` were copied before.
fn copy_source(
    appender: &mut Appender,
    source: &Source,
    progress: &mut dyn FnMut(u64),
) -> Result<(), CliError> {
    if appender.row_len() == 0 {
        appender.write_empty_rows(source.rows)?;
        return Ok(());
    }
    if source.len == 0 {
        return Ok(());
    }
    let path = &source.path;
    let copied = match &source.input {
        Input::Plain { file, offset, file_len } => {
            let mut reader = file;
            std::io::Seek::seek(&mut reader, io::SeekFrom::Start(*offset))
                .map_err(|e| CliError::io(path, "seeking to the data", e))?;
            let copied = appender
                .copy_from(StopOnSignal(reader.take(source.len)), source.byte_order, progress)
                .map_err(|e| copy_error(path, e))?;
            // Bytes added or cut while copying would otherwise go unnoticed.
            let now = file
                .metadata()
                .map_err(|e| CliError::io(path, "reading the input's metadata", e))?
                .len();
            if now != *file_len {
                return Err(CliError::invalid(
                    path,
                    format!(
                        "expected {file_len} bytes, found {now}: the file changed while it was read"
                    ),
                ));
            }
            copied
        }
        Input::Arrfile { reader, crc } => {
            let mut payload = PayloadReader { reader, pos: 0, hasher: crc32fast::Hasher::new() };
            let copied = appender
                .copy_from(StopOnSignal(&mut payload), source.byte_order, progress)
                .map_err(|e| copy_error(path, e))?;
            let found = payload.hasher.finalize();
            if let Some(expected) = *crc
                && copied == source.len
                && found != expected
            {
                return Err(CliError::invalid(
                    path,
                    format!(
                        "payload checksum mismatch: expected CRC-32 {expected:#010x}, found {found:#010x}; the data is corrupt, nothing was appended"
                    ),
                ));
            }
            copied
        }
    };
    if copied != source.len {
        return Err(CliError::invalid(
            path,
            format!(
                "expected {} bytes of data, found {copied}: the file shrank while it was read",
                source.len
            ),
        ));
    }
    Ok(())
}

/// The options for locks: wait or fail at once.
fn options(wait: bool) -> Options {
    Options::new().lock_wait(if wait { LockWait::Wait } else { LockWait::NoWait })
}

/// Runs `open` (which may wait for a lock) so that a signal ends the wait: with `--wait` on
/// a helper thread, otherwise (no wait) here.
fn open_unless_stopped<T: Send + 'static>(
    wait: bool,
    base: &Path,
    open: impl FnOnce() -> Result<T, arrfile_mmap::Error> + Send + 'static,
) -> Result<T, CliError> {
    let opened = if wait { unless_stopped(open) } else { Some(open()) };
    match opened {
        _ if requested() => Err(CliError::AppendInterrupted { path: base.to_owned() }),
        Some(result) => Ok(result?),
        None => Err(CliError::AppendInterrupted { path: base.to_owned() }),
    }
}

/// Appends the inputs to the base, committed at once.
///
/// # Errors
/// [`CliError`]: an input that does not fit the base (nothing is written then), a lock held
/// by another process, I/O, interruption. On any error the base is left as it was: the rows
/// copied so far are rolled back.
pub(crate) fn append(request: &AppendRequest) -> Result<AppendReport, CliError> {
    let base = &request.base;
    // Checked against the committed array: a file mid-append describes it too.
    let (planned, _) = arrfile_mmap::inspect(base)?;
    let base_desc = planned.description();
    if base_desc.outer_axis().is_none() {
        return Err(CliError::invalid(
            base,
            "expected an array with an axis to append along, found a 0-d array (shape [])",
        ));
    }
    let raw = raw_flags(request, base, base_desc)?;
    let base_id = std::fs::metadata(base)
        .map(|m| (m.dev(), m.ino()))
        .map_err(|e| CliError::io(base, "reading the file's metadata", e))?;
    let mut sources = Vec::with_capacity(request.inputs.len());
    for path in &request.inputs {
        if std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == base_id) {
            return Err(CliError::Usage(format!(
                "{}: is {} itself; an array cannot be appended to itself (append a copy)",
                path.display(),
                base.display()
            )));
        }
        sources.push(source(path, base, base_desc, &raw, request.wait)?);
    }
    let raw_only = [
        ("--dtype", request.dtype.is_some()),
        ("--shape", request.shape.is_some()),
        ("--byte-order", request.byte_order.is_some()),
        ("--offset", request.offset != 0),
    ];
    if sources.iter().all(|s| s.kind != Kind::Raw)
        && let Some((flag, _)) = raw_only.iter().find(|(_, given)| *given)
    {
        return Err(CliError::Usage(format!(
            "{flag} is for raw inputs, and every input is a .npy or an arrfile, whose header says what it holds"
        )));
    }
    if requested() {
        return Err(CliError::AppendInterrupted { path: base.clone() });
    }

    let options = options(request.wait);
    let (path, open) = (base.clone(), options.clone());
    let mut appender = open_unless_stopped(request.wait, base, move || open.append(path))?;
    // A dead appender's rows, rolled back by the open (under the append lock): the user is told.
    let recovered = match appender.recovered() {
        Recovery::RolledBack { bytes_cut } => Some(bytes_cut),
        _ => None,
    };
    let before = appender.header().clone();
    let now = before.description();
    // Checked again under the lock: a program may have replaced the file meanwhile.
    if now.dtype() != base_desc.dtype()
        || now.order() != base_desc.order()
        || now.shape().len() != base_desc.ndim()
        || now.trailing_shape() != base_desc.trailing_shape()
    {
        return Err(CliError::invalid(
            base,
            format!(
                "expected {base_desc} as when the inputs were checked, found {now}: it was replaced meanwhile; nothing was appended"
            ),
        ));
    }
    // The size bound (2^62 bytes), checked before anything is written.
    let rows = sources.iter().try_fold(0u64, |acc, s| acc.checked_add(s.rows));
    let grown = rows.and_then(|rows| rows.checked_add(now.outer_len().unwrap_or(0)));
    let rows = match (rows, grown) {
        (Some(rows), Some(grown)) if now.with_outer_len(grown).is_ok() => rows,
        _ => {
            let mut shape: Vec<String> = now.shape().iter().map(u64::to_string).collect();
            if let Some(axis) = now.outer_axis() {
                shape[axis] = grown.map_or_else(|| "more than 2^64".to_owned(), |g| g.to_string());
            }
            return Err(CliError::invalid(
                base,
                format!(
                    "expected a grown array within the format's size bound of 2^62 bytes, found shape [{}] of {}; nothing was appended",
                    shape.join(", "),
                    now.dtype()
                ),
            ));
        }
    };

    let total: u64 = sources.iter().map(|s| s.len).sum();
    let bar = progress::bar(total, request.quiet, "appending");
    let mut copied = Ok(());
    let mut done = 0;
    for source in &sources {
        copied = copy_source(&mut appender, source, &mut |n| bar.set_position(done + n));
        if copied.is_err() {
            break;
        }
        done += source.len;
    }
    bar.finish_and_clear();
    // A signal before the commit is obeyed (nothing was promised yet), and a copy that
    // failed because of it failed because of the signal.
    if requested() {
        copied = Err(CliError::AppendInterrupted { path: base.clone() });
    }
    if let Err(error) = copied {
        return Err(match appender.rollback() {
            Ok(()) => error,
            Err(rollback) => CliError::NotRolledBack { error: Box::new(error), rollback },
        });
    }
    let after = appender.commit()?;
    Ok(AppendReport { before, after, rows, recovered })
}

/// `arrfile recover`: rolls back the interrupted append of each file, if any.
///
/// # Errors
/// A stop while waiting for a lock.
pub(crate) fn recover(
    files: &[PathBuf],
    wait: bool,
    out: &mut dyn io::Write,
    err: &mut dyn io::Write,
) -> Result<u8, CliError> {
    use crate::error::{EXIT_OK, stdout_error};
    let mut code = EXIT_OK;
    for path in files {
        let (owned, options) = (path.clone(), options(wait));
        let result = open_unless_stopped(wait, path, move || options.recover(owned));
        let line = match result {
            Ok(Recovery::RolledBack { bytes_cut }) => format!(
                "{}: rolled back an interrupted append: cut {bytes_cut} uncommitted bytes; {} is its committed array again",
                path.display(),
                path.display()
            ),
            Ok(_) => format!("{}: nothing to recover", path.display()),
            Err(CliError::AppendInterrupted { path }) => {
                return Err(CliError::Interrupted { path });
            }
            Err(e) => {
                code = code.max(e.exit_code());
                let _ = writeln!(err, "error: {e}");
                continue;
            }
        };
        writeln!(out, "{line}").map_err(stdout_error)?;
    }
    Ok(code)
}
