//! `diff`: compares two arrays element by element, by logical index, whatever their byte
//! orders and C/F orders.
//!
//! Without a tolerance, elements are equal when `a == b` (so `-0.0 == 0.0`) or both are NaN.
//! With `rtol` or `atol`, as `np.allclose`: `|a - b| <= atol + rtol * |b|`, with infinities
//! equal only to themselves, and NaN equal to NaN (as `np.allclose(equal_nan=True)`).

use arrfile_format::{Description, Order};
use serde_json::{Value as Json, json};

use crate::error::{Error, ErrorKind};
use crate::hooks::Hooks;
use crate::slice::strides;
use crate::source::{ElementReader, Source};
use crate::value::{Value, decode};

/// numpy's default relative tolerance, used when only `atol` is given.
pub const DEFAULT_RTOL: f64 = 1e-5;
/// numpy's default absolute tolerance, used when only `rtol` is given.
pub const DEFAULT_ATOL: f64 = 1e-8;
/// Elements read at a time.
const CHUNK_ELEMS: u64 = 1 << 16;

/// How to compare.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tolerance {
    /// Relative tolerance; `None` with `atol` also `None` means exact comparison.
    pub rtol: Option<f64>,
    /// Absolute tolerance.
    pub atol: Option<f64>,
}

impl Tolerance {
    fn resolved(self) -> Option<(f64, f64)> {
        match (self.rtol, self.atol) {
            (None, None) => None,
            (r, a) => Some((r.unwrap_or(DEFAULT_RTOL), a.unwrap_or(DEFAULT_ATOL))),
        }
    }
}

/// One differing element.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// Its logical index.
    pub index: Vec<u64>,
    /// The value in A.
    pub a: Value,
    /// The value in B.
    pub b: Value,
}

/// What `diff` found.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffReport {
    /// A's description.
    pub a: Description,
    /// B's description.
    pub b: Description,
    /// What differs in the descriptions (dtype, shape); when not empty, no element was
    /// compared.
    pub mismatch: Vec<String>,
    /// Elements compared.
    pub compared: u64,
    /// Elements that differ.
    pub differing: u64,
    /// The first differing elements, in logical (C) order.
    pub first: Vec<Difference>,
    /// The largest `|a - b|` over the elements (finite differences only).
    pub max_abs: f64,
    /// The largest `|a - b| / |b|` (elements with `b != 0` and a finite difference).
    pub max_rel: f64,
}

impl DiffReport {
    /// Whether the arrays are equal (under the tolerance).
    pub fn equal(&self) -> bool {
        self.mismatch.is_empty() && self.differing == 0
    }

    /// A human-readable report.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        if !self.mismatch.is_empty() {
            for m in &self.mismatch {
                text.push_str(&format!("differ: {m}\n"));
            }
            return text;
        }
        let pct = if self.compared == 0 {
            0.0
        } else {
            100.0 * self.differing as f64 / self.compared as f64
        };
        text.push_str(&format!(
            "{} of {} elements differ ({pct:.4}%)\n",
            self.differing, self.compared
        ));
        if self.differing > 0 {
            for d in &self.first {
                text.push_str(&format!(
                    "  {:?}: {} vs {}\n",
                    d.index,
                    crate::format::scalar_str(d.a),
                    crate::format::scalar_str(d.b)
                ));
            }
            if self.differing > self.first.len() as u64 {
                text.push_str("  ...\n");
            }
        }
        text.push_str(&format!(
            "max abs difference: {:?}\nmax rel difference: {:?}\n",
            self.max_abs, self.max_rel
        ));
        text
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Json {
        json!({
            "equal": self.equal(),
            "a": self.a,
            "b": self.b,
            "mismatch": self.mismatch,
            "compared": self.compared,
            "differing": self.differing,
            "first": self.first.iter().map(|d| json!({
                "index": d.index,
                "a": crate::format::scalar_str(d.a),
                "b": crate::format::scalar_str(d.b),
            })).collect::<Vec<_>>(),
            "max_abs": if self.max_abs.is_finite() { json!(self.max_abs) } else { json!(self.max_abs.to_string()) },
            "max_rel": if self.max_rel.is_finite() { json!(self.max_rel) } else { json!(self.max_rel.to_string()) },
        })
    }
}

/// Whether two values are equal, and their absolute and relative differences.
fn compare(a: Value, b: Value, tol: Option<(f64, f64)>) -> (bool, f64, f64) {
    let parts = |v: Value| match v {
        Value::Complex(r, i, _) => (r, i),
        other => (other.to_f64(), 0.0),
    };
    let exact_int = match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(i128::from(x) - i128::from(y)),
        (Value::UInt(x), Value::UInt(y)) => Some(i128::from(x) - i128::from(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(i128::from(x) - i128::from(y)),
        _ => None,
    };
    let (ar, ai) = parts(a);
    let (br, bi) = parts(b);
    let abs = match exact_int {
        Some(d) => d.unsigned_abs() as f64,
        None => (ar - br).hypot(ai - bi),
    };
    let mag_b = br.hypot(bi);
    let rel = if mag_b != 0.0 {
        abs / mag_b
    } else if abs == 0.0 {
        0.0
    } else {
        f64::INFINITY
    };
    let same = |x: f64, y: f64| x == y || (x.is_nan() && y.is_nan());
    let equal = match (exact_int, tol) {
        (Some(d), None) => d == 0,
        (None, None) => same(ar, br) && same(ai, bi),
        (_, Some((rtol, atol))) => {
            let nan_a = ar.is_nan() || ai.is_nan();
            let nan_b = br.is_nan() || bi.is_nan();
            if nan_a || nan_b {
                nan_a && nan_b
            } else if !(ar.is_finite() && ai.is_finite() && br.is_finite() && bi.is_finite()) {
                ar == br && ai == bi
            } else {
                abs <= atol + rtol * mag_b
            }
        }
    };
    (equal, abs, rel)
}

/// The logical (C-order) index of a storage index in an array of `shape` in `order`.
fn unravel(mut at: u64, shape: &[u64], order: Order) -> Vec<u64> {
    let mut index = vec![0u64; shape.len()];
    let axes: Vec<usize> = match order {
        Order::C => (0..shape.len()).rev().collect(),
        Order::F => (0..shape.len()).collect(),
    };
    for k in axes {
        let len = shape[k].max(1);
        index[k] = at % len;
        at /= len;
    }
    index
}

/// Compares `a` and `b`. Reads both once, in A's storage order; B is read in place when its
/// order is A's, else element by element at the same logical index.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{ByteOrder, Description, Dtype, Order};
/// use arrfile_view::{Hooks, Source, Tolerance, diff};
/// # let dir = tempfile::tempdir()?;
/// let le = dir.path().join("le.dat");
/// let be = dir.path().join("be.dat");
/// std::fs::write(&le, [1.0f32, 2.0, 3.0].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<_>>())?;
/// std::fs::write(&be, [1.0f32, 2.0, 3.5].iter().flat_map(|v| v.to_be_bytes()).collect::<Vec<_>>())?;
/// let d = Description::c_order(Dtype::F32, vec![3])?;
/// let a = Source::from_file(&le, d.clone(), 0)?;
/// let b = Source::from_file(&be, d.with_byte_order(ByteOrder::Big), 0)?;
/// let report = diff(&a, &b, Tolerance::default(), 5, Hooks::default())?;
/// assert_eq!((report.differing, report.first[0].index.clone(), report.max_abs), (1, vec![2], 0.5));
/// let close = diff(&a, &b, Tolerance { rtol: Some(0.2), atol: None }, 5, Hooks::default())?;
/// assert!(close.equal());
/// # Ok(()) }
/// ```
///
/// # Errors
/// A read error, or [`ErrorKind::Interrupted`].
pub fn diff(
    a: &Source,
    b: &Source,
    tolerance: Tolerance,
    listed: usize,
    hooks: Hooks<'_>,
) -> Result<DiffReport, Error> {
    let (da, db) = (a.description(), b.description());
    let mut report = DiffReport {
        a: da.clone(),
        b: db.clone(),
        mismatch: Vec::new(),
        compared: 0,
        differing: 0,
        first: Vec::new(),
        max_abs: 0.0,
        max_rel: 0.0,
    };
    if da.dtype() != db.dtype() {
        report.mismatch.push(format!("dtype: {} vs {}", da.dtype(), db.dtype()));
    }
    if da.shape() != db.shape() {
        report.mismatch.push(format!("shape: {:?} vs {:?}", da.shape(), db.shape()));
    }
    if !report.mismatch.is_empty() {
        return Ok(report);
    }
    let tol = tolerance.resolved();
    let shape = da.shape();
    let same_layout = da.order() == db.order() || shape.iter().filter(|&&d| d > 1).count() <= 1;
    let b_strides = strides(shape, db.order());
    // A's storage order is its logical order (so the first differences found are the first).
    let a_logical = da.order() == Order::C || shape.iter().filter(|&&d| d > 1).count() <= 1;
    let size = da.dtype().itemsize();
    let total = da.element_count();
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    let mut reader_b = ElementReader::new(b);
    let mut at = 0u64;
    let mut b_values = Vec::new();
    while at < total {
        if (hooks.cancelled)() {
            return Err(Error::new(a.path(), ErrorKind::Interrupted));
        }
        let n = CHUNK_ELEMS.min(total - at);
        let bytes_a = a.bytes(at * size as u64, n as usize * size, &mut sa)?;
        b_values.clear();
        if same_layout {
            let bytes_b = b.bytes(at * size as u64, n as usize * size, &mut sb)?;
            b_values
                .extend(bytes_b.chunks_exact(size).map(|c| decode(db.dtype(), db.byte_order(), c)));
        } else {
            for i in at..at + n {
                let index = unravel(i, shape, da.order());
                let pos: u64 = index.iter().zip(&b_strides).map(|(&i, &s)| i * s as u64).sum();
                b_values.push(reader_b.get(pos)?);
            }
        }
        for (i, (ca, vb)) in bytes_a.chunks_exact(size).zip(&b_values).enumerate() {
            let va = decode(da.dtype(), da.byte_order(), ca);
            let (equal, abs, rel) = compare(va, *vb, tol);
            if !equal {
                report.differing += 1;
                if abs.is_finite() {
                    report.max_abs = report.max_abs.max(abs);
                }
                if rel.is_finite() {
                    report.max_rel = report.max_rel.max(rel);
                }
                if report.first.len() < listed || !a_logical {
                    let index = unravel(at + i as u64, shape, da.order());
                    report.first.push(Difference { index, a: va, b: *vb });
                    if report.first.len() > listed {
                        // Keep the first in logical order when A is not in C order.
                        report.first.sort_by(|x, y| x.index.cmp(&y.index));
                        report.first.truncate(listed);
                    }
                }
            }
        }
        (hooks.progress)((n as usize * size * 2) as u64);
        report.compared += n;
        at += n;
    }
    Ok(report)
}
