//! Growing an array in place (format 1.1, spec §11): rows written after the committed
//! payload, committed by one header write. O(appended bytes): the old rows are never read.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use arrfile_format::{ByteOrder, DescriptionError, Header};
use zerocopy::IntoBytes;

use crate::array::check_view;
use crate::element::Element;
use crate::error::{Error, ErrorKind};
use crate::fileio::{Others, names_this_file, read_validated, write_header};
use crate::lock::LockWait;
use crate::recover::{Recovery, open_for_append, roll_back};
use crate::stream::CopyError;
use crate::stream::sink::{Bound, PayloadSink};
use crate::stream::{count_empty_rows, whole_rows};

/// An append to an existing file: rows along the outer axis (the first in C order, the last
/// in F order), written in chunks of any size, committed at once by [`Appender::commit`].
///
/// The transaction (spec §11.3):
/// 0. [`crate::append`] opens the file read-write and takes a shared `flock` (so that no `r+`
///    writer edits it; readers go on) and the *append lock*, an exclusive OFD record lock
///    (so that no other appender, recovery or replacing writer runs). A file left by an
///    appender that died is rolled back first ([`crate::recover`]).
/// 1. Before the first row, the header is rewritten with `APPEND_IN_PROGRESS` set, durably.
///    It still describes the committed array: readers (format 1.1) keep reading that, and
///    readers of format 1.0 refuse the file until the append ends.
/// 2. Rows go after the committed payload, hashed as they go; they are made durable before
///    the commit.
/// 3. [`Appender::commit`] writes the header of the grown array in one write — its shape,
///    length, and CRC combined from the old CRC and the new rows' (the old rows are not read
///    again) — and syncs it.
///
/// A kill at any point leaves the old array (after [`crate::recover`], which any later
/// appender or `r+` open also runs) or the new one, never a mix. Dropping an appender without
/// committing rolls the file back to the old array.
///
/// The payload checksum after a commit: *valid* when it was valid before (the combined
/// CRC); *absent* stays *absent*, and *being modified* (a dead `r+` writer's file) stays
/// *being modified*: an append never claims a CRC of bytes it did not hash. An `r+` open and
/// commit computes a full CRC.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// use arrfile_mmap::ReadArray;
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("log.arr");
/// let mut writer = arrfile_mmap::StreamWriter::create(&path, Description::c_order(Dtype::I32, vec![2, 3])?, None)?;
/// writer.write_elements(&[0, 1, 2, 10, 11, 12])?;
/// writer.finish()?;
///
/// let mut appender = arrfile_mmap::append(&path)?;
/// appender.write(&[20, 21])?; // rows may span writes
/// appender.write(&[22, 30, 31, 32])?;
/// assert_eq!(appender.rows_written(), 2);
/// let header = appender.commit()?;
/// assert_eq!(header.shape(), &[4, 3]);
///
/// let array = arrfile_mmap::open(&path)?;
/// assert_eq!(array.view::<i32>()?[6..], [20, 21, 22, 30, 31, 32]);
/// assert!(array.verify().is_valid()); // the combined CRC is the CRC of the whole payload
/// # Ok(()) }
/// ```
pub struct Appender {
    path: PathBuf,
    file: File,
    /// The committed array's header (`APPEND_IN_PROGRESS` clear).
    header: Header,
    sink: PayloadSink,
    /// Rows of 0 bytes counted by [`Appender::write_empty_rows`].
    empty_rows: u64,
    /// The header with the flag set is durable: rows may be written.
    begun: bool,
    /// The file may differ from the committed array (the flag, rows): a drop without a
    /// commit rolls it back.
    dirty: bool,
    /// What opening did to an append a dead appender left.
    recovered: Recovery,
}

impl Appender {
    pub(crate) fn open(path: &Path, wait: LockWait) -> Result<Appender, Error> {
        let file = open_for_append(path, wait)?;
        // Under the append lock and a shared flock nobody else changes the header.
        let (mut header, _) = read_validated(&file, path, Others::Nobody)?;
        let mut recovered = Recovery::NothingToDo;
        if header.append_in_progress() {
            // An appender died (it would hold the append lock): roll its rows back first.
            recovered = roll_back(&file, path, &header)?;
            header = header.end_append();
        }
        let bound = Bound::rows_after(header.description())
            .ok_or_else(|| Error::new(path, DescriptionError::NotAppendable))?;
        let sink = PayloadSink::new(path, header.file_len(), bound);
        Ok(Appender {
            path: path.to_owned(),
            file,
            header,
            sink,
            empty_rows: 0,
            begun: false,
            dirty: false,
            recovered,
        })
    }

    /// The path it was opened with.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// # arrfile_mmap::create_zeroed(&path, arrfile_format::Description::c_order(arrfile_format::Dtype::U8, vec![1])?, None)?;
    /// assert_eq!(arrfile_mmap::append(&path)?.path(), path);
    /// # Ok(()) }
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What opening did first to the file: [`Recovery::RolledBack`] when an appender had died
    /// mid-append (the file was rolled back to its committed array, as [`crate::recover`]
    /// does), else [`Recovery::NothingToDo`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{Description, Dtype};
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U8, vec![1, 2])?, None)?;
    /// let appender = arrfile_mmap::append(&path)?;
    /// assert_eq!(appender.recovered(), arrfile_mmap::Recovery::NothingToDo);
    /// # Ok(()) }
    /// ```
    pub fn recovered(&self) -> Recovery {
        self.recovered
    }

    /// The header of the committed array: the rows written so far are not in it.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{Description, Dtype};
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U16, vec![5, 2])?, None)?;
    /// let mut appender = arrfile_mmap::append(&path)?;
    /// appender.write(&[1u16, 2])?;
    /// assert_eq!(appender.header().shape(), &[5, 2]);
    /// assert!(!appender.header().append_in_progress());
    /// # Ok(()) }
    /// ```
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Bytes per row (one index of the outer axis): itemsize × the trailing dimensions. May
    /// be 0 when a trailing dimension is 0 (then see [`Appender::write_empty_rows`]).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{Description, Dtype};
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::F64, vec![0, 3, 4])?, None)?;
    /// assert_eq!(arrfile_mmap::append(&path)?.row_len(), 8 * 3 * 4);
    /// # Ok(()) }
    /// ```
    pub fn row_len(&self) -> u64 {
        self.header.description().row_len()
    }

    /// Whole rows written so far (a row being written is not counted).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{Description, Dtype};
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U8, vec![1, 2])?, None)?;
    /// let mut appender = arrfile_mmap::append(&path)?;
    /// appender.write_bytes(&[1, 2, 3])?;
    /// assert_eq!((appender.rows_written(), appender.bytes_written()), (1, 3));
    /// # Ok(()) }
    /// ```
    pub fn rows_written(&self) -> u64 {
        match self.row_len() {
            0 => self.empty_rows,
            row_len => self.sink.written() / row_len,
        }
    }

    /// Payload bytes written so far (buffered bytes included).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{Description, Dtype};
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U32, vec![0])?, None)?;
    /// let mut appender = arrfile_mmap::append(&path)?;
    /// appender.write(&[7u32, 8])?;
    /// assert_eq!(appender.bytes_written(), 8);
    /// # Ok(()) }
    /// ```
    pub fn bytes_written(&self) -> u64 {
        self.sink.written()
    }

    /// Step 1 of the transaction, before the first row: the header with the flag set,
    /// durably, and the cursor at the committed end.
    fn begin(&mut self) -> Result<(), Error> {
        if self.begun {
            return Ok(());
        }
        // From the header write on, the file may differ from the committed array.
        self.dirty = true;
        write_header(&self.file, &self.path, &self.header.begin_append())?;
        self.file.sync_all().map_err(|e| Error::io(&self.path, "syncing the header", e))?;
        (&self.file)
            .seek(SeekFrom::Start(self.header.file_len()))
            .map_err(|e| Error::io(&self.path, "seeking to the committed end", e))?;
        self.begun = true;
        Ok(())
    }

    /// Writes payload bytes as stored (in the file's byte order, row after row in the
    /// file's order); a row may span several calls.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{ByteOrder, Description, Dtype, Order};
    /// let big = Description::new(Dtype::U16, vec![0], Order::C, ByteOrder::Big)?;
    /// arrfile_mmap::create_zeroed(&path, big, None)?;
    /// let mut appender = arrfile_mmap::append(&path)?;
    /// appender.write_bytes(&[0x01])?;
    /// appender.write_bytes(&[0x02])?; // 0x0102, big endian
    /// appender.commit()?;
    /// # use arrfile_mmap::ReadArray;
    /// assert_eq!(arrfile_mmap::open(&path)?.to_vec::<u16>()?, [0x0102]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::TooManyRows`] when the array would outgrow the spec's size bound (2^62
    /// bytes; nothing is written), [`ErrorKind::PartialRow`] for bytes given to rows of 0
    /// bytes, [`ErrorKind::EarlierWriteFailed`] after a failed write, or an I/O error.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.sink.refuse_after_failure(&self.file)?;
        if bytes.is_empty() {
            return Ok(());
        }
        // Refused before the flag is set: nothing is written past the end for rows that the
        // size bound does not allow.
        self.sink.check_room(bytes.len())?;
        self.begin()?;
        self.sink.write_bytes(&self.file, bytes)
    }

    /// Writes elements in the host's byte order, which must be the file's: like a typed
    /// view, this refuses another dtype or byte order (use [`Appender::copy_from`], which
    /// converts, or [`Appender::write_bytes`]).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{Description, Dtype};
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::F32, vec![0, 2])?, None)?;
    /// let mut appender = arrfile_mmap::append(&path)?;
    /// appender.write(&[1.5f32, 2.5])?;
    /// assert!(appender.write(&[1.5f64]).is_err()); // the file holds f32
    /// assert_eq!(appender.commit()?.shape(), &[1, 2]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`crate::ViewError::DtypeMismatch`], [`crate::ViewError::ByteOrderMismatch`]; as
    /// [`Appender::write_bytes`].
    pub fn write<T: Element>(&mut self, items: &[T]) -> Result<(), Error> {
        check_view::<T>(self.header.description()).map_err(|e| Error::new(&self.path, e))?;
        self.write_bytes(items.as_bytes())
    }

    /// For an array whose rows have 0 bytes (a trailing dimension is 0): counts `rows` more
    /// rows, which no bytes can express.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{Description, Dtype};
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::F32, vec![2, 0])?, None)?;
    /// let mut appender = arrfile_mmap::append(&path)?;
    /// appender.write_empty_rows(3)?;
    /// assert_eq!(appender.commit()?.shape(), &[5, 0]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::RowsNotEmpty`] when rows have bytes, [`ErrorKind::TooManyRows`] past the
    /// size bound, or an I/O error.
    pub fn write_empty_rows(&mut self, rows: u64) -> Result<(), Error> {
        let counted =
            count_empty_rows(&self.path, self.header.description(), self.empty_rows, rows)?;
        if rows > 0 {
            self.begin()?;
        }
        self.empty_rows = counted;
        Ok(())
    }

    /// Copies rows from `reader` until it ends, converting from the byte order `source`
    /// where it differs from the file's (each value is swapped on the way). The calling
    /// thread reads and hashes while a helper thread writes, in 1 MiB chunks: memory stays
    /// constant. `progress` is called with the bytes copied so far after each chunk. Returns
    /// the bytes copied; they need not end on a row (later writes may complete it), but
    /// [`Appender::commit`] needs whole rows.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{ByteOrder, Description, Dtype};
    /// use arrfile_mmap::ReadArray;
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U32, vec![1])?, None)?;
    /// let mut appender = arrfile_mmap::append(&path)?;
    /// let big_endian: &[u8] = &[0, 0, 0, 7, 0, 0, 1, 0];
    /// assert_eq!(appender.copy_from(big_endian, ByteOrder::Big, |_| {})?, 8);
    /// appender.commit()?;
    /// assert_eq!(arrfile_mmap::open(&path)?.view::<u32>()?, [0, 7, 256]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`CopyError::Read`] when `reader` fails; [`CopyError::Write`] as
    /// [`Appender::write_bytes`]. The append is then rolled back when the appender is
    /// dropped.
    pub fn copy_from(
        &mut self,
        mut reader: impl Read,
        source: ByteOrder,
        progress: impl FnMut(u64),
    ) -> Result<u64, CopyError> {
        self.sink.refuse_after_failure(&self.file)?;
        self.begin()?;
        let swap_unit = self.header.description().swap_unit_from(source);
        self.sink.copy_from(&self.file, &mut reader, swap_unit, progress)
    }

    /// Commits the rows written (step 3): makes them durable, then writes the header of the
    /// grown array in one write and syncs it. Returns the new header. With no rows written,
    /// the file is left byte for byte as it was.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{Description, Dtype, PayloadChecksum};
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U8, vec![1, 2])?, None)?;
    /// let mut appender = arrfile_mmap::append(&path)?;
    /// appender.write_bytes(&[1, 2, 3])?;
    /// // Half a row: refused, and the append is rolled back.
    /// assert!(appender.commit().is_err());
    /// let mut appender = arrfile_mmap::append(&path)?;
    /// appender.write_bytes(&[1, 2])?;
    /// let header = appender.commit()?;
    /// assert_eq!(header.shape(), &[2, 2]);
    /// assert_eq!(header.checksum(), PayloadChecksum::Valid(arrfile_format::crc32(&[0, 0, 1, 2])));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::PartialRow`] when the bytes end inside a row;
    /// [`ErrorKind::Replaced`] when a program that ignores locks replaced the file at its
    /// path; [`ErrorKind::EarlierWriteFailed`] after a failed write; an I/O error. Nothing is
    /// committed then, and the append is rolled back (best effort; [`crate::recover`] does
    /// it otherwise). A failure of the very last sync is reported too, after the commit is
    /// visible (the file then holds the new array, not yet known to be durable).
    pub fn commit(mut self) -> Result<Header, Error> {
        self.sink.refuse_after_failure(&self.file)?;
        let description = self.header.description();
        let written = self.sink.written();
        let rows = whole_rows(&self.path, description, written, self.empty_rows)?;
        if !self.dirty {
            return Ok(self.header.clone());
        }
        self.sink.flush(&self.file)?;
        let rows_crc = self.sink.end()?;
        // Step 2's end: the rows are durable before the header that makes them part of the
        // array.
        self.file.sync_data().map_err(|e| Error::io(&self.path, "syncing the appended rows", e))?;
        // A program that ignores locks may have renamed another file over the path: the rows
        // would be committed to a file nobody sees.
        if !names_this_file(&self.path, &self.file) {
            return Err(Error::new(&self.path, ErrorKind::Replaced));
        }
        let checksum = self.header.checksum().appended(rows_crc, written);
        // The sink refused rows past the size bound: the grown shape is valid.
        let grown =
            self.header.committed_append(rows, checksum).map_err(|e| Error::new(&self.path, e))?;
        write_header(&self.file, &self.path, &grown)?;
        // Committed (in the page cache at least): a drop must not cut these rows now.
        self.dirty = false;
        self.file.sync_all().map_err(|e| Error::io(&self.path, "syncing the header", e))?;
        Ok(grown)
    }

    /// Abandons the append: cuts the rows written and clears the flag, leaving the file byte
    /// for byte as it was before the append. Dropping the appender does the same, ignoring
    /// errors.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("a.arr");
    /// use arrfile_format::{Description, Dtype};
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::U8, vec![3])?, None)?;
    /// let before = std::fs::read(&path)?;
    /// let mut appender = arrfile_mmap::append(&path)?;
    /// appender.write_bytes(&[1, 2])?;
    /// appender.rollback()?;
    /// assert_eq!(std::fs::read(&path)?, before);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Cutting, writing or syncing failed: the file keeps the flag, and the next appender,
    /// `r+` open or [`crate::recover`] rolls it back.
    pub fn rollback(mut self) -> Result<(), Error> {
        self.roll_back()
    }

    fn roll_back(&mut self) -> Result<(), Error> {
        if !self.dirty {
            return Ok(());
        }
        // Stop write-behind: its error, if any, no longer matters.
        let _ = self.sink.end();
        roll_back(&self.file, &self.path, &self.header)?;
        self.dirty = false;
        Ok(())
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        // Best effort: what fails here leaves the flag, which recovery handles.
        let _ = self.roll_back();
    }
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("path", &self.path)
            .field("committed", self.header.description())
            .field("bytes_written", &self.sink.written())
            .field("rows_written", &self.rows_written())
            .finish_non_exhaustive()
    }
}
