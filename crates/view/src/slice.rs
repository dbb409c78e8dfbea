//! numpy's basic indexing, as text: `--slice '0:5, :'`, `'..., -1'`, `'::2, 3'`.
//!
//! A [`Selection`] maps the logical indices of the selected view to storage indices of the
//! array, whatever its order (C or F): logical order is always C order over the view.

use arrfile_format::Order;

/// Why a slice expression was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SliceError {
    /// The text is not a list of indices, slices and at most one `...`.
    #[error("expected indices like '0:5, :', '..., -1' or '::2', found {found:?} in {expr:?}")]
    Malformed {
        /// The whole expression.
        expr: String,
        /// The part that does not parse.
        found: String,
    },
    /// More than one `...`.
    #[error("expected at most one '...', found {count} in {expr:?}")]
    TwoEllipses {
        /// The whole expression.
        expr: String,
        /// How many.
        count: usize,
    },
    /// More indices than dimensions.
    #[error("expected at most {ndim} indices for an array of {ndim} dimensions, found {given}")]
    TooManyIndices {
        /// Indices given (without `...`).
        given: usize,
        /// The array's dimensions.
        ndim: usize,
    },
    /// An integer index outside its axis.
    #[error("index {index} is out of range for axis {axis} of length {len}")]
    OutOfRange {
        /// The index given.
        index: i64,
        /// The axis.
        axis: usize,
        /// The axis' length.
        len: u64,
    },
    /// A slice step of zero.
    #[error("slice step cannot be zero (axis {axis})")]
    ZeroStep {
        /// The axis.
        axis: usize,
    },
}

/// One item of a slice expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceItem {
    /// An integer index: removes its axis.
    Index(i64),
    /// `start:stop:step`, each optional.
    Range {
        /// Start, or `None` for the end that `step` starts from.
        start: Option<i64>,
        /// Stop, or `None`.
        stop: Option<i64>,
        /// Step, or `None` for 1.
        step: Option<i64>,
    },
    /// `...`: as many `:` as needed.
    Ellipsis,
}

/// Parses a slice expression. Brackets around it are accepted (`[0, :]`).
///
/// ```
/// use arrfile_view::{SliceItem, parse_slice};
/// assert_eq!(parse_slice("..., -1").unwrap(), vec![SliceItem::Ellipsis, SliceItem::Index(-1)]);
/// assert!(parse_slice("1:2:3:4").is_err());
/// ```
///
/// # Errors
/// [`SliceError::Malformed`] or [`SliceError::TwoEllipses`].
pub fn parse_slice(expr: &str) -> Result<Vec<SliceItem>, SliceError> {
    let trimmed = expr.trim();
    let inner = trimmed.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(trimmed);
    let malformed =
        |found: &str| SliceError::Malformed { expr: expr.to_owned(), found: found.to_owned() };
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    let int = |text: &str| -> Result<Option<i64>, SliceError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
            return Err(malformed(text));
        }
        text.replace('_', "").parse::<i64>().map(Some).map_err(|_| malformed(text))
    };
    let mut items = Vec::new();
    for part in inner.split(',') {
        let part = part.trim();
        let item = if part == "..." || part == "Ellipsis" {
            SliceItem::Ellipsis
        } else if part.contains(':') {
            let pieces: Vec<&str> = part.split(':').collect();
            if pieces.len() > 3 {
                return Err(malformed(part));
            }
            SliceItem::Range {
                start: int(pieces[0])?,
                stop: int(pieces[1])?,
                step: pieces.get(2).map(|s| int(s)).transpose()?.flatten(),
            }
        } else {
            SliceItem::Index(int(part)?.ok_or_else(|| malformed(part))?)
        };
        items.push(item);
    }
    let count = items.iter().filter(|i| **i == SliceItem::Ellipsis).count();
    if count > 1 {
        return Err(SliceError::TwoEllipses { expr: expr.to_owned(), count });
    }
    Ok(items)
}

/// A view of an array: where its first element is stored and, for each of its dimensions,
/// its length and its stride in storage elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// Storage index of the view's first element.
    pub offset: u64,
    /// `(length, stride)` of each dimension of the view, in logical order.
    pub dims: Vec<(u64, i64)>,
}

/// Storage strides, in elements, of an array of `shape` in `order`.
pub fn strides(shape: &[u64], order: Order) -> Vec<i64> {
    let mut strides = vec![0i64; shape.len()];
    let mut acc: i64 = 1;
    let mut set = |k: usize| {
        strides[k] = acc;
        acc = acc.saturating_mul(i64::try_from(shape[k].max(1)).unwrap_or(i64::MAX));
    };
    match order {
        Order::C => (0..shape.len()).rev().for_each(&mut set),
        Order::F => (0..shape.len()).for_each(&mut set),
    }
    strides
}

impl Selection {
    /// The whole array.
    pub fn all(shape: &[u64], order: Order) -> Selection {
        let dims = shape.iter().copied().zip(strides(shape, order)).collect();
        Selection { offset: 0, dims }
    }

    /// The view that `items` select from an array of `shape` in `order`, as numpy's basic
    /// indexing does (Python's `slice.indices` for ranges; negative indices count from the
    /// end).
    ///
    /// # Errors
    /// [`SliceError::TooManyIndices`], [`SliceError::OutOfRange`], [`SliceError::ZeroStep`].
    pub fn new(shape: &[u64], order: Order, items: &[SliceItem]) -> Result<Selection, SliceError> {
        let ndim = shape.len();
        let given = items.iter().filter(|i| **i != SliceItem::Ellipsis).count();
        if given > ndim {
            return Err(SliceError::TooManyIndices { given, ndim });
        }
        let mut expanded = Vec::with_capacity(ndim);
        for item in items {
            if *item == SliceItem::Ellipsis {
                let full = SliceItem::Range { start: None, stop: None, step: None };
                expanded.extend(std::iter::repeat_n(full, ndim - given));
            } else {
                expanded.push(*item);
            }
        }
        expanded.resize(ndim, SliceItem::Range { start: None, stop: None, step: None });
        let strides = strides(shape, order);
        let mut offset: i128 = 0;
        let mut dims = Vec::new();
        for (axis, item) in expanded.iter().enumerate() {
            let len = i128::from(shape[axis]);
            let stride = i128::from(strides[axis]);
            match *item {
                SliceItem::Index(index) => {
                    let i = if index < 0 { len + i128::from(index) } else { i128::from(index) };
                    if i < 0 || i >= len {
                        return Err(SliceError::OutOfRange { index, axis, len: shape[axis] });
                    }
                    offset += i * stride;
                }
                SliceItem::Range { start, stop, step } => {
                    let step = i128::from(step.unwrap_or(1));
                    if step == 0 {
                        return Err(SliceError::ZeroStep { axis });
                    }
                    let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
                    let clamp = |v: Option<i64>, default: i128| match v {
                        None => default,
                        Some(v) if v < 0 => (i128::from(v) + len).max(lower),
                        Some(v) => i128::from(v).min(upper),
                    };
                    let start = clamp(start, if step < 0 { upper } else { lower });
                    let stop = clamp(stop, if step < 0 { lower } else { upper });
                    let count = if step > 0 && stop > start {
                        (stop - start - 1) / step + 1
                    } else if step < 0 && start > stop {
                        (start - stop - 1) / (-step) + 1
                    } else {
                        0
                    };
                    if count > 0 {
                        offset += start * stride;
                    }
                    // Bounded: |step| × stride stays within the array for count > 1.
                    let view_stride = if count > 1 { step * stride } else { stride };
                    dims.push((count as u64, i64::try_from(view_stride).unwrap_or(i64::MAX)));
                }
                SliceItem::Ellipsis => {}
            }
        }
        if dims.iter().any(|d| d.0 == 0) {
            offset = 0;
        }
        Ok(Selection { offset: u64::try_from(offset).unwrap_or(0), dims })
    }

    /// The view's shape.
    pub fn shape(&self) -> Vec<u64> {
        self.dims.iter().map(|d| d.0).collect()
    }

    /// Number of elements in the view.
    pub fn len(&self) -> u64 {
        self.dims.iter().map(|d| d.0).product()
    }

    /// Whether the view has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Storage index of the element at the view's logical `index` (one entry per dimension).
    pub fn storage_index(&self, index: &[u64]) -> u64 {
        let at =
            self.dims.iter().zip(index).fold(i128::from(self.offset), |acc, (d, &i)| {
                acc + i128::from(d.1) * i128::from(i)
            });
        u64::try_from(at).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sel(shape: &[u64], expr: &str) -> Result<Selection, SliceError> {
        Selection::new(shape, Order::C, &parse_slice(expr)?)
    }

    #[test]
    fn numpy_examples() {
        assert_eq!(sel(&[4, 5], "0:2, :").unwrap().shape(), vec![2, 5]);
        let s = sel(&[4, 5], "..., -1").unwrap();
        assert_eq!((s.shape(), s.offset, s.dims[0].1), (vec![4], 4, 5));
        let s = sel(&[10], "::-3").unwrap();
        assert_eq!((s.shape(), s.offset, s.dims[0].1), (vec![4], 9, -3));
        assert_eq!(sel(&[10], "-100:100").unwrap().shape(), vec![10]);
        assert_eq!(sel(&[10], "5:2").unwrap().shape(), vec![0]);
        assert!(matches!(sel(&[4], "4"), Err(SliceError::OutOfRange { .. })));
        assert!(matches!(sel(&[4], "-5"), Err(SliceError::OutOfRange { .. })));
        assert!(matches!(sel(&[4], "::0"), Err(SliceError::ZeroStep { .. })));
        assert!(matches!(sel(&[4], "1, 2"), Err(SliceError::TooManyIndices { .. })));
        assert!(matches!(sel(&[4], "..., ..."), Err(SliceError::TwoEllipses { .. })));
        assert!(matches!(sel(&[4], "a"), Err(SliceError::Malformed { .. })));
        assert!(matches!(sel(&[4], "1:2:3:4"), Err(SliceError::Malformed { .. })));
        let f = Selection::new(&[2, 3], Order::F, &parse_slice("1, :").unwrap()).unwrap();
        assert_eq!((f.offset, f.dims.clone()), (1, vec![(3, 2)]));
    }

    /// Python's `range(len)[start:stop:step]`, by brute force.
    fn brute(len: i64, start: Option<i64>, stop: Option<i64>, step: i64) -> Vec<i64> {
        let norm = |v: i64| if v < 0 { v + len } else { v };
        let mut out = Vec::new();
        if step > 0 {
            let s = start.map_or(0, |v| norm(v).clamp(0, len));
            let e = stop.map_or(len, |v| norm(v).clamp(0, len));
            let mut i = s;
            while i < e {
                out.push(i);
                i += step;
            }
        } else {
            let s = start.map_or(len - 1, |v| norm(v).clamp(-1, len - 1));
            let e = stop.map_or(-1, |v| norm(v).clamp(-1, len - 1));
            let mut i = s;
            while i > e {
                out.push(i);
                i += step;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn parser_never_panics(text in "\\PC{0,40}") {
            let _ = parse_slice(&text).map(|items| Selection::new(&[3, 4, 5], Order::F, &items));
        }

        #[test]
        fn parser_never_panics_on_slice_like_text(text in "[-0-9:., ]{0,30}") {
            let _ = parse_slice(&text).map(|items| Selection::new(&[3, 4, 5], Order::C, &items));
        }

        #[test]
        fn ranges_match_python(
            len in 0i64..30,
            start in proptest::option::of(-40i64..40),
            stop in proptest::option::of(-40i64..40),
            step in prop_oneof![-7i64..-1, 1i64..7],
        ) {
            let items = [SliceItem::Range { start, stop, step: Some(step) }];
            let s = Selection::new(&[len as u64], Order::C, &items).unwrap();
            let got: Vec<i64> = (0..s.len()).map(|i| s.storage_index(&[i]) as i64).collect();
            prop_assert_eq!(got, brute(len, start, stop, step));
        }

        #[test]
        fn printed_items_parse_back(
            items in proptest::collection::vec(
                prop_oneof![
                    (-50i64..50).prop_map(SliceItem::Index),
                    (proptest::option::of(-50i64..50), proptest::option::of(-50i64..50), proptest::option::of(-5i64..5))
                        .prop_map(|(start, stop, step)| SliceItem::Range { start, stop, step }),
                ],
                0..6,
            )
        ) {
            let show = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
            let text: Vec<String> = items.iter().map(|i| match i {
                SliceItem::Index(v) => v.to_string(),
                SliceItem::Range { start, stop, step } =>
                    format!("{}:{}:{}", show(*start), show(*stop), show(*step)),
                SliceItem::Ellipsis => "...".into(),
            }).collect();
            prop_assert_eq!(parse_slice(&text.join(", ")).unwrap(), items);
        }
    }
}
