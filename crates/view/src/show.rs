//! `show`: the values of an array, or of a slice of it, as numpy's `print(array)` shows them.

use serde_json::{Value as Json, json};

use crate::error::{Error, ErrorKind};
use crate::format::{EDGE_ITEMS, THRESHOLD, element_strings, format_array, scalar_str};
use crate::slice::{Selection, parse_slice};
use crate::source::{ElementReader, Source};
use crate::value::Value;

/// The most elements `show` gathers, even summarised (numpy itself has no limit, and would
/// print 6^ndim elements of a big array of many dimensions).
pub const MAX_SHOWN: u64 = 1_000_000;

/// The elements `show` prints: the view, and the values kept at each end of each axis.
#[derive(Clone, Debug)]
pub struct Shown {
    /// The view's shape.
    pub shape: Vec<u64>,
    /// Whether the view has more than numpy's threshold of elements, so that axes longer
    /// than `2 × EDGE_ITEMS` are elided.
    pub summarised: bool,
    /// For each axis, the view indices shown.
    pub indices: Vec<Vec<u64>>,
    /// The shown values, in C order over `indices`.
    pub values: Vec<Value>,
}

/// Reads the elements `show` prints, and no others: the pages of elided elements are not
/// touched.
///
/// # Errors
/// [`ErrorKind::Slice`] for a bad `slice`, [`ErrorKind::TooManyElements`], or a read error.
pub fn gather(source: &Source, slice: Option<&str>) -> Result<Shown, Error> {
    let desc = source.description();
    let err = |kind| Error::new(source.path(), kind);
    let selection = match slice {
        None => Selection::all(desc.shape(), desc.order()),
        Some(expr) => {
            let items = parse_slice(expr).map_err(|e| err(ErrorKind::Slice(e)))?;
            Selection::new(desc.shape(), desc.order(), &items)
                .map_err(|e| err(ErrorKind::Slice(e)))?
        }
    };
    let shape = selection.shape();
    let summarised = selection.len() > THRESHOLD;
    let indices: Vec<Vec<u64>> = shape
        .iter()
        .map(|&len| {
            if summarised && len > 2 * EDGE_ITEMS {
                (0..EDGE_ITEMS).chain(len - EDGE_ITEMS..len).collect()
            } else {
                (0..len).collect()
            }
        })
        .collect();
    let count = indices.iter().try_fold(1u64, |acc, i| acc.checked_mul(i.len() as u64));
    let count = count.unwrap_or(u64::MAX);
    if count > MAX_SHOWN {
        return Err(err(ErrorKind::TooManyElements { count, limit: MAX_SHOWN }));
    }
    let mut reader = ElementReader::new(source);
    let mut values = Vec::with_capacity(count as usize);
    let mut position = vec![0usize; shape.len()];
    let mut index = vec![0u64; shape.len()];
    for _ in 0..count {
        for (k, p) in position.iter().enumerate() {
            index[k] = indices[k][*p];
        }
        values.push(reader.get(selection.storage_index(&index))?);
        for k in (0..position.len()).rev() {
            position[k] += 1;
            if position[k] < indices[k].len() {
                break;
            }
            position[k] = 0;
        }
    }
    Ok(Shown { shape, summarised, indices, values })
}

impl Shown {
    /// The text numpy's `print(array)` gives for the view (without a final newline).
    pub fn to_text(&self) -> String {
        if self.shape.is_empty() {
            return self.values.first().map(|v| scalar_str(*v)).unwrap_or_default();
        }
        if self.values.is_empty() {
            return "[]".into();
        }
        let strings = element_strings(&self.values);
        let shown: Vec<usize> = self.indices.iter().map(Vec::len).collect();
        let elided: Vec<bool> = self
            .shape
            .iter()
            .zip(&shown)
            .map(|(&len, &n)| self.summarised && len > n as u64)
            .collect();
        format_array(&strings, &shown, &elided)
    }

    /// Nested JSON lists of the values, with the string `"..."` where elements are elided;
    /// non-finite floats as the strings `"nan"`, `"inf"`, `"-inf"`, complex values as
    /// `[real, imag]`.
    pub fn to_json_values(&self) -> Json {
        fn number(v: f64) -> Json {
            if v.is_finite() {
                json!(v)
            } else if v.is_nan() {
                json!("nan")
            } else if v > 0.0 {
                json!("inf")
            } else {
                json!("-inf")
            }
        }
        fn one(v: &Value) -> Json {
            match *v {
                Value::Bool(b) => json!(b),
                Value::Int(i) => json!(i),
                Value::UInt(u) => json!(u),
                Value::Float(f, _) => number(f),
                Value::Complex(r, i, _) => json!([number(r), number(i)]),
            }
        }
        fn rec(shown: &Shown, axis: usize, base: usize) -> Json {
            if axis == shown.shape.len() {
                return shown.values.get(base).map_or(Json::Null, one);
            }
            let n = shown.indices[axis].len();
            let block: usize = shown.indices[axis + 1..].iter().map(Vec::len).product();
            let elided = shown.summarised && shown.shape[axis] > n as u64;
            let mut list = Vec::with_capacity(n + 1);
            for i in 0..n {
                if elided && i == n / 2 {
                    list.push(json!("..."));
                }
                list.push(rec(shown, axis + 1, base + i * block));
            }
            Json::Array(list)
        }
        rec(self, 0, 0)
    }
}

/// `show --json`: the source's description, the view's shape and the values.
pub fn show_json(source: &Source, slice: Option<&str>) -> Result<Json, Error> {
    let shown = gather(source, slice)?;
    let desc = source.description();
    Ok(json!({
        "path": source.path().display().to_string(),
        "dtype": desc.dtype().name(),
        "shape": desc.shape(),
        "order": desc.order().name(),
        "byte_order": desc.byte_order().name(),
        "slice": slice,
        "view_shape": shown.shape,
        "summarised": shown.summarised,
        "values": shown.to_json_values(),
    }))
}

/// `show`: numpy's text for the array or the slice of it.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// use arrfile_view::{Source, show};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("a.dat");
/// let bytes: Vec<u8> = [0.0f64, 0.5, 1.0, 1.5, 2.0, 2.5].iter().flat_map(|v| v.to_le_bytes()).collect();
/// std::fs::write(&path, bytes)?;
/// let source = Source::from_file(&path, Description::c_order(Dtype::F64, vec![2, 3])?, 0)?;
/// assert_eq!(show(&source, None)?, "[[0.  0.5 1. ]\n [1.5 2.  2.5]]");
/// assert_eq!(show(&source, Some("..., -1"))?, "[1.  2.5]");
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`gather`].
pub fn show(source: &Source, slice: Option<&str>) -> Result<String, Error> {
    Ok(gather(source, slice)?.to_text())
}
