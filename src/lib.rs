#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The format: header types, parsing and serialisation over byte slices (`arrfile-format`).
pub use arrfile_format as format;
/// Files: open, validate, map, create, stream, verify (`arrfile-mmap`).
pub use arrfile_mmap as mmap;
/// numpy's `.npy`: the header codec and whole-file conversion both ways (`arrfile-npy`).
pub use arrfile_npy as npy;

pub use arrfile_format::{
    Attributes, ByteOrder, ChecksumState, Description, Dtype, Header, Order, ParseError,
    ParseErrorKind, Verification,
};
pub use arrfile_mmap::{
    Appender, ArrayFile, ArrayFileCow, ArrayFileMut, Element, Error, ErrorKind, LockWait,
    NewArrayFile, Options, ReadArray, Recovery, StreamWriter, WriteArray, append, create, open,
    open_copy, open_mut, recover, verify_file,
};
