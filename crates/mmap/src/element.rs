//! Rust types that can view payload elements in place.

use arrfile_format::Dtype;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

mod sealed {
    pub trait Sealed {}
}

/// A Rust type with exactly the layout of one dtype's elements in the host's byte order.
///
/// Implemented for the integer and float primitives, [`half::f16`], [`half::bf16`], and
/// `[f32; 2]` / `[f64; 2]` for `c64` / `c128` (real, imaginary). `bool` and the fp8 types are
/// read through [`crate::ReadArray::to_bools`] and [`crate::ReadArray::as_bytes`].
pub trait Element:
    FromBytes + IntoBytes + Immutable + KnownLayout + Copy + Send + Sync + 'static + sealed::Sealed
{
    /// The dtype this type views.
    const DTYPE: Dtype;
}

macro_rules! elements {
    ($($ty:ty => $dtype:ident),* $(,)?) => {$(
        impl sealed::Sealed for $ty {}
        impl Element for $ty {
            const DTYPE: Dtype = Dtype::$dtype;
        }
    )*};
}

elements! {
    i8 => I8, i16 => I16, i32 => I32, i64 => I64,
    u8 => U8, u16 => U16, u32 => U32, u64 => U64,
    half::f16 => F16, half::bf16 => BF16, f32 => F32, f64 => F64,
    [f32; 2] => C64, [f64; 2] => C128,
}
