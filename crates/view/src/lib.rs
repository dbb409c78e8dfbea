#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod diff;
mod error;
mod format;
mod hooks;
mod preview;
mod show;
mod slice;
mod source;
mod stats;
mod value;

pub use diff::{DEFAULT_ATOL, DEFAULT_RTOL, DiffReport, Difference, Tolerance, diff};
pub use error::{Error, ErrorKind};
pub use format::{EDGE_ITEMS, THRESHOLD, scalar_str, stream_g};
pub use hooks::Hooks;
pub use preview::{
    Colormap, Image, NAN_COLOUR, PreviewOptions, PreviewReport, Reduce, preview, render, write_png,
};
pub use show::{MAX_SHOWN, Shown, gather, show, show_json};
pub use slice::{Selection, SliceError, SliceItem, parse_slice, strides};
pub use source::Source;
pub use stats::{BLOCK, Number, Stats, Summary, resolve_axis, stats};
pub use value::{FloatKind, Value, decode, f8_e4m3fn_to_f64, f8_e5m2_to_f64};
