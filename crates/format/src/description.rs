//! What an array is: dtype, byte order, order and shape (spec §4–§6).

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::{Dtype, MAX_DATA_LEN, MAX_NDIM};

/// How multi-byte elements of the payload are stored (spec §5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    /// Least significant byte first. What writers write unless asked otherwise.
    #[default]
    Little,
    /// Most significant byte first.
    Big,
}

impl ByteOrder {
    /// The byte order of the machine this code runs on.
    pub const NATIVE: ByteOrder =
        if cfg!(target_endian = "big") { ByteOrder::Big } else { ByteOrder::Little };

    /// The header's encoding of this byte order.
    pub fn code(self) -> u8 {
        match self {
            ByteOrder::Little => 0,
            ByteOrder::Big => 1,
        }
    }

    /// The byte order a header code stands for (R10), if any.
    pub fn from_code(code: u8) -> Option<ByteOrder> {
        match code {
            0 => Some(ByteOrder::Little),
            1 => Some(ByteOrder::Big),
            _ => None,
        }
    }

    /// `little` or `big`.
    pub fn name(self) -> &'static str {
        match self {
            ByteOrder::Little => "little",
            ByteOrder::Big => "big",
        }
    }
}

/// Memory order of the elements (spec §6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Order {
    /// Row-major: the last index varies fastest.
    #[default]
    C,
    /// Column-major (Fortran): the first index varies fastest.
    F,
}

impl Order {
    /// The header's encoding of this order.
    pub fn code(self) -> u8 {
        match self {
            Order::C => 0,
            Order::F => 1,
        }
    }

    /// The order a header code stands for (R11), if any.
    pub fn from_code(code: u8) -> Option<Order> {
        match code {
            0 => Some(Order::C),
            1 => Some(Order::F),
            _ => None,
        }
    }

    /// `C` or `F`.
    pub fn name(self) -> &'static str {
        match self {
            Order::C => "C",
            Order::F => "F",
        }
    }
}

/// Why a description is not one the spec allows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptionError {
    /// More than 64 dimensions.
    #[error("{ndim} dimensions; at most {MAX_NDIM} are allowed")]
    TooManyDimensions {
        /// The number of dimensions given.
        ndim: usize,
    },
    /// The shape's byte size is above the spec's bound of 2^62 bytes.
    #[error("shape {shape:?} of {dtype} needs more than 2^62 bytes")]
    SizeOverflow {
        /// The dtype.
        dtype: Dtype,
        /// The shape.
        shape: Vec<u64>,
    },
    /// A 0-d array has no axis to grow.
    #[error("a 0-d array has no axis to append along")]
    NotAppendable,
}

/// A valid array description: dtype, byte order, order and a shape within the spec's bounds.
///
/// ```
/// use arrfile_format::{ByteOrder, Description, Dtype, Order};
/// let desc = Description::new(Dtype::F32, vec![1000, 100], Order::C, ByteOrder::Little).unwrap();
/// assert_eq!(desc.element_count(), 100_000);
/// assert_eq!(desc.data_len(), 400_000);
/// assert!(Description::new(Dtype::F32, vec![u64::MAX, 2], Order::C, ByteOrder::Little).is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "UncheckedDescription")]
pub struct Description {
    dtype: Dtype,
    byte_order: ByteOrder,
    order: Order,
    shape: Vec<u64>,
}

#[derive(Deserialize)]
struct UncheckedDescription {
    dtype: Dtype,
    #[serde(default)]
    byte_order: ByteOrder,
    #[serde(default)]
    order: Order,
    shape: Vec<u64>,
}

impl TryFrom<UncheckedDescription> for Description {
    type Error = DescriptionError;

    fn try_from(raw: UncheckedDescription) -> Result<Self, Self::Error> {
        Description::new(raw.dtype, raw.shape, raw.order, raw.byte_order)
    }
}

/// Bytes needed by `shape` of `itemsize`-byte elements, counting only non-zero dimensions
/// (spec §6, the size bound), or `None` when that exceeds 2^62.
pub(crate) fn bounded_nonzero_size(shape: &[u64], itemsize: usize) -> Option<u64> {
    let itemsize = u64::try_from(itemsize).ok()?;
    shape
        .iter()
        .filter(|&&dim| dim != 0)
        .try_fold(itemsize, |acc, &dim| acc.checked_mul(dim))
        .filter(|&bytes| bytes <= MAX_DATA_LEN)
}

impl Description {
    /// A description, if the shape has at most 64 dimensions and fits the size bound.
    ///
    /// # Errors
    /// [`DescriptionError::TooManyDimensions`] or [`DescriptionError::SizeOverflow`].
    pub fn new(
        dtype: Dtype,
        shape: impl Into<Vec<u64>>,
        order: Order,
        byte_order: ByteOrder,
    ) -> Result<Self, DescriptionError> {
        let shape = shape.into();
        if shape.len() > MAX_NDIM {
            return Err(DescriptionError::TooManyDimensions { ndim: shape.len() });
        }
        if bounded_nonzero_size(&shape, dtype.itemsize()).is_none() {
            return Err(DescriptionError::SizeOverflow { dtype, shape });
        }
        Ok(Description { dtype, byte_order, order, shape })
    }

    /// A little-endian, C-order description.
    ///
    /// # Errors
    /// As [`Description::new`].
    pub fn c_order(dtype: Dtype, shape: impl Into<Vec<u64>>) -> Result<Self, DescriptionError> {
        Description::new(dtype, shape, Order::C, ByteOrder::Little)
    }

    /// The element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The payload's byte order.
    pub fn byte_order(&self) -> ByteOrder {
        self.byte_order
    }

    /// C or F order.
    pub fn order(&self) -> Order {
        self.order
    }

    /// The dimensions; empty for a 0-d array.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements: 1 for a 0-d array, 0 when any dimension is 0.
    pub fn element_count(&self) -> u64 {
        // Cannot overflow: the constructor bounded the product of the non-zero dimensions.
        self.shape.iter().product()
    }

    /// Payload length in bytes: element count × itemsize, at most 2^62.
    pub fn data_len(&self) -> u64 {
        self.element_count() * self.dtype.itemsize() as u64
    }

    /// Whether the payload's bytes depend on its byte order: false for one-byte dtypes.
    pub fn has_byte_order(&self) -> bool {
        self.dtype.has_byte_order()
    }

    /// The unit whose bytes are reversed to turn a payload stored in `from` into one in this
    /// description's byte order; `None` when nothing needs swapping (same byte order, or a
    /// one-byte dtype).
    ///
    /// ```
    /// use arrfile_format::{ByteOrder, Description, Dtype};
    /// let c64 = Description::c_order(Dtype::C64, vec![2]).unwrap();
    /// assert_eq!(c64.swap_unit_from(ByteOrder::Big), Some(4)); // each f32 component
    /// assert_eq!(c64.swap_unit_from(ByteOrder::Little), None);
    /// let u8 = Description::c_order(Dtype::U8, vec![2]).unwrap();
    /// assert_eq!(u8.swap_unit_from(ByteOrder::Big), None);
    /// ```
    pub fn swap_unit_from(&self, from: ByteOrder) -> Option<usize> {
        (self.has_byte_order() && from != self.byte_order).then(|| self.dtype.swap_unit())
    }

    /// Whether the payload's bytes read as the host's values without swapping.
    pub fn is_native(&self) -> bool {
        self.swap_unit_from(ByteOrder::NATIVE).is_none()
    }

    /// The same description with the byte order new files are given: `byte_order` where the
    /// dtype has one, little endian (the spec's canonical choice) for one-byte dtypes, so
    /// that equal arrays have equal descriptions.
    pub fn stored_as(self, byte_order: ByteOrder) -> Self {
        let byte_order = if self.has_byte_order() { byte_order } else { ByteOrder::Little };
        self.with_byte_order(byte_order)
    }

    /// The same description with another byte order.
    pub fn with_byte_order(mut self, byte_order: ByteOrder) -> Self {
        self.byte_order = byte_order;
        self
    }

    /// The same description with another order.
    pub fn with_order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// The axis an append grows (spec §11): the first in C order, the last in F order, where
    /// it is the slowest-varying one, so that appended elements follow the old ones; `None`
    /// for a 0-d array, which cannot grow.
    ///
    /// ```
    /// use arrfile_format::{ByteOrder, Description, Dtype, Order};
    /// let c = Description::c_order(Dtype::F32, vec![10, 3]).unwrap();
    /// assert_eq!(c.outer_axis(), Some(0));
    /// assert_eq!(c.clone().with_order(Order::F).outer_axis(), Some(1));
    /// assert_eq!(Description::c_order(Dtype::F32, vec![]).unwrap().outer_axis(), None);
    /// ```
    pub fn outer_axis(&self) -> Option<usize> {
        match (self.order, self.shape.len()) {
            (_, 0) => None,
            (Order::C, _) => Some(0),
            (Order::F, n) => Some(n - 1),
        }
    }

    /// The length of the outer axis ([`Description::outer_axis`]); `None` for a 0-d array.
    pub fn outer_len(&self) -> Option<u64> {
        self.outer_axis().map(|axis| self.shape[axis])
    }

    /// The dimensions other than the outer axis, in header order: what every appended row
    /// must match. Empty for a 1-d (and a 0-d) array.
    pub fn trailing_shape(&self) -> &[u64] {
        match (self.order, self.shape.len()) {
            (_, 0) => &[],
            (Order::C, _) => &self.shape[1..],
            (Order::F, n) => &self.shape[..n - 1],
        }
    }

    /// Bytes per index of the outer axis: itemsize × the product of the trailing dimensions
    /// (0 when one of them is 0). For a 0-d array, the itemsize.
    pub fn row_len(&self) -> u64 {
        // Cannot overflow: every non-zero dimension's product with the itemsize is bounded.
        self.trailing_shape().iter().product::<u64>() * self.dtype.itemsize() as u64
    }

    /// The same description with the outer axis `outer_len` long: the array after an append.
    ///
    /// # Errors
    /// [`DescriptionError::SizeOverflow`] when the grown array exceeds 2^62 bytes, and
    /// [`DescriptionError::NotAppendable`] for a 0-d array.
    pub fn with_outer_len(&self, outer_len: u64) -> Result<Self, DescriptionError> {
        let axis = self.outer_axis().ok_or(DescriptionError::NotAppendable)?;
        let mut shape = self.shape.clone();
        shape[axis] = outer_len;
        self.with_shape(shape)
    }

    /// The same description with another shape, if that shape is valid for this dtype.
    ///
    /// # Errors
    /// As [`Description::new`].
    pub fn with_shape(&self, shape: impl Into<Vec<u64>>) -> Result<Self, DescriptionError> {
        Description::new(self.dtype, shape, self.order, self.byte_order)
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} ({} order, {} endian)",
            self.dtype,
            self.shape,
            self.order.name(),
            self.byte_order.name()
        )
    }
}
