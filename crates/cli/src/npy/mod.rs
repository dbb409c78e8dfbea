//! .npy support (in progress).
