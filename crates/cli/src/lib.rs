//! The library behind the `arrfile` command: everything the binary does, reachable by tests
//! and fuzzers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod npy;
