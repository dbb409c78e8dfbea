//! Whole files: a `.npy` into a new arrfile ([`import`]) and an arrfile out to a `.npy` or raw
//! bytes ([`export`]), streaming in constant memory, each output appearing complete or not at
//! all.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use arrfile_format::{ByteOrder, Dtype, Header, Verification};
use arrfile_mmap::{ArrayReader, CopyError, Options, PendingFile};

use crate::{NpyError, NpyHeader, ReadError, read_header, write_header};

/// A failure of [`import`] or [`export`]. Displays as `<file>: <what went wrong>`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The `.npy` input was refused: its header, or a length that does not match it.
    #[error("{}: {source}", path.display())]
    Npy {
        /// The `.npy` file.
        path: PathBuf,
        /// Why.
        #[source]
        source: NpyError,
    },
    /// An I/O error, with what was being done.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// An error of the arrfile library (it names the file).
    #[error(transparent)]
    Arrfile(#[from] arrfile_mmap::Error),
    /// The arrfile's payload does not match its checksum, so it was not exported.
    #[error(
        "{}: payload checksum mismatch: expected CRC-32 {expected:#010x}, found {found:#010x}; not exported",
        path.display()
    )]
    Corrupt {
        /// The arrfile.
        path: PathBuf,
        /// The CRC the header states.
        expected: u32,
        /// The CRC of the payload.
        found: u32,
    },
    /// The progress callback asked to stop; nothing was written to the output.
    #[error("stopped; nothing was written to {}", path.display())]
    Stopped {
        /// The output that was not written.
        path: PathBuf,
    },
}

fn io_error<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> FileError + 'a {
    move |source| FileError::Io { path: path.to_owned(), action, source }
}

/// Opens a `.npy` file, reads and checks its header (with `dtype_override` for untyped data
/// such as ml_dtypes' bfloat16, saved as `<V2`), checks that the file holds exactly the data
/// it describes, and leaves the file positioned at the data.
///
/// # Errors
/// [`FileError::Npy`] for a refused header or a wrong length, [`FileError::Io`].
pub fn open(path: &Path, dtype_override: Option<Dtype>) -> Result<(NpyHeader, File), FileError> {
    let mut file = File::open(path).map_err(io_error(path, "opening"))?;
    let header = read_file_header(&mut file, path, dtype_override)?;
    Ok((header, file))
}

/// [`open`] for a file the caller has open already (`path` names it in errors): reads and
/// checks the header from the start of the file, checks the file's length, and leaves the
/// file positioned at the data.
///
/// # Errors
/// As [`open`].
pub fn read_file_header(
    file: &mut File,
    path: &Path,
    dtype_override: Option<Dtype>,
) -> Result<NpyHeader, FileError> {
    let len = file.metadata().map_err(io_error(path, "reading the file's metadata"))?.len();
    file.seek(SeekFrom::Start(0)).map_err(io_error(path, "reading the .npy header"))?;
    let header = read_header(&mut *file, dtype_override).map_err(|e| match e {
        ReadError::Io(source) => {
            FileError::Io { path: path.to_owned(), action: "reading the .npy header", source }
        }
        ReadError::Npy(source) => FileError::Npy { path: path.to_owned(), source },
    })?;
    header
        .check_file_len(len)
        .map_err(|source| FileError::Npy { path: path.to_owned(), source })?;
    file.seek(SeekFrom::Start(header.data_offset))
        .map_err(io_error(path, "seeking to the data"))?;
    Ok(header)
}

/// Converts the `.npy` file `input` into a new arrfile at `output`, streaming with the CRC
/// computed on the way. Big-endian data is stored little-endian (swapped while copying).
/// `options` sets alignment, overwriting and lock waiting; see [`arrfile_mmap::Options`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// use arrfile_mmap::{Options, ReadArray, StreamWriter};
/// # let dir = tempfile::tempdir()?;
/// # let (arr, npy, back) = (dir.path().join("a.arr"), dir.path().join("a.npy"), dir.path().join("b.arr"));
/// let mut writer = StreamWriter::create(&arr, Description::c_order(Dtype::I16, vec![2, 3])?, None)?;
/// writer.write_elements(&[1i16, 2, 3, 4, 5, 6])?;
/// writer.finish()?;
///
/// // arrfile -> .npy (what np.save would write) -> arrfile.
/// let reader = Options::new().open_reader(&arr)?;
/// arrfile_npy::export(&reader, &npy, arrfile_npy::ExportFormat::Npy, false, |_| {
///     std::ops::ControlFlow::Continue(())
/// })?;
/// let header = arrfile_npy::import(&npy, &back, &Options::new())?;
/// assert_eq!(header.shape(), &[2, 3]);
/// assert_eq!(arrfile_mmap::open(&back)?.to_vec::<i16>()?, [1, 2, 3, 4, 5, 6]);
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`open`]; [`FileError::Arrfile`] for the output. Nothing is left at `output` on error.
pub fn import(input: &Path, output: &Path, options: &Options) -> Result<Header, FileError> {
    let (header, mut file) = open(input, None)?;
    let description = header.description.clone().stored_as(ByteOrder::Little);
    let mut writer = options.stream(output, description, None)?;
    let source = header.description.byte_order();
    writer.copy_from(&mut file, source, |_| {}).map_err(|e| match e {
        CopyError::Read(source) => {
            FileError::Io { path: input.to_owned(), action: "reading the data", source }
        }
        CopyError::ShortInput { copied, expected } => FileError::Npy {
            path: input.to_owned(),
            source: NpyError::TruncatedData { expected, found: copied },
        },
        CopyError::Write(e) => FileError::Arrfile(e),
        other => FileError::Io {
            path: input.to_owned(),
            action: "copying",
            source: io::Error::other(other.to_string()),
        },
    })?;
    Ok(writer.finish()?)
}

/// What [`export`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportFormat {
    /// The `.npy` numpy itself would write for the array, byte for byte.
    Npy,
    /// The payload bytes alone, as `tofile` writes them.
    Raw,
}

/// Bytes copied per read and write: small enough to stay in the core's cache between the
/// read, the CRC and the write (as the streaming writer's buffer), large enough for
/// full-speed I/O.
const STEP: usize = 1 << 20;

/// Writes the array `reader` holds to `output` as a `.npy` or as raw bytes. The payload is
/// hashed while it is copied, and a payload in state *valid* that does not match its
/// checksum is not exported. The payload is read, not mapped: a file cut short meanwhile is
/// an error. The output appears complete or not at all; with `overwrite` false, an existing
/// output is refused. `progress` is called with the payload bytes written so far;
/// [`ControlFlow::Break`] stops the export, and nothing is written.
///
/// # Errors
/// [`FileError::Corrupt`], [`FileError::Stopped`], [`FileError::Npy`] for a dtype numpy
/// cannot name, [`FileError::Arrfile`] (with [`arrfile_mmap::ErrorKind::AlreadyExists`] for
/// an existing output), [`FileError::Io`].
pub fn export(
    reader: &ArrayReader,
    output: &Path,
    format: ExportFormat,
    overwrite: bool,
    mut progress: impl FnMut(u64) -> ControlFlow<()>,
) -> Result<(), FileError> {
    let header = match format {
        ExportFormat::Raw => Vec::new(),
        ExportFormat::Npy => write_header(reader.header().description())
            .map_err(|source| FileError::Npy { path: reader.path().to_owned(), source })?,
    };
    let pending = PendingFile::create(output, overwrite)?;
    let mut file = pending.file();
    file.write_all(&header).map_err(io_error(output, "writing"))?;
    // One pass: the payload is hashed as it is copied, where verifying first would read it
    // twice (twice from disk, for a payload larger than memory). The copy is sequential and
    // bound by the writes, so the CRC needs no other core; a mismatch is found before the
    // rename, so a corrupt file still leaves nothing at `output`.
    let len = reader.header().data_len();
    let mut buffer = vec![0; usize::try_from(len.min(STEP as u64)).unwrap_or(STEP)];
    let mut hasher = crc32fast::Hasher::new();
    let mut written = 0u64;
    while written < len {
        let n = usize::try_from((len - written).min(buffer.len() as u64)).unwrap_or(STEP);
        reader.read_payload_at(written, &mut buffer[..n])?;
        hasher.update(&buffer[..n]);
        file.write_all(&buffer[..n]).map_err(io_error(output, "writing"))?;
        written += n as u64;
        if progress(written).is_break() {
            return Err(FileError::Stopped { path: output.to_owned() });
        }
    }
    let verification = reader.header().checksum().verify_against(hasher.finalize());
    if let Verification::Mismatch { expected, found } = verification {
        return Err(FileError::Corrupt { path: reader.path().to_owned(), expected, found });
    }
    pending.commit()?;
    Ok(())
}
