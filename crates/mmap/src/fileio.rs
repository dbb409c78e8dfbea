//! Reading and validating what lies before the payload; rewriting the header.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use arrfile_format::{Attributes, Header, PayloadChecksum};

use crate::error::{Error, ErrorKind};

/// Bytes read by the first read of an open: the header and, for most files, the metadata
/// and padding too, so a typical open is one read.
const FIRST_READ: u64 = 4096;

/// Applies every reader check (R1–R24) to an open file and returns its header and attributes.
pub(crate) fn read_validated(
    file: &File,
    path: &Path,
) -> Result<(Header, Option<Attributes>), Error> {
    let meta = file.metadata().map_err(|e| Error::io(path, "reading the file's metadata", e))?;
    if meta.is_dir() {
        return Err(Error::new(path, ErrorKind::IsADirectory));
    }
    if !meta.is_file() {
        return Err(Error::new(path, ErrorKind::NotAFile));
    }
    let len = meta.len();
    let mut prefix = read_at(file, path, 0, len.min(FIRST_READ))?;
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

/// Reads `len` bytes at `offset` (fewer where the file ends first) with positioned reads:
/// one `pread` in the common case, so that a header rewritten by a committing writer (one
/// `pwrite` of 640 bytes) is seen whole, old or new, and not stitched from several reads.
/// `len` is at most 18 MiB (R15, R18) and at most what the file held when it was measured.
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
