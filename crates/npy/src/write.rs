//! Writing a `.npy` header exactly as `np.save` does.

use core::fmt::Write as _;

use arrfile_format::{Description, Order};

use super::descr::descr_for;
use super::error::NpyError;
use super::{MAGIC, MAX_HEADER_LEN};

/// numpy's `ARRAY_ALIGN`: the data offset is a multiple of this.
pub(crate) const ARRAY_ALIGN: usize = 64;

/// numpy's `GROWTH_AXIS_MAX_DIGITS`: spare spaces are added so that the growth axis's
/// dimension can be rewritten in place with up to this many digits.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

/// The `.npy` header (preamble, dict, padding and newline) that `np.save` writes for an array
/// of `desc`; the data follows it directly, at an offset that is a multiple of 64.
///
/// The bytes are those of numpy 2.x's `_write_array_header`: the dict
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` with keys sorted and values
/// in Python's `repr` (`()`, `(5,)`, `(2, 3)`); then `21 - len(str(d))` spare spaces where
/// `d` is the growth axis's dimension (the first, or the last in Fortran order; none for a 0-d
/// array; added by numpy PR 20321, merged in late 2022, so older numpy writes none); then
/// `padlen` spaces (1 to 64, never 0) and a `\n`, making the total a multiple of 64. Version
/// 1.0, or 2.0 when the header length does not fit in a `u16` (not reachable with at most 64
/// dimensions); never 3.0, since the header is ASCII.
///
/// The descr is numpy's own (`<f4`, `>i2`, `|u1`, `|b1`); for bfloat16 `<V2` or `>V2`, which
/// is what `np.save` writes for an ml_dtypes bfloat16 array; for both fp8 types `|V1`, the
/// spelling `np.load` reads (ml_dtypes 0.6 itself writes `<V1` for float8_e4m3fn and `<f1`
/// for float8_e5m2, which `np.load` refuses). Reading such a file back needs
/// [`super::parse_header_with_override`]; in Python, `np.load(path).view(ml_dtypes.bfloat16)`.
///
/// `fortran_order` is `True` when `desc` is in F order and the array is not also C-contiguous,
/// numpy's own rule (`f_contiguous and not c_contiguous`): an array with at most one
/// dimension above 1, or with no elements, has the same bytes in both orders and is written
/// as `False`, as `np.save` writes it.
///
/// # Errors
/// [`NpyError::NoNumpyDescr`] for a dtype with no `.npy` spelling (none in the current
/// table); [`NpyError::HeaderTooLarge`] if the header would exceed [`MAX_HEADER_LEN`] (not
/// reachable with at most 64 dimensions).
///
/// # Example
/// ```
/// use arrfile_npy as npy;
/// use arrfile_format::{Description, Dtype};
///
/// let desc = Description::c_order(Dtype::F32, vec![3, 4]).unwrap();
/// let header = npy::write_header(&desc).unwrap();
/// assert_eq!(header.len(), 128);
/// assert!(header.starts_with(b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }  "));
/// assert!(header.ends_with(b" \n"));
/// assert_eq!(npy::parse_header(&header).unwrap().description, desc);
/// ```
pub fn write_header(desc: &Description) -> Result<Vec<u8>, NpyError> {
    let descr = descr_for(desc.dtype(), desc.byte_order())?;
    let also_c_contiguous =
        desc.element_count() == 0 || desc.shape().iter().filter(|&&d| d > 1).count() <= 1;
    let fortran = desc.order() == Order::F && !also_c_contiguous;
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {}, }}",
        if fortran { "True" } else { "False" },
        shape_repr(desc.shape()),
    );
    let growth_dim = if fortran { desc.shape().last() } else { desc.shape().first() };
    if let Some(dim) = growth_dim {
        let digits = dim.to_string().len();
        text.extend(core::iter::repeat_n(' ', GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    wrap(text.as_bytes())
}

/// Python's `repr` of the shape tuple.
fn shape_repr(shape: &[u64]) -> String {
    match shape {
        [] => "()".to_owned(),
        [only] => format!("({only},)"),
        dims => {
            let parts: Vec<String> = dims.iter().map(u64::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// numpy's `_wrap_header_guess_version` for an ASCII header: version 1.0 if the padded
/// length fits in a `u16`, else 2.0.
fn wrap(text: &[u8]) -> Result<Vec<u8>, NpyError> {
    let with_newline = text.len().saturating_add(1);
    for (version, len_size) in [(1u8, 2usize), (2, 4)] {
        let preamble = MAGIC.len() + 2 + len_size;
        let padlen = ARRAY_ALIGN - (preamble + with_newline) % ARRAY_ALIGN;
        let header_len = with_newline.saturating_add(padlen);
        let len_field = match len_size {
            2 => u16::try_from(header_len).ok().map(|len| len.to_le_bytes().to_vec()),
            _ => u32::try_from(header_len)
                .ok()
                .filter(|&len| len <= MAX_HEADER_LEN)
                .map(|len| len.to_le_bytes().to_vec()),
        };
        let Some(len_field) = len_field else { continue };
        let mut out = Vec::with_capacity(preamble + header_len);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[version, 0]);
        out.extend_from_slice(&len_field);
        out.extend_from_slice(text);
        out.extend(core::iter::repeat_n(b' ', padlen));
        out.push(b'\n');
        return Ok(out);
    }
    Err(NpyError::HeaderTooLarge {
        limit: u64::from(MAX_HEADER_LEN),
        found: u64::try_from(with_newline).unwrap_or(u64::MAX),
    })
}
