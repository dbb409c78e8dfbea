//! numpy's printing of arrays (`str(array)`, `numpy/_core/arrayprint.py`) with its default
//! options: `precision=8`, `floatmode='maxprec'`, `threshold=1000`, `edgeitems=3`,
//! `linewidth=75`, `suppress=False`; and the ml_dtypes types (bf16, fp8), which numpy
//! prints with their scalar `repr`: a C++ stream's 6 significant digits.

use crate::value::{FloatKind, Value};

/// numpy's `precision`.
const PRECISION: usize = 8;
/// numpy's `linewidth`.
pub(crate) const LINE_WIDTH: usize = 75;
/// numpy's `threshold`: arrays with more elements are summarised.
pub const THRESHOLD: u64 = 1000;
/// numpy's `edgeitems`: elements kept at each end of a summarised axis.
pub const EDGE_ITEMS: u64 = 3;

/// Significant digits `d1 d2 ...` and exponent `e` of `|v| = d1.d2... × 10^e`.
struct Sci {
    digits: Vec<u8>,
    exp: i32,
}

fn parse_sci(text: &str) -> Sci {
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    Sci { digits, exp: exp.parse().unwrap_or(0) }
}

/// The shortest digits that read back as `v` in `kind` (Dragon4's unique mode), for finite
/// non-negative `v`.
fn shortest(v: f64, kind: FloatKind) -> Sci {
    match kind {
        FloatKind::F64 => parse_sci(&format!("{v:e}")),
        FloatKind::F32 => parse_sci(&format!("{:e}", v as f32)),
        _ => {
            for precision in 0..17 {
                let text = format!("{v:.precision$e}");
                if kind.round_trips(text.parse().unwrap_or(f64::NAN), v) {
                    let mut sci = parse_sci(&text);
                    while sci.digits.len() > 1 && sci.digits.last() == Some(&b'0') {
                        sci.digits.pop();
                    }
                    return sci;
                }
            }
            parse_sci(&format!("{v:e}"))
        }
    }
}

fn sign_str(negative: bool, plus: bool) -> &'static str {
    if negative {
        "-"
    } else if plus {
        "+"
    } else {
        ""
    }
}

/// `dragon4_positional(v, precision, unique=True, fractional=True, trim='.')` split at the
/// point: the integer part with its sign, and the fractional digits (trailing zeros cut).
/// `precision` `None` means no cut-off (scalars).
fn positional(v: f64, kind: FloatKind, precision: Option<usize>, plus: bool) -> (String, String) {
    let sign = sign_str(v.is_sign_negative(), plus);
    let a = v.abs();
    let sci = shortest(a, kind);
    let frac_len = (sci.digits.len() as i64 - 1 - i64::from(sci.exp)).max(0) as usize;
    let (int, frac) = if a == 0.0 {
        ("0".to_owned(), String::new())
    } else if precision.is_none_or(|p| frac_len <= p) {
        let d = String::from_utf8_lossy(&sci.digits).into_owned();
        if sci.exp >= 0 {
            let point = sci.exp as usize + 1;
            if d.len() <= point {
                (format!("{d}{}", "0".repeat(point - d.len())), String::new())
            } else {
                (d[..point].to_owned(), d[point..].to_owned())
            }
        } else {
            ("0".to_owned(), format!("{}{d}", "0".repeat((-sci.exp - 1) as usize)))
        }
    } else {
        let p = precision.unwrap_or(0);
        let text = format!("{a:.p$}");
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        (int.to_owned(), frac.trim_end_matches('0').to_owned())
    };
    (format!("{sign}{int}"), frac)
}

/// `dragon4_scientific(v, precision, unique=True, trim='.')`: sign and first digit, the
/// other digits (trailing zeros cut), the decimal exponent.
fn scientific(
    v: f64,
    kind: FloatKind,
    precision: Option<usize>,
    plus: bool,
) -> (String, String, i32) {
    let sign = sign_str(v.is_sign_negative(), plus);
    let a = v.abs();
    let mut sci = if a == 0.0 { Sci { digits: vec![b'0'], exp: 0 } } else { shortest(a, kind) };
    if let Some(p) = precision
        && sci.digits.len() > p + 1
    {
        sci = parse_sci(&format!("{a:.p$e}"));
    }
    while sci.digits.len() > 1 && sci.digits.last() == Some(&b'0') {
        sci.digits.pop();
    }
    let first = char::from(sci.digits[0]);
    let rest = String::from_utf8_lossy(&sci.digits[1..]).into_owned();
    (format!("{sign}{first}"), rest, sci.exp)
}

fn exp_str(exp: i32, min_digits: usize) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("e{sign}{:0>min_digits$}", exp.unsigned_abs())
}

/// numpy's `FloatingFormat` for the values shown: one string per value, all of one width.
fn floating_strings(values: &[f64], kind: FloatKind, plus: bool) -> Vec<String> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let nonzero = finite.iter().filter(|v| **v != 0.0).map(|v| v.abs());
    let (min, max) = nonzero.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let exp_format = max > 0.0 && (max >= 1e8 || min < 1e-4 || max / min > 1000.0);
    let neginf = plus || values.contains(&f64::NEG_INFINITY);
    let mut pad_left;
    let pad_right;
    let mut out = Vec::with_capacity(values.len());
    if exp_format {
        let parts: Vec<(String, String, i32)> =
            finite.iter().map(|&v| scientific(v, kind, Some(PRECISION), plus)).collect();
        let precision = parts.iter().map(|p| p.1.len()).max().unwrap_or(0);
        let exp_size = parts.iter().map(|p| exp_str(p.2, 2).len() - 2).max().unwrap_or(0);
        pad_left = parts.iter().map(|p| p.0.len()).max().unwrap_or(0);
        pad_right = exp_size + 2 + precision;
        if finite.len() != values.len() {
            pad_left = pad_left.max(3usize.saturating_sub(pad_right + 1));
            pad_left = pad_left.max((3 + usize::from(neginf)).saturating_sub(pad_right + 1));
        }
        for &v in values {
            if v.is_finite() {
                // min_digits = precision: the digits past the unique ones are the exact
                // value's, rounded (numpy prints float16's 2**-23 as 1.19e-07, not 1.00e-07).
                let sci = parse_sci(&format!("{:.precision$e}", v.abs()));
                let int = format!(
                    "{}{}",
                    sign_str(v.is_sign_negative(), plus),
                    char::from(sci.digits[0])
                );
                let frac = String::from_utf8_lossy(&sci.digits[1..]).into_owned();
                let exp = sci.exp;
                out.push(format!("{int:>pad_left$}.{frac:0<precision$}{}", exp_str(exp, exp_size)));
            } else {
                out.push(non_finite(v, plus, pad_left + pad_right + 1));
            }
        }
        return out;
    }
    let parts: Vec<(String, String)> =
        finite.iter().map(|&v| positional(v, kind, Some(PRECISION), plus)).collect();
    pad_left = parts.iter().map(|p| p.0.len()).max().unwrap_or(0);
    pad_right = parts.iter().map(|p| p.1.len()).max().unwrap_or(0);
    if finite.len() != values.len() {
        pad_left = pad_left.max(3usize.saturating_sub(pad_right + 1));
        pad_left = pad_left.max((3 + usize::from(neginf)).saturating_sub(pad_right + 1));
    }
    let mut parts = parts.into_iter();
    for &v in values {
        match if v.is_finite() { parts.next() } else { None } {
            Some((int, frac)) => out.push(format!("{int:>pad_left$}.{frac:<pad_right$}")),
            None => out.push(non_finite(v, plus, pad_left + pad_right + 1)),
        }
    }
    out
}

fn non_finite(v: f64, plus: bool, width: usize) -> String {
    let text = if v.is_nan() {
        format!("{}nan", if plus { "+" } else { "" })
    } else {
        format!("{}inf", sign_str(v < 0.0, plus))
    };
    format!("{text:>width$}")
}

/// A C++ stream's default float output (`%g`, 6 significant digits): how ml_dtypes prints
/// bf16 and the fp8 types.
pub fn stream_g(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf".into() } else { "inf".into() };
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let a = v.abs();
    if a == 0.0 {
        return format!("{sign}0");
    }
    let sci = parse_sci(&format!("{a:.5e}"));
    if (-4..6).contains(&sci.exp) {
        let p = (5 - sci.exp) as usize;
        let text = format!("{a:.p$}");
        let text = if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            text
        };
        format!("{sign}{text}")
    } else {
        let mut digits = sci.digits;
        while digits.len() > 1 && digits.last() == Some(&b'0') {
            digits.pop();
        }
        let rest = String::from_utf8_lossy(&digits[1..]).into_owned();
        let dot = if rest.is_empty() { "" } else { "." };
        format!("{sign}{}{dot}{rest}{}", char::from(digits[0]), exp_str(sci.exp, 2))
    }
}

/// A float as numpy's scalar `str` prints it (`str(np.float32(0.1))` is `0.1`): shortest
/// digits, positional from 1e-4 to 1e16, else scientific. `trim_zero` keeps `1.0` (floats)
/// rather than `1` (the parts of a complex).
fn scalar_float(v: f64, kind: FloatKind, plus: bool, trim_zero: bool) -> String {
    if !kind.is_numpy_native() {
        return stream_g(v);
    }
    if !v.is_finite() {
        return non_finite(v, plus, 0);
    }
    let a = v.abs();
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        let (int, frac) = positional(v, kind, None, plus);
        match (frac.is_empty(), trim_zero) {
            (true, true) => format!("{int}.0"),
            (true, false) => int,
            _ => format!("{int}.{frac}"),
        }
    } else {
        let (int, frac, exp) = scientific(v, kind, None, plus);
        let dot = if frac.is_empty() { "" } else { "." };
        format!("{int}{dot}{frac}{}", exp_str(exp, 2))
    }
}

/// A 0-d array as `str(array)` prints it.
pub fn scalar_str(value: Value) -> String {
    match value {
        Value::Bool(b) => if b { "True" } else { "False" }.into(),
        Value::Int(v) => v.to_string(),
        Value::UInt(v) => v.to_string(),
        Value::Float(v, kind) => scalar_float(v, kind, false, true),
        Value::Complex(re, im, kind) => {
            let imag = scalar_float(im, kind, false, false);
            if re == 0.0 && !re.is_sign_negative() {
                format!("{imag}j")
            } else {
                let imag = scalar_float(im, kind, true, false);
                format!("({}{imag}j)", scalar_float(re, kind, false, false))
            }
        }
    }
}

/// The strings of the values shown, as numpy's format function for their dtype makes them
/// (`_get_format_function`): one width for all, except for the ml_dtypes types.
pub(crate) fn element_strings(values: &[Value]) -> Vec<String> {
    let Some(first) = values.first() else { return Vec::new() };
    match *first {
        Value::Bool(_) => values
            .iter()
            .map(|v| if matches!(v, Value::Bool(true)) { " True" } else { "False" }.into())
            .collect(),
        Value::Int(_) | Value::UInt(_) => {
            let texts: Vec<String> = values
                .iter()
                .map(|v| match v {
                    Value::Int(i) => i.to_string(),
                    Value::UInt(u) => u.to_string(),
                    other => other.to_f64().to_string(),
                })
                .collect();
            let width = texts.iter().map(String::len).max().unwrap_or(0);
            texts.into_iter().map(|t| format!("{t:>width$}")).collect()
        }
        Value::Float(_, kind) => {
            let floats: Vec<f64> = values.iter().map(|v| v.to_f64()).collect();
            if kind.is_numpy_native() {
                floating_strings(&floats, kind, false)
            } else {
                floats.into_iter().map(stream_g).collect()
            }
        }
        Value::Complex(_, _, kind) => {
            let (re, im): (Vec<f64>, Vec<f64>) = values
                .iter()
                .map(|v| match *v {
                    Value::Complex(r, i, _) => (r, i),
                    other => (other.to_f64(), 0.0),
                })
                .unzip();
            let re = floating_strings(&re, kind, false);
            let im = floating_strings(&im, kind, true);
            re.into_iter()
                .zip(im)
                .map(|(r, i)| {
                    let end = i.trim_end().len();
                    format!("{r}{}j{}", &i[..end], &i[end..])
                })
                .collect()
        }
    }
}

/// numpy's `_formatArray` with separator `' '` (`str`), over the dense array of shown
/// elements: `shown[k]` elements along axis `k`, of which the first `EDGE_ITEMS` and the
/// last `EDGE_ITEMS` when `elided[k]`.
pub(crate) fn format_array(strings: &[String], shown: &[usize], elided: &[bool]) -> String {
    fn extend(s: &mut String, line: &mut String, word: &str, width: usize, prefix: &str) {
        let mut wrap = line.len() + word.len() > width;
        if line.len() <= prefix.len() {
            wrap = false;
        }
        if wrap {
            s.push_str(line.trim_end());
            s.push('\n');
            *line = prefix.to_owned();
        }
        line.push_str(word);
    }
    fn rec(
        strings: &[String],
        shown: &[usize],
        elided: &[bool],
        base: usize,
        indent: &str,
        width: usize,
    ) -> String {
        let Some((&len, rest)) = shown.split_first() else {
            return strings.get(base).cloned().unwrap_or_default();
        };
        let block: usize = rest.iter().product();
        let next_indent = format!("{indent} ");
        let next_width = width.saturating_sub(1);
        let summary = elided[0];
        let lead = if summary { len / 2 } else { 0 };
        let mut s = String::new();
        let child =
            |i: usize| rec(strings, rest, &elided[1..], base + i * block, &next_indent, next_width);
        if rest.is_empty() {
            let elem_width = width.saturating_sub(1);
            let mut line = indent.to_owned();
            for i in 0..lead {
                extend(&mut s, &mut line, &child(i), elem_width, indent);
                line.push(' ');
            }
            if summary {
                extend(&mut s, &mut line, "...", elem_width, indent);
                line.push(' ');
            }
            for i in lead..len.saturating_sub(1) {
                extend(&mut s, &mut line, &child(i), elem_width, indent);
                line.push(' ');
            }
            if len > 0 {
                extend(&mut s, &mut line, &child(len - 1), elem_width, indent);
            }
            s.push_str(&line);
        } else {
            let line_sep = "\n".repeat(rest.len());
            for i in 0..lead {
                s.push_str(indent);
                s.push_str(&child(i));
                s.push_str(&line_sep);
            }
            if summary {
                s.push_str(indent);
                s.push_str("...");
                s.push_str(&line_sep);
            }
            for i in lead..len.saturating_sub(1) {
                s.push_str(indent);
                s.push_str(&child(i));
                s.push_str(&line_sep);
            }
            if len > 0 {
                s.push_str(indent);
                s.push_str(&child(len - 1));
            }
        }
        format!("[{}]", s.get(indent.len()..).unwrap_or(""))
    }
    rec(strings, shown, elided, 0, " ", LINE_WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64s(values: &[f64]) -> Vec<Value> {
        values.iter().map(|&v| Value::Float(v, FloatKind::F64)).collect()
    }

    fn show(values: Vec<Value>) -> String {
        let n = values.len();
        format_array(&element_strings(&values), &[n], &[false])
    }

    #[test]
    fn floats_as_numpy() {
        assert_eq!(show(f64s(&[1.5, 2.25, 3.0])), "[1.5  2.25 3.  ]");
        assert_eq!(show(f64s(&[1e10, 2e10])), "[1.e+10 2.e+10]");
        assert_eq!(show(f64s(&[2f64.powi(-9), 0.5])), "[0.00195312 0.5       ]");
        assert_eq!(show(f64s(&[-0.0])), "[-0.]");
        assert_eq!(show(f64s(&[f64::NAN, f64::NEG_INFINITY])), "[ nan -inf]");
        let c = vec![
            Value::Complex(1.0, 2.0, FloatKind::F64),
            Value::Complex(f64::NAN, -3.5, FloatKind::F64),
            Value::Complex(0.0, 0.0, FloatKind::F64),
        ];
        assert_eq!(show(c), "[ 1.+2.j  nan-3.5j  0.+0.j ]");
    }

    #[test]
    fn scalars_as_numpy() {
        assert_eq!(scalar_str(Value::Float(1.5, FloatKind::F64)), "1.5");
        assert_eq!(scalar_str(Value::Float(1e16, FloatKind::F64)), "1e+16");
        assert_eq!(scalar_str(Value::Float(1.0, FloatKind::F64)), "1.0");
        assert_eq!(scalar_str(Value::Complex(0.0, 2.0, FloatKind::F32)), "2j");
        assert_eq!(scalar_str(Value::Complex(1.5, 2.0, FloatKind::F64)), "(1.5+2j)");
        assert_eq!(stream_g(f64::from(half::bf16::from_f32(0.1))), "0.100098");
        assert_eq!(stream_g(192.0), "192");
    }
}
