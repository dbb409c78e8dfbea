//! `stats`: count, min, max, mean, standard deviation, NaN, ±inf and zero counts, over the
//! whole array or per index of one axis; one streaming pass on every core.
//!
//! Floats: blocks of [`BLOCK`] values are summed in two passes (mean, then squared
//! deviations) and merged with Chan's parallel formula, so the variance is numerically
//! stable; NaN is skipped as `np.nanmean` does. Integers: the sum is exact (`i128`), so the
//! mean is the correctly rounded quotient up to one rounding of the sum.

use std::thread;

use arrfile_format::Dtype;
use serde_json::{Value as Json, json};

use crate::error::{Error, ErrorKind};
use crate::hooks::Hooks;
use crate::slice::strides;
use crate::source::Source;
use crate::value::{Value, decode, decode_f64s};

/// Values summed together before a merge.
pub const BLOCK: usize = 1024;
/// Independent accumulators per pass.
const LANES: usize = 4;
/// Payload bytes read at a time by each thread.
const CHUNK: usize = 1 << 20;

/// The statistics of a set of values.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Elements, NaN included.
    pub count: u64,
    /// NaN elements.
    pub nan: u64,
    /// `+inf` elements.
    pub pos_inf: u64,
    /// `-inf` elements.
    pub neg_inf: u64,
    /// Elements equal to zero (`-0.0` included).
    pub zeros: u64,
    /// The smallest non-NaN value, `None` when there is none.
    pub min: Option<Number>,
    /// The largest non-NaN value.
    pub max: Option<Number>,
    /// The mean of the non-NaN values (NaN when there are none; ±inf or NaN with infinities,
    /// as `np.nanmean`).
    pub mean: f64,
    /// The population standard deviation (`ddof=0`) of the non-NaN values, as `np.nanstd`.
    pub std: f64,
}

/// An extreme value, exact for integers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// From an integer or bool array.
    Int(i128),
    /// From a floating-point array.
    Float(f64),
}

impl Number {
    fn json(self) -> Json {
        match self {
            Number::Int(v) => i64::try_from(v)
                .map(Json::from)
                .unwrap_or_else(|_| u64::try_from(v).map(Json::from).unwrap_or(Json::Null)),
            Number::Float(v) => float_json(v),
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(v) => write!(f, "{v}"),
            Number::Float(v) => write!(f, "{}", float_text(*v)),
        }
    }
}

fn float_json(v: f64) -> Json {
    if v.is_finite() { json!(v) } else { json!(float_text(v)) }
}

fn float_text(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v:?}")
    }
}

impl Summary {
    /// The summary as JSON: non-finite floats as the strings `nan`, `inf`, `-inf`.
    pub fn to_json(&self) -> Json {
        json!({
            "count": self.count,
            "min": self.min.map_or(Json::Null, Number::json),
            "max": self.max.map_or(Json::Null, Number::json),
            "mean": float_json(self.mean),
            "std": float_json(self.std),
            "nan": self.nan,
            "pos_inf": self.pos_inf,
            "neg_inf": self.neg_inf,
            "zeros": self.zeros,
        })
    }
}

/// What `stats` found: the whole array's summary, and one per index of `axis` if asked.
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// The dtype.
    pub dtype: Dtype,
    /// The shape.
    pub shape: Vec<u64>,
    /// The whole array.
    pub total: Summary,
    /// The axis and, for each of its indices, the summary of that slice.
    pub per_index: Option<(usize, Vec<Summary>)>,
}

impl Stats {
    /// The results as JSON.
    pub fn to_json(&self) -> Json {
        let mut value = json!({
            "dtype": self.dtype.name(),
            "shape": self.shape,
            "total": self.total.to_json(),
        });
        if let Some((axis, list)) = &self.per_index {
            value["axis"] = json!(axis);
            value["per_index"] = Json::Array(list.iter().map(Summary::to_json).collect());
        }
        value
    }

    /// A table: one row for the whole array, then one per index of the axis.
    pub fn to_text(&self) -> String {
        let mut rows = vec![[
            "".to_owned(),
            "count".into(),
            "min".into(),
            "max".into(),
            "mean".into(),
            "std".into(),
            "nan".into(),
            "+inf".into(),
            "-inf".into(),
            "zeros".into(),
        ]];
        let row = |label: String, s: &Summary| {
            let opt = |n: Option<Number>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
            [
                label,
                s.count.to_string(),
                opt(s.min),
                opt(s.max),
                float_text(s.mean),
                float_text(s.std),
                s.nan.to_string(),
                s.pos_inf.to_string(),
                s.neg_inf.to_string(),
                s.zeros.to_string(),
            ]
        };
        rows.push(row("all".into(), &self.total));
        if let Some((axis, list)) = &self.per_index {
            for (i, s) in list.iter().enumerate() {
                rows.push(row(format!("axis {axis} [{i}]"), s));
            }
        }
        let mut widths = [0usize; 10];
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut text = String::new();
        for r in &rows {
            let cells: Vec<String> = r
                .iter()
                .zip(widths)
                .enumerate()
                .map(|(k, (c, w))| if k == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
                .collect();
            text.push_str(cells.join("  ").trim_end());
            text.push('\n');
        }
        text
    }
}

/// A running summary: Chan's merge of block means and squared deviations.
#[derive(Clone, Copy, Debug)]
struct Acc {
    count: u64,
    nan: u64,
    pos_inf: u64,
    neg_inf: u64,
    zeros: u64,
    /// Finite values in the mean and variance.
    n: u64,
    mean: f64,
    m2: f64,
    /// Exact sum, for integer dtypes.
    isum: i128,
    fmin: f64,
    fmax: f64,
    imin: i128,
    imax: i128,
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            count: 0,
            nan: 0,
            pos_inf: 0,
            neg_inf: 0,
            zeros: 0,
            n: 0,
            mean: 0.0,
            m2: 0.0,
            isum: 0,
            fmin: f64::INFINITY,
            fmax: f64::NEG_INFINITY,
            imin: i128::MAX,
            imax: i128::MIN,
        }
    }
}

impl Acc {
    fn merge_moments(&mut self, n: u64, mean: f64, m2: f64) {
        if n == 0 {
            return;
        }
        if self.n == 0 {
            (self.n, self.mean, self.m2) = (n, mean, m2);
            return;
        }
        let total = self.n + n;
        let delta = mean - self.mean;
        let (na, nb, nt) = (self.n as f64, n as f64, total as f64);
        self.mean += delta * nb / nt;
        self.m2 += m2 + delta * delta * na * nb / nt;
        self.n = total;
    }

    fn merge(&mut self, other: &Acc) {
        self.count += other.count;
        self.nan += other.nan;
        self.pos_inf += other.pos_inf;
        self.neg_inf += other.neg_inf;
        self.zeros += other.zeros;
        self.isum += other.isum;
        self.fmin = self.fmin.min(other.fmin);
        self.fmax = self.fmax.max(other.fmax);
        self.imin = self.imin.min(other.imin);
        self.imax = self.imax.max(other.imax);
        self.merge_moments(other.n, other.mean, other.m2);
    }

    /// Adds floats, in blocks: counts, extremes, then mean and squared deviations. Four
    /// independent lanes per pass, so that the loops vectorise.
    fn add_floats(&mut self, values: &[f64]) {
        for block in values.chunks(BLOCK) {
            // Sums of deviations from a value of the block: exact enough when the data sit
            // far from zero (1e9 + noise), where a plain sum would lose the noise.
            let shift = block.iter().copied().find(|v| v.is_finite()).unwrap_or(0.0);
            let mut sum = [0.0f64; LANES];
            let mut lo = [f64::INFINITY; LANES];
            let mut hi = [f64::NEG_INFINITY; LANES];
            let mut zeros = [0u64; LANES];
            let mut odd = [0u64; LANES];
            let (chunks, tail) = block.as_chunks::<LANES>();
            let mut lane = |l: usize, v: f64| {
                let finite = v.is_finite();
                sum[l] += if finite { v - shift } else { 0.0 };
                lo[l] = lo[l].min(v);
                hi[l] = hi[l].max(v);
                zeros[l] += u64::from(v == 0.0);
                odd[l] += u64::from(!finite);
            };
            for c in chunks {
                for (l, &v) in c.iter().enumerate() {
                    lane(l, v);
                }
            }
            for (l, &v) in tail.iter().enumerate() {
                lane(l, v);
            }
            let odd: u64 = odd.iter().sum();
            if odd > 0 {
                for &v in block {
                    self.nan += u64::from(v.is_nan());
                    self.pos_inf += u64::from(v == f64::INFINITY);
                    self.neg_inf += u64::from(v == f64::NEG_INFINITY);
                }
            }
            let n = block.len() as u64 - odd;
            let mean = if n > 0 { shift + sum.iter().sum::<f64>() / n as f64 } else { 0.0 };
            let mut m2 = [0.0f64; LANES];
            let mut dev = |l: usize, v: f64| {
                let d = if v.is_finite() { v - mean } else { 0.0 };
                m2[l] += d * d;
            };
            for c in chunks {
                for (l, &v) in c.iter().enumerate() {
                    dev(l, v);
                }
            }
            for (l, &v) in tail.iter().enumerate() {
                dev(l, v);
            }
            self.count += block.len() as u64;
            self.zeros += zeros.iter().sum::<u64>();
            self.fmin = lo.iter().fold(self.fmin, |a, &b| a.min(b));
            self.fmax = hi.iter().fold(self.fmax, |a, &b| a.max(b));
            self.merge_moments(n, mean, m2.iter().sum());
        }
    }

    /// Adds integers (as `i128`, exact), with their `f64` images for the variance.
    fn add_ints(&mut self, ints: &[i128], floats: &[f64]) {
        for &v in ints {
            self.isum += v;
            self.imin = self.imin.min(v);
            self.imax = self.imax.max(v);
            self.zeros += u64::from(v == 0);
        }
        for block in floats.chunks(BLOCK) {
            let shift = block[0];
            let mean = shift + block.iter().map(|v| v - shift).sum::<f64>() / block.len() as f64;
            let m2 = block.iter().map(|v| (v - mean) * (v - mean)).sum();
            self.merge_moments(block.len() as u64, mean, m2);
        }
        self.count += ints.len() as u64;
    }

    fn summary(&self, integer: bool) -> Summary {
        let nonnan = self.count - self.nan;
        let (min, max) = if nonnan == 0 {
            (None, None)
        } else if integer {
            (Some(Number::Int(self.imin)), Some(Number::Int(self.imax)))
        } else {
            (Some(Number::Float(self.fmin)), Some(Number::Float(self.fmax)))
        };
        let (mean, std) = if nonnan == 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
            (f64::NAN, f64::NAN)
        } else if self.pos_inf > 0 {
            (f64::INFINITY, f64::NAN)
        } else if self.neg_inf > 0 {
            (f64::NEG_INFINITY, f64::NAN)
        } else if integer {
            (self.isum as f64 / self.n as f64, (self.m2 / self.n as f64).sqrt())
        } else {
            (self.mean, (self.m2 / self.n as f64).sqrt())
        };
        Summary {
            count: self.count,
            nan: self.nan,
            pos_inf: self.pos_inf,
            neg_inf: self.neg_inf,
            zeros: self.zeros,
            min,
            max,
            mean,
            std,
        }
    }
}

fn is_integer(dtype: Dtype) -> bool {
    matches!(
        dtype,
        Dtype::Bool
            | Dtype::I8
            | Dtype::I16
            | Dtype::I32
            | Dtype::I64
            | Dtype::U8
            | Dtype::U16
            | Dtype::U32
            | Dtype::U64
    )
}

/// Resolves a possibly negative axis, as numpy does.
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`].
pub fn resolve_axis(axis: i64, ndim: usize) -> Result<usize, ErrorKind> {
    let n = ndim as i64;
    let resolved = if axis < 0 { axis + n } else { axis };
    if ndim == 0 || resolved < 0 || resolved >= n {
        return Err(ErrorKind::AxisOutOfRange { axis, ndim });
    }
    Ok(resolved as usize)
}

/// Computes the statistics of `source`, over the whole array and, with `axis`, per index
/// of that axis; on `threads` threads (0: every core), each over a contiguous part of the
/// payload read in 1 MiB chunks, so memory stays constant whatever the file's size.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use arrfile_format::{Description, Dtype};
/// use arrfile_view::{Hooks, Number, Source, stats};
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("a.dat");
/// let bytes: Vec<u8> = [1i32, 2, 3, 4, 5, 6].iter().flat_map(|v| v.to_le_bytes()).collect();
/// std::fs::write(&path, bytes)?;
/// let source = Source::from_file(&path, Description::c_order(Dtype::I32, vec![2, 3])?, 0)?;
/// let s = stats(&source, Some(0), 0, Hooks::default())?;
/// assert_eq!(s.total.mean, 3.5);
/// assert_eq!(s.total.max, Some(Number::Int(6)));
/// let rows = s.per_index.unwrap().1;
/// assert_eq!((rows[0].mean, rows[1].mean), (2.0, 5.0));
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`], [`ErrorKind::UnsupportedDtype`] for complex arrays,
/// [`ErrorKind::Interrupted`], or a read error.
pub fn stats(
    source: &Source,
    axis: Option<i64>,
    threads: usize,
    hooks: Hooks<'_>,
) -> Result<Stats, Error> {
    let desc = source.description();
    let dtype = desc.dtype();
    let err = |kind| Error::new(source.path(), kind);
    if matches!(dtype, Dtype::C64 | Dtype::C128) {
        return Err(err(ErrorKind::UnsupportedDtype {
            command: "stats",
            expected: "real (complex numbers have no order)",
            dtype,
        }));
    }
    let axis = axis.map(|a| resolve_axis(a, desc.ndim())).transpose().map_err(err)?;
    // Storage index -> axis index: (i / stride) % len.
    let bins = axis.map(|k| {
        let stride = strides(desc.shape(), desc.order())[k] as u64;
        (stride, desc.shape()[k])
    });
    let nbins = bins.map_or(1, |(_, len)| len as usize);
    let total_elems = desc.element_count();
    let threads =
        if threads == 0 { thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    let threads =
        threads.min(usize::try_from(total_elems / (CHUNK as u64 / 8) + 1).unwrap_or(1)).max(1);
    let integer = is_integer(dtype);
    let part = |t: usize| -> Result<Vec<Acc>, Error> {
        let begin = total_elems * t as u64 / threads as u64;
        let end = total_elems * (t as u64 + 1) / threads as u64;
        scan(source, begin, end, bins, nbins, integer, hooks)
    };
    let results: Vec<Result<Vec<Acc>, Error>> = if threads == 1 {
        vec![part(0)]
    } else {
        thread::scope(|scope| {
            let handles: Vec<_> = (0..threads).map(|t| scope.spawn(move || part(t))).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(err(ErrorKind::Interrupted))))
                .collect()
        })
    };
    let mut merged = vec![Acc::default(); nbins];
    for result in results {
        for (m, a) in merged.iter_mut().zip(result?) {
            m.merge(&a);
        }
    }
    let mut total = Acc::default();
    merged.iter().for_each(|a| total.merge(a));
    Ok(Stats {
        dtype,
        shape: desc.shape().to_vec(),
        total: total.summary(integer),
        per_index: axis.map(|k| (k, merged.iter().map(|a| a.summary(integer)).collect())),
    })
}

/// One thread's part: elements `[begin, end)` in storage order.
fn scan(
    source: &Source,
    begin: u64,
    end: u64,
    bins: Option<(u64, u64)>,
    nbins: usize,
    integer: bool,
    hooks: Hooks<'_>,
) -> Result<Vec<Acc>, Error> {
    let desc = source.description();
    let (dtype, byte_order) = (desc.dtype(), desc.byte_order());
    let size = dtype.itemsize() as u64;
    let mut accs = vec![Acc::default(); nbins];
    let mut scratch = Vec::new();
    let mut floats = Vec::with_capacity(CHUNK);
    let mut ints: Vec<i128> = Vec::new();
    let per_chunk = CHUNK as u64 / size;
    let mut at = begin;
    while at < end {
        if (hooks.cancelled)() {
            return Err(Error::new(source.path(), ErrorKind::Interrupted));
        }
        let n = per_chunk.min(end - at);
        let bytes = source.bytes(at * size, (n * size) as usize, &mut scratch)?;
        if !integer && bins.is_none() {
            // Decode a block at a time, so the values stay in the L1 cache.
            for part in bytes.chunks(BLOCK * size as usize) {
                floats.clear();
                decode_f64s(dtype, byte_order, part, &mut floats);
                accs[0].add_floats(&floats);
            }
            (hooks.progress)(bytes.len() as u64);
            at += n;
            continue;
        }
        floats.clear();
        decode_f64s(dtype, byte_order, bytes, &mut floats);
        if integer {
            ints.clear();
            ints.extend(bytes.chunks_exact(size as usize).map(|c| {
                match decode(dtype, byte_order, c) {
                    Value::Int(v) => i128::from(v),
                    Value::UInt(v) => i128::from(v),
                    Value::Bool(b) => i128::from(b),
                    other => other.to_f64() as i128,
                }
            }));
        }
        match bins {
            None => add(&mut accs[0], integer, &ints, &floats, 0, floats.len()),
            Some((stride, len)) => {
                let mut i = 0usize;
                while i < floats.len() {
                    let index = at + i as u64;
                    let bin = ((index / stride) % len) as usize;
                    let run = (stride - index % stride).min((floats.len() - i) as u64) as usize;
                    add(&mut accs[bin], integer, &ints, &floats, i, i + run);
                    i += run;
                }
            }
        }
        (hooks.progress)(bytes.len() as u64);
        at += n;
    }
    Ok(accs)
}

fn add(acc: &mut Acc, integer: bool, ints: &[i128], floats: &[f64], from: usize, to: usize) {
    if integer {
        acc.add_ints(&ints[from..to], &floats[from..to]);
    } else {
        acc.add_floats(&floats[from..to]);
    }
}
