//! Reading a file's header and attributes without locking or mapping it.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use arrfile_format::{Attributes, Header, ParseErrorKind};

use crate::error::Error;
use crate::fileio::read_validated;

/// Applies every reader check (R1–R24) to a file and returns its header and attributes,
/// without locking or mapping it: reads at most the bytes before the payload, so it is O(1)
/// in the file's size, and works while a writer holds the file.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("z.arr");
/// use arrfile_format::{Description, Dtype};
/// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::F64, vec![1 << 20])?, None)?;
/// let (header, attributes) = arrfile_mmap::inspect(&path)?;
/// assert_eq!(header.data_len(), 8 << 20);
/// assert!(attributes.is_none());
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`crate::open`], except that no lock is taken.
pub fn inspect(path: impl AsRef<Path>) -> Result<(Header, Option<Attributes>), Error> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(path, "opening", e))?;
    match read_validated(&file, path) {
        Err(e) if is_header_checksum_mismatch(&e) => read_again(&file, path, e),
        done => done,
    }
}

/// Tries to re-read a header whose checksum did not match before calling the file corrupt.
const REREADS: usize = 10;

/// A header checksum mismatch seen without a lock may be a writer's commit caught half
/// written (where the filesystem does not make a one-page `pread` and `pwrite` atomic). Read
/// it again under a shared lock, which waits out any cooperating writer's commit; while a
/// writer holds the file for longer (an `r+` session), read it again a few times over 50 ms:
/// a commit rewrites 640 bytes and takes microseconds.
fn read_again(
    file: &File,
    path: &Path,
    mut last: Error,
) -> Result<(Header, Option<Attributes>), Error> {
    for _ in 0..REREADS {
        if file.try_lock_shared().is_ok() {
            let result = read_validated(file, path);
            // Closing the file would release it too; a later attempt must not find it held.
            let _ = file.unlock();
            return result;
        }
        std::thread::sleep(Duration::from_millis(5));
        match read_validated(file, path) {
            Err(e) if is_header_checksum_mismatch(&e) => last = e,
            done => return done,
        }
    }
    Err(last)
}

fn is_header_checksum_mismatch(error: &Error) -> bool {
    error.parse_error().is_some_and(|e| e.kind() == ParseErrorKind::HeaderChecksumMismatch)
}
