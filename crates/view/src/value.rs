//! Decoding elements: every dtype of the spec's table, either byte order, to a [`Value`].

use arrfile_format::{ByteOrder, Dtype};

/// How a floating-point value was stored, which decides how numpy prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatKind {
    /// IEEE binary16.
    F16,
    /// bfloat16 (ml_dtypes).
    BF16,
    /// IEEE binary32.
    F32,
    /// IEEE binary64.
    F64,
    /// OCP FP8 E4M3, finite only (ml_dtypes `float8_e4m3fn`).
    F8E4M3FN,
    /// OCP FP8 E5M2 (ml_dtypes `float8_e5m2`).
    F8E5M2,
}

impl FloatKind {
    /// True for the types numpy knows natively (printed with numpy's Dragon4 rules); false
    /// for the ml_dtypes ones (printed as C++ streams print a float: 6 significant digits).
    pub fn is_numpy_native(self) -> bool {
        matches!(self, FloatKind::F16 | FloatKind::F32 | FloatKind::F64)
    }

    /// Whether `candidate` rounds to exactly `value` in this type (round to nearest even).
    pub(crate) fn round_trips(self, candidate: f64, value: f64) -> bool {
        match self {
            FloatKind::F64 => candidate == value,
            FloatKind::F32 => (candidate as f32) as f64 == value,
            FloatKind::F16 => half::f16::from_f64(candidate).to_f64() == value,
            FloatKind::BF16 => half::bf16::from_f64(candidate).to_f64() == value,
            // Never asked: the fp8 types print with a fixed number of digits.
            FloatKind::F8E4M3FN | FloatKind::F8E5M2 => candidate == value,
        }
    }
}

/// One element, decoded to the host's byte order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// `bool`: any non-zero byte is `true`, as numpy reads it.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A real floating-point value, exactly (every dtype's values are exact in `f64`).
    Float(f64, FloatKind),
    /// A complex value: real and imaginary parts.
    Complex(f64, f64, FloatKind),
}

impl Value {
    /// The value as an `f64` (the real part for complex; `i64`/`u64` beyond 2^53 rounded).
    pub fn to_f64(self) -> f64 {
        match self {
            Value::Bool(b) => f64::from(u8::from(b)),
            Value::Int(v) => v as f64,
            Value::UInt(v) => v as f64,
            Value::Float(v, _) | Value::Complex(v, _, _) => v,
        }
    }
}

/// Decodes an OCP FP8 E4M3FN byte (bias 7, no infinities, `S.1111.111` is NaN).
pub fn f8_e4m3fn_to_f64(byte: u8) -> f64 {
    let sign = if byte & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((byte >> 3) & 0x0f);
    let man = f64::from(byte & 0x07);
    if exp == 0x0f && byte & 0x07 == 0x07 {
        return f64::NAN;
    }
    if exp == 0 {
        sign * man / 8.0 * 2f64.powi(-6)
    } else {
        sign * (1.0 + man / 8.0) * 2f64.powi(exp - 7)
    }
}

/// Decodes an OCP FP8 E5M2 byte (bias 15, IEEE-like: infinities and NaNs).
pub fn f8_e5m2_to_f64(byte: u8) -> f64 {
    // E5M2 is the upper byte of a binary16.
    half::f16::from_bits(u16::from(byte) << 8).to_f64()
}

/// Reads one element from its `itemsize` bytes.
///
/// # Panics
/// Never for `bytes.len() >= dtype.itemsize()`; callers slice exactly.
pub fn decode(dtype: Dtype, byte_order: ByteOrder, bytes: &[u8]) -> Value {
    let big = byte_order == ByteOrder::Big;
    macro_rules! num {
        ($t:ty, $b:expr) => {{
            let mut a = [0u8; size_of::<$t>()];
            a.copy_from_slice(&$b[..size_of::<$t>()]);
            if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }
        }};
    }
    match dtype {
        Dtype::Bool => Value::Bool(bytes[0] != 0),
        Dtype::I8 => Value::Int(i64::from(num!(i8, bytes))),
        Dtype::I16 => Value::Int(i64::from(num!(i16, bytes))),
        Dtype::I32 => Value::Int(i64::from(num!(i32, bytes))),
        Dtype::I64 => Value::Int(num!(i64, bytes)),
        Dtype::U8 => Value::UInt(u64::from(bytes[0])),
        Dtype::U16 => Value::UInt(u64::from(num!(u16, bytes))),
        Dtype::U32 => Value::UInt(u64::from(num!(u32, bytes))),
        Dtype::U64 => Value::UInt(num!(u64, bytes)),
        Dtype::F16 => Value::Float(half::f16::from_bits(num!(u16, bytes)).to_f64(), FloatKind::F16),
        Dtype::BF16 => {
            Value::Float(half::bf16::from_bits(num!(u16, bytes)).to_f64(), FloatKind::BF16)
        }
        Dtype::F32 => Value::Float(f64::from(num!(f32, bytes)), FloatKind::F32),
        Dtype::F64 => Value::Float(num!(f64, bytes), FloatKind::F64),
        Dtype::C64 => Value::Complex(
            f64::from(num!(f32, bytes)),
            f64::from(num!(f32, bytes[4..])),
            FloatKind::F32,
        ),
        Dtype::C128 => Value::Complex(num!(f64, bytes), num!(f64, bytes[8..]), FloatKind::F64),
        Dtype::F8E4M3FN => Value::Float(f8_e4m3fn_to_f64(bytes[0]), FloatKind::F8E4M3FN),
        Dtype::F8E5M2 => Value::Float(f8_e5m2_to_f64(bytes[0]), FloatKind::F8E5M2),
        // A dtype added by a later minor version: shown as its raw bytes would be wrong, so
        // as NaN; the format crate refuses unknown codes before this is reached.
        _ => Value::Float(f64::NAN, FloatKind::F64),
    }
}

/// Decodes `bytes` (whole elements of a real dtype) to `f64`s, appending to `out`.
/// Complex dtypes give their real parts; callers that need both use [`decode`].
pub(crate) fn decode_f64s(dtype: Dtype, byte_order: ByteOrder, bytes: &[u8], out: &mut Vec<f64>) {
    let big = byte_order == ByteOrder::Big;
    macro_rules! run {
        ($t:ty, $conv:expr) => {{
            out.extend(bytes.chunks_exact(size_of::<$t>()).map(|c| {
                let mut a = [0u8; size_of::<$t>()];
                a.copy_from_slice(c);
                let v = if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) };
                #[allow(clippy::redundant_closure_call)]
                ($conv)(v)
            }))
        }};
    }
    match dtype {
        Dtype::F32 => run!(f32, f64::from),
        Dtype::F64 => run!(f64, |v| v),
        Dtype::F16 => run!(u16, |v| half::f16::from_bits(v).to_f64()),
        Dtype::BF16 => run!(u16, |v| half::bf16::from_bits(v).to_f64()),
        Dtype::I8 => run!(i8, f64::from),
        Dtype::I16 => run!(i16, f64::from),
        Dtype::I32 => run!(i32, f64::from),
        Dtype::U8 => run!(u8, f64::from),
        Dtype::U16 => run!(u16, f64::from),
        Dtype::U32 => run!(u32, f64::from),
        Dtype::Bool => out.extend(bytes.iter().map(|&b| f64::from(u8::from(b != 0)))),
        Dtype::F8E4M3FN => out.extend(bytes.iter().map(|&b| f8_e4m3fn_to_f64(b))),
        Dtype::F8E5M2 => out.extend(bytes.iter().map(|&b| f8_e5m2_to_f64(b))),
        _ => {
            let size = dtype.itemsize();
            out.extend(bytes.chunks_exact(size).map(|c| decode(dtype, byte_order, c).to_f64()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp8_tables() {
        assert_eq!(f8_e4m3fn_to_f64(0x7e), 448.0);
        assert!(f8_e4m3fn_to_f64(0x7f).is_nan());
        assert!(f8_e4m3fn_to_f64(0xff).is_nan());
        assert_eq!(f8_e4m3fn_to_f64(0x01), 2f64.powi(-9));
        assert_eq!(f8_e4m3fn_to_f64(0x38), 1.0);
        assert_eq!(f8_e5m2_to_f64(0x3c), 1.0);
        assert_eq!(f8_e5m2_to_f64(0x7b), 57344.0);
        assert_eq!(f8_e5m2_to_f64(0xfc), f64::NEG_INFINITY);
        assert!(f8_e5m2_to_f64(0x7d).is_nan());
    }

    #[test]
    fn byte_orders() {
        assert_eq!(decode(Dtype::I16, ByteOrder::Big, &[0x01, 0x02]), Value::Int(0x0102));
        assert_eq!(decode(Dtype::I16, ByteOrder::Little, &[0x01, 0x02]), Value::Int(0x0201));
        let c = decode(Dtype::C64, ByteOrder::Big, &[0x3f, 0x80, 0, 0, 0x40, 0, 0, 0]);
        assert_eq!(c, Value::Complex(1.0, 2.0, FloatKind::F32));
    }
}
