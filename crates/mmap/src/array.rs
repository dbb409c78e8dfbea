//! What every open arrfile offers: its description, attributes, bytes and typed views
//! ([`ReadArray`]), and for the writable modes, mutable views ([`WriteArray`]).

use std::ops::ControlFlow;
use std::path::Path;

use arrfile_format::{
    Attributes, ByteOrder, ChecksumState, Description, Dtype, Header, Order, Verification,
};
use zerocopy::FromBytes;

use crate::element::Element;
use crate::error::{Error, ViewError};
use crate::verify::{cores, crc32_with_progress};

/// Read access to an open arrfile, in any mode.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_mmap::{ReadArray, open};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("a.arr");
/// # let desc = arrfile_format::Description::c_order(arrfile_format::Dtype::F32, vec![2, 3])?;
/// # let mut w = arrfile_mmap::create(&path, desc, None)?;
/// # use arrfile_mmap::WriteArray;
/// # w.view_mut::<f32>()?.copy_from_slice(&[0., 1., 2., 3., 4., 5.]);
/// # w.finish()?;
/// let array = open(&path)?; // dtype, shape and order come from the file
/// assert_eq!(array.shape(), &[2, 3]);
/// let values: &[f32] = array.view()?;
/// assert_eq!(values[5], 5.0);
/// assert!(array.verify().is_valid());
/// # Ok(()) }
/// ```
pub trait ReadArray {
    /// The path the file was opened at.
    fn path(&self) -> &Path;
    /// The validated header.
    fn header(&self) -> &Header;
    /// The user attributes, if the file has a metadata block.
    fn attributes(&self) -> Option<&Attributes>;
    /// The payload bytes, exactly as stored.
    fn as_bytes(&self) -> &[u8];

    /// dtype, byte order, order and shape.
    fn description(&self) -> &Description {
        self.header().description()
    }
    /// The element type.
    fn dtype(&self) -> Dtype {
        self.description().dtype()
    }
    /// The dimensions; empty for a 0-d array.
    fn shape(&self) -> &[u64] {
        self.description().shape()
    }
    /// C or F order.
    fn order(&self) -> Order {
        self.description().order()
    }
    /// The payload's byte order.
    fn byte_order(&self) -> ByteOrder {
        self.description().byte_order()
    }
    /// The state of the payload checksum as this handle knows it.
    fn checksum_state(&self) -> ChecksumState {
        self.header().checksum_state()
    }
    /// Number of elements.
    fn element_count(&self) -> u64 {
        self.description().element_count()
    }

    /// The payload as a slice of `T`, without copying, in storage order.
    ///
    /// # Errors
    /// [`ViewError`] when `T` is not the file's dtype or the payload is not in the host's
    /// byte order; never a panic.
    fn view<T: Element>(&self) -> Result<&[T], Error> {
        check_view::<T>(self.description()).map_err(|e| Error::new(self.path(), e))?;
        typed(self.as_bytes(), T::DTYPE).map_err(|e| Error::new(self.path(), e))
    }

    /// The elements as a new vector in storage order, converted to the host's byte order.
    ///
    /// # Errors
    /// [`ViewError::DtypeMismatch`] when `T` is not the file's dtype.
    fn to_vec<T: Element>(&self) -> Result<Vec<T>, Error> {
        let desc = self.description();
        if T::DTYPE != desc.dtype() {
            let e = ViewError::DtypeMismatch { requested: T::DTYPE, file: desc.dtype() };
            return Err(Error::new(self.path(), e));
        }
        Ok(decode(self.as_bytes(), desc))
    }

    /// The elements of a `bool` array, checking that every byte is 0 or 1.
    ///
    /// # Errors
    /// [`ViewError::DtypeMismatch`] or [`ViewError::InvalidBool`].
    fn to_bools(&self) -> Result<Vec<bool>, Error> {
        if self.dtype() != Dtype::Bool {
            let e = ViewError::DtypeMismatch { requested: Dtype::Bool, file: self.dtype() };
            return Err(Error::new(self.path(), e));
        }
        self.as_bytes()
            .iter()
            .enumerate()
            .map(|(index, &value)| match value {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(Error::new(
                    self.path(),
                    ViewError::InvalidBool { index: index as u64, value },
                )),
            })
            .collect()
    }

    /// Computes the payload's CRC (on every core) and compares it with the header's.
    ///
    /// A file whose checksum state is *absent* or *being modified* is not verifiable
    /// whatever its bytes, so its payload is not read.
    fn verify(&self) -> Verification {
        let outcome = self.verify_with(|_| ControlFlow::Continue(()));
        // Cannot be stopped: the callback never breaks.
        outcome.unwrap_or(Verification::NotVerifiable { state: self.checksum_state() })
    }

    /// [`ReadArray::verify`] with progress and cancellation: `progress` is called on this
    /// thread with the payload bytes hashed so far, every few milliseconds, and once with the
    /// total; returning [`ControlFlow::Break`] stops every thread at its next part, and the
    /// result is then `None`. An unverifiable file reads nothing and calls nothing.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::ops::ControlFlow;
    /// use arrfile_format::{Description, Dtype};
    /// use arrfile_mmap::ReadArray;
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("z.arr");
    /// arrfile_mmap::create_zeroed(&path, Description::c_order(Dtype::F32, vec![1 << 20])?, None)?;
    /// let array = arrfile_mmap::open(&path)?;
    /// let mut last = 0;
    /// let outcome = array.verify_with(|done| {
    ///     last = done; // draw a progress bar here
    ///     ControlFlow::Continue(())
    /// });
    /// assert!(outcome.is_some_and(|v| v.is_valid()));
    /// assert_eq!(last, 4 << 20);
    /// // Cancelled (say, on Ctrl-C): no verdict.
    /// assert!(array.verify_with(|_| ControlFlow::Break(())).is_none());
    /// # Ok(()) }
    /// ```
    fn verify_with(
        &self,
        mut progress: impl FnMut(u64) -> ControlFlow<()>,
    ) -> Option<Verification> {
        let checksum = self.header().checksum();
        if checksum.state() != ChecksumState::Valid {
            return Some(checksum.verify_against(0));
        }
        let crc = crc32_with_progress(self.as_bytes(), cores(), &mut progress)?;
        Some(checksum.verify_against(crc))
    }

    /// An n-dimensional view with the file's shape and C or F strides.
    ///
    /// # Errors
    /// As [`ReadArray::view`], or [`ViewError::DimensionTooLarge`].
    #[cfg(feature = "ndarray")]
    fn array_view<T: Element>(&self) -> Result<ndarray::ArrayViewD<'_, T>, Error> {
        let dim = crate::nd::dim(self.description()).map_err(|e| Error::new(self.path(), e))?;
        let data = self.view::<T>()?;
        ndarray::ArrayView::from_shape(dim, data)
            .map_err(|e| Error::new(self.path(), ViewError::Layout { reason: e.to_string() }))
    }
}

/// Write access to the payload of an arrfile opened `r+`, `c` or created `w+`.
pub trait WriteArray: ReadArray {
    /// The payload bytes for writing.
    ///
    /// In mode `r+` the first call marks the file *being modified* on disk (spec §8) before
    /// it returns; [`crate::ArrayFileMut::commit`] writes the fresh checksum.
    ///
    /// # Errors
    /// Writing the header failed (mode `r+` only).
    fn as_bytes_mut(&mut self) -> Result<&mut [u8], Error>;

    /// The payload as a mutable slice of `T`, without copying.
    ///
    /// # Errors
    /// As [`ReadArray::view`], and as [`WriteArray::as_bytes_mut`].
    fn view_mut<T: Element>(&mut self) -> Result<&mut [T], Error> {
        check_view::<T>(self.description()).map_err(|e| Error::new(self.path(), e))?;
        let path = self.path().to_owned();
        let bytes = self.as_bytes_mut()?;
        typed_mut(bytes, T::DTYPE).map_err(|e| Error::new(&path, e))
    }

    /// A mutable n-dimensional view with the file's shape and C or F strides.
    ///
    /// # Errors
    /// As [`WriteArray::view_mut`].
    #[cfg(feature = "ndarray")]
    fn array_view_mut<T: Element>(&mut self) -> Result<ndarray::ArrayViewMutD<'_, T>, Error> {
        let path = self.path().to_owned();
        let dim = crate::nd::dim(self.description()).map_err(|e| Error::new(&path, e))?;
        let data = self.view_mut::<T>()?;
        ndarray::ArrayViewMut::from_shape(dim, data)
            .map_err(|e| Error::new(&path, ViewError::Layout { reason: e.to_string() }))
    }
}

pub(crate) fn check_view<T: Element>(desc: &Description) -> Result<(), ViewError> {
    if T::DTYPE != desc.dtype() {
        return Err(ViewError::DtypeMismatch { requested: T::DTYPE, file: desc.dtype() });
    }
    if !desc.is_native() {
        return Err(ViewError::ByteOrderMismatch { file: desc.byte_order() });
    }
    Ok(())
}

fn typed<T: Element>(bytes: &[u8], dtype: Dtype) -> Result<&[T], ViewError> {
    if bytes.is_empty() {
        return Ok(&[]);
    }
    <[T]>::ref_from_bytes(bytes).map_err(|_| ViewError::Misaligned { dtype })
}

fn typed_mut<T: Element>(bytes: &mut [u8], dtype: Dtype) -> Result<&mut [T], ViewError> {
    if bytes.is_empty() {
        return Ok(&mut []);
    }
    <[T]>::mut_from_bytes(bytes).map_err(|_| ViewError::Misaligned { dtype })
}

/// Copies elements out of `bytes`, swapping each byte-order unit when the payload is not in
/// the host's byte order.
fn decode<T: Element>(bytes: &[u8], desc: &Description) -> Vec<T> {
    let size = size_of::<T>();
    let swap_unit = desc.swap_unit_from(ByteOrder::NATIVE);
    if swap_unit.is_none()
        && let Ok(slice) = <[T]>::ref_from_bytes(bytes)
    {
        return slice.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len() / size.max(1));
    let mut scratch = [0u8; 16];
    for chunk in bytes.chunks_exact(size) {
        let element = &mut scratch[..size];
        element.copy_from_slice(chunk);
        if let Some(unit) = swap_unit {
            element.chunks_mut(unit).for_each(<[u8]>::reverse);
        }
        if let Ok(value) = T::read_from_bytes(element) {
            out.push(value);
        }
    }
    out
}
