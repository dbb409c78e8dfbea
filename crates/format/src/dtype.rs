//! The closed table of element types (spec §4).

use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An element type from the spec's closed table (§4).
///
/// ```
/// use arrfile_format::Dtype;
/// let dtype: Dtype = "float32".parse().unwrap();
/// assert_eq!(dtype, Dtype::F32);
/// assert_eq!(dtype.itemsize(), 4);
/// assert_eq!(dtype.name(), "f32");
/// assert_eq!(Dtype::from_code(12), Some(Dtype::F32));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Dtype {
    /// Boolean, one byte: `0x00` or `0x01`.
    Bool,
    /// Signed 8-bit integer.
    I8,
    /// Signed 16-bit integer.
    I16,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16: the upper half of a binary32.
    BF16,
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary64.
    F64,
    /// Complex of two binary32, real part first.
    C64,
    /// Complex of two binary64, real part first.
    C128,
    /// OCP FP8 E4M3 (finite, no infinities).
    F8E4M3FN,
    /// OCP FP8 E5M2.
    F8E5M2,
}

/// One row of the spec's dtype table.
struct Row {
    dtype: Dtype,
    code: u16,
    name: &'static str,
    itemsize: u8,
    numpy: Option<&'static str>,
    safetensors: Option<&'static str>,
    aliases: &'static [&'static str],
}

const TABLE: [Row; 17] = [
    row(Dtype::Bool, 1, "bool", 1, Some("b1"), Some("BOOL"), &["bool_", "b1", "?"]),
    row(Dtype::I8, 2, "i8", 1, Some("i1"), Some("I8"), &["int8", "i1", "b"]),
    row(Dtype::I16, 3, "i16", 2, Some("i2"), Some("I16"), &["int16", "i2", "h"]),
    row(Dtype::I32, 4, "i32", 4, Some("i4"), Some("I32"), &["int32", "i4", "i"]),
    row(Dtype::I64, 5, "i64", 8, Some("i8"), Some("I64"), &["int64", "q", "l"]),
    row(Dtype::U8, 6, "u8", 1, Some("u1"), Some("U8"), &["uint8", "u1", "B"]),
    row(Dtype::U16, 7, "u16", 2, Some("u2"), Some("U16"), &["uint16", "u2", "H"]),
    row(Dtype::U32, 8, "u32", 4, Some("u4"), Some("U32"), &["uint32", "u4", "I"]),
    row(Dtype::U64, 9, "u64", 8, Some("u8"), Some("U64"), &["uint64", "Q", "L"]),
    row(Dtype::F16, 10, "f16", 2, Some("f2"), Some("F16"), &["float16", "half", "f2", "e"]),
    row(Dtype::BF16, 11, "bf16", 2, None, Some("BF16"), &["bfloat16"]),
    row(Dtype::F32, 12, "f32", 4, Some("f4"), Some("F32"), &["float32", "single", "f4", "f"]),
    row(
        Dtype::F64,
        13,
        "f64",
        8,
        Some("f8"),
        Some("F64"),
        &["float64", "double", "f8", "d", "float"],
    ),
    row(Dtype::C64, 14, "c64", 8, Some("c8"), Some("C64"), &["complex64", "c8", "F"]),
    row(Dtype::C128, 15, "c128", 16, Some("c16"), None, &["complex128", "c16", "D", "complex"]),
    row(
        Dtype::F8E4M3FN,
        16,
        "f8_e4m3fn",
        1,
        None,
        Some("F8_E4M3"),
        &["float8_e4m3fn", "e4m3fn", "f8e4m3fn"],
    ),
    row(Dtype::F8E5M2, 17, "f8_e5m2", 1, None, Some("F8_E5M2"), &["float8_e5m2", "e5m2", "f8e5m2"]),
];

#[allow(clippy::too_many_arguments)]
const fn row(
    dtype: Dtype,
    code: u16,
    name: &'static str,
    itemsize: u8,
    numpy: Option<&'static str>,
    safetensors: Option<&'static str>,
    aliases: &'static [&'static str],
) -> Row {
    Row { dtype, code, name, itemsize, numpy, safetensors, aliases }
}

impl Dtype {
    /// Every dtype of the table, in code order.
    pub const ALL: [Dtype; 17] = [
        Dtype::Bool,
        Dtype::I8,
        Dtype::I16,
        Dtype::I32,
        Dtype::I64,
        Dtype::U8,
        Dtype::U16,
        Dtype::U32,
        Dtype::U64,
        Dtype::F16,
        Dtype::BF16,
        Dtype::F32,
        Dtype::F64,
        Dtype::C64,
        Dtype::C128,
        Dtype::F8E4M3FN,
        Dtype::F8E5M2,
    ];

    fn row(self) -> &'static Row {
        // The table is in the same order as `ALL`, and `ALL` lists every variant.
        let index = self as usize;
        &TABLE[index]
    }

    /// The dtype with this code, or `None` for a code the spec does not define.
    pub fn from_code(code: u16) -> Option<Dtype> {
        TABLE.iter().find(|row| row.code == code).map(|row| row.dtype)
    }

    /// The dtype's code in the header (§4).
    pub fn code(self) -> u16 {
        self.row().code
    }

    /// The canonical name: `f32`, `bf16`, `f8_e4m3fn`, ...
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// Bytes per element.
    pub fn itemsize(self) -> usize {
        usize::from(self.row().itemsize)
    }

    /// Bytes per byte-order unit: the component size for complex types, else the itemsize.
    /// Swapping byte order reverses each unit of this size.
    pub fn swap_unit(self) -> usize {
        match self {
            Dtype::C64 | Dtype::C128 => self.itemsize() / 2,
            _ => self.itemsize(),
        }
    }

    /// Whether byte order means anything for this dtype: not for one-byte types (`bool`,
    /// `u8`, `i8`, the fp8 types), whose bytes read the same in either order.
    pub fn has_byte_order(self) -> bool {
        self.swap_unit() > 1
    }

    /// numpy's `descr` for this dtype in the given byte order (`<f4`, `>i2`, `|u1`), or
    /// `None` for types numpy has no native descr for (bf16 and the fp8 types).
    pub fn numpy_descr(self, byte_order: crate::ByteOrder) -> Option<String> {
        let body = self.row().numpy?;
        let prefix = if self.itemsize() == 1 {
            '|'
        } else {
            match byte_order {
                crate::ByteOrder::Little => '<',
                crate::ByteOrder::Big => '>',
            }
        };
        Some(format!("{prefix}{body}"))
    }

    /// The safetensors dtype name, where safetensors has one.
    pub fn safetensors_name(self) -> Option<&'static str> {
        self.row().safetensors
    }

    /// Looks a name up: the canonical names, numpy's names and type codes (`float32`, `f4`,
    /// `<f4`, `>i2`, `|u1`), and the safetensors names (`F32`).
    ///
    /// A spelling with a byte-order prefix is read as numpy's type string, so `<i8` is int64
    /// while the bare `i8` is the spec's int8.
    ///
    /// Returns the dtype and the byte order the spelling implies, if it implies one (`<` or
    /// `>`; `=` means the host's, `|` none).
    ///
    /// ```
    /// use arrfile_format::{ByteOrder, Dtype};
    /// assert_eq!(Dtype::lookup(">f8"), Some((Dtype::F64, Some(ByteOrder::Big))));
    /// assert_eq!(Dtype::lookup("bfloat16"), Some((Dtype::BF16, None)));
    /// assert_eq!(Dtype::lookup("object"), None);
    /// ```
    pub fn lookup(spelling: &str) -> Option<(Dtype, Option<crate::ByteOrder>)> {
        let (byte_order, body) = match spelling.as_bytes().first() {
            Some(b'<') => (Some(crate::ByteOrder::Little), &spelling[1..]),
            Some(b'>') => (Some(crate::ByteOrder::Big), &spelling[1..]),
            Some(b'=') => (Some(crate::ByteOrder::NATIVE), &spelling[1..]),
            Some(b'|') => (None, &spelling[1..]),
            _ => (None, spelling),
        };
        let has_prefix = body.len() != spelling.len();
        // With a byte-order prefix the spelling is numpy's type string, where `i8` and `u8`
        // mean 8-*byte* integers; without one, the spec's names come first (`i8` is int8).
        let dtype = if has_prefix {
            TABLE.iter().find(|row| row.numpy == Some(body)).map(|row| row.dtype)?
        } else {
            let by_name = TABLE.iter().find(|row| row.name == body);
            let by_other = || {
                TABLE.iter().find(|row| {
                    row.numpy == Some(body)
                        || row.safetensors == Some(body)
                        || row.aliases.contains(&body)
                })
            };
            by_name.or_else(by_other).map(|row| row.dtype)?
        };
        Some((dtype, byte_order))
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing a dtype name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown dtype {name:?}; expected one of bool, i8, i16, i32, i64, u8, u16, u32, u64, f16, bf16, f32, f64, c64, c128, f8_e4m3fn, f8_e5m2 (or a numpy spelling such as float32 or <f4)"
)]
pub struct UnknownDtypeName {
    /// The name that was given.
    pub name: String,
}

impl FromStr for Dtype {
    type Err = UnknownDtypeName;

    /// Parses any spelling [`Dtype::lookup`] accepts, ignoring the byte order it implies.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dtype::lookup(s)
            .map(|(dtype, _)| dtype)
            .ok_or_else(|| UnknownDtypeName { name: s.to_owned() })
    }
}

impl Serialize for Dtype {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Dtype {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        TABLE
            .iter()
            .find(|row| row.name == name)
            .map(|row| row.dtype)
            .ok_or_else(|| serde::de::Error::custom(UnknownDtypeName { name }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_variant_order_and_codes_are_dense() {
        for (index, dtype) in Dtype::ALL.iter().enumerate() {
            assert_eq!(TABLE[index].dtype, *dtype);
            assert_eq!(usize::from(dtype.code()), index + 1);
            assert_eq!(Dtype::from_code(dtype.code()), Some(*dtype));
            assert_eq!(dtype.name().parse::<Dtype>(), Ok(*dtype));
        }
        assert_eq!(Dtype::from_code(0), None);
        assert_eq!(Dtype::from_code(18), None);
    }

    #[test]
    fn numpy_spellings() {
        use crate::ByteOrder::*;
        assert_eq!(Dtype::lookup("<f4"), Some((Dtype::F32, Some(Little))));
        assert_eq!(Dtype::lookup("f4"), Some((Dtype::F32, None)));
        assert_eq!(Dtype::lookup("float32"), Some((Dtype::F32, None)));
        assert_eq!(Dtype::lookup("|b1"), Some((Dtype::Bool, None)));
        assert_eq!(Dtype::lookup("<i8"), Some((Dtype::I64, Some(Little))));
        assert_eq!(Dtype::lookup("i8"), Some((Dtype::I8, None)));
        assert_eq!(Dtype::lookup(">u8"), Some((Dtype::U64, Some(Big))));
        assert_eq!(Dtype::lookup("int64"), Some((Dtype::I64, None)));
        assert_eq!(Dtype::lookup("<bf16"), None);
        assert_eq!(Dtype::lookup(">c16"), Some((Dtype::C128, Some(Big))));
        assert_eq!(Dtype::I64.numpy_descr(Big).as_deref(), Some(">i8"));
        assert_eq!(Dtype::U8.numpy_descr(Big).as_deref(), Some("|u1"));
        assert_eq!(Dtype::BF16.numpy_descr(Little), None);
        assert!("O".parse::<Dtype>().is_err());
        assert!("<U10".parse::<Dtype>().is_err());
    }
}
