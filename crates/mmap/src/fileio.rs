//! Reading and validating what lies before the payload; rewriting the header.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use arrfile_format::{Attributes, Header, ParseErrorKind, PayloadChecksum};

use crate::error::{Error, ErrorKind};
use crate::lock::append_lock_held_on;

/// Bytes read by the first read of an open: the header and, for most files, the metadata
/// and padding too, so a typical open is one read.
const FIRST_READ: u64 = 4096;

/// Opens of a path whose file keeps being replaced before a writer gives up looking again.
const REOPEN_ATTEMPTS: usize = 16;

/// Opens `path` (read-write when `writable`) and takes `take_locks` on it. A writer must change
/// the file that is at the path: when the path was replaced while the locks were awaited, the
/// file at the path is opened and locked again. (Readers may read a replaced file: it stays
/// whole.) The one open-and-lock of `r`, `r+`, `c`, appenders and recovery.
pub(crate) fn open_locked(
    path: &Path,
    writable: bool,
    take_locks: impl Fn(&File) -> Result<(), Error>,
) -> Result<File, Error> {
    let mut attempts = 0;
    loop {
        let file = File::options()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|e| Error::io(path, "opening", e))?;
        take_locks(&file)?;
        attempts += 1;
        if !writable || names_this_file(path, &file) || attempts == REOPEN_ATTEMPTS {
            return Ok(file);
        }
    }
}

/// Who else may change the header or the length of a file while this process reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Others {
    /// Nobody: this process holds an exclusive `flock` (`r+`), or the append lock and a
    /// shared `flock` (an appender, a recovery).
    Nobody,
    /// Appenders only: this process holds a shared `flock` (`r`, `c`, [`crate::ArrayReader`]),
    /// which excludes `r+` writers but not appenders (spec §11).
    Appenders,
    /// Anyone: no lock is held ([`crate::inspect`]); `r+` writers too.
    Anyone,
}

/// Re-reads of a header that disagreed with the file's length, or whose CRC did not match,
/// made at once before looking for a writer: they cost one `pread` and one `fstat` each.
const QUICK_REREADS: usize = 2;

/// How long re-reads go on while a writer is seen at work: a commit rewrites 640 bytes and
/// takes microseconds; an append's first header precedes its rows.
const REREAD_WINDOW: Duration = Duration::from_millis(50);

/// Applies every reader check (R1–R24, and 1.1's R25) to an open file and returns its
/// header and attributes: the one way every open reads a header (`r`, `r+`, `c`,
/// [`crate::ArrayReader`], [`crate::inspect`], appenders and recovery).
///
/// A writer may change the header while it is read (spec §11, "other actors"): an appender
/// rewrites it under a reader's shared lock, at its first row and at its commit, and grows
/// the file in between. The header is read before the length, so that the only disagreement
/// such a race can cause is a header older than the length (`trailing_bytes`), which the next
/// read resolves; a header caught half written fails its CRC. On `header_checksum_mismatch`,
/// `truncated_payload` or `trailing_bytes`, the header and length are read again: twice at
/// once, then for up to 50 ms while one of `others` is seen at work (the append lock held,
/// or for lock-free reads an exclusive `flock`), before the error is reported. A file that is
/// really damaged costs two extra reads.
pub(crate) fn read_validated(
    file: &File,
    path: &Path,
    others: Others,
) -> Result<(Header, Option<Attributes>), Error> {
    let meta = file.metadata().map_err(|e| Error::io(path, "reading the file's metadata", e))?;
    if meta.is_dir() {
        return Err(Error::new(path, ErrorKind::IsADirectory));
    }
    if !meta.is_file() {
        return Err(Error::new(path, ErrorKind::NotAFile));
    }
    let mut quick = QUICK_REREADS;
    let mut deadline = None;
    loop {
        let error = match read_validated_once(file, path) {
            Err(e) if others != Others::Nobody && may_be_a_race(&e) => e,
            done => return done,
        };
        if quick > 0 {
            quick -= 1;
            continue;
        }
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + REREAD_WINDOW);
        if Instant::now() >= deadline || !writer_at_work(file, path, others) {
            return Err(error);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One reading of the header (first), the length (then) and the prefix, checked.
fn read_validated_once(file: &File, path: &Path) -> Result<(Header, Option<Attributes>), Error> {
    // Header before length: an appender writes its first header before its first row and
    // its rows before its commit, so a length read after the header is never shorter than
    // that header says.
    let mut prefix = read_at(file, path, 0, FIRST_READ)?;
    let len = file.metadata().map_err(|e| Error::io(path, "reading the file's metadata", e))?.len();
    let header = Header::parse(&prefix, len).map_err(|e| Error::new(path, e))?;
    // R15 and R18 bound data_offset below 18 MiB, so this read is bounded whatever the file says.
    let data_offset = header.data_offset();
    if data_offset > FIRST_READ {
        let rest = read_at(file, path, FIRST_READ, data_offset - FIRST_READ)?;
        prefix.extend_from_slice(&rest);
    }
    let attributes = header.check_prefix(&prefix).map_err(|e| Error::new(path, e))?;
    Ok((header, attributes))
}

/// The reader checks that a writer's change caught mid-way can fail.
fn may_be_a_race(error: &Error) -> bool {
    error.parse_error().is_some_and(|e| {
        matches!(
            e.kind(),
            ParseErrorKind::HeaderChecksumMismatch
                | ParseErrorKind::TruncatedPayload
                | ParseErrorKind::TrailingBytes
        )
    })
}

/// Whether one of `others` holds the file now: an appender (the append lock), or, for a
/// reader without a lock, an `r+` writer (an exclusive `flock`, probed on a second open file
/// description, which is then closed).
fn writer_at_work(file: &File, path: &Path, others: Others) -> bool {
    if append_lock_held_on(file).unwrap_or(false) {
        return true;
    }
    others == Others::Anyone
        && File::open(path).is_ok_and(|probe| {
            matches!(probe.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock))
        })
}

/// Reads `len` bytes at `offset` (fewer where the file ends first) with positioned reads:
/// one `pread` in the common case, so that a header rewritten by a committing writer (one
/// `pwrite` of 640 bytes) is seen whole, old or new, and not stitched from several reads.
/// `len` is at most 18 MiB (R15, R18).
fn read_at(file: &File, path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, Error> {
    let len = usize::try_from(len).map_err(|_| Error::new(path, ErrorKind::TooLarge { len }))?;
    let mut buf = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, "reading the header", e)),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// Rewrites the 640 header bytes with a new payload checksum, in one write, then makes it
/// durable. The rest of the header is unchanged.
pub(crate) fn write_checksum(
    file: &File,
    path: &Path,
    header: &Header,
    checksum: PayloadChecksum,
) -> Result<Header, Error> {
    let header = header.clone().with_checksum(checksum);
    write_header(file, path, &header)?;
    file.sync_data().map_err(|e| Error::io(path, "syncing the header", e))?;
    Ok(header)
}

/// Writes the 640 header bytes at offset 0 in one positioned write (`pwrite`), so that a
/// reader's single `pread` sees the old header or the new one.
pub(crate) fn write_header(file: &File, path: &Path, header: &Header) -> Result<(), Error> {
    file.write_all_at(&header.to_bytes(), 0).map_err(|e| Error::io(path, "writing the header", e))
}

/// The payload length as a `usize`, or [`ErrorKind::TooLarge`].
pub(crate) fn payload_len(header: &Header, path: &Path) -> Result<usize, Error> {
    usize::try_from(header.data_len())
        .map_err(|_| Error::new(path, ErrorKind::TooLarge { len: header.data_len() }))
}

/// Reads until `buf` is full or the reader ends; returns the bytes read.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Whether `path` names the open `file` (the same inode on the same device).
pub(crate) fn names_this_file(path: &Path, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(at_path), Ok(open)) => (at_path.dev(), at_path.ino()) == (open.dev(), open.ino()),
        _ => false,
    }
}
