//! The state every open mode shares: the file, its lock, its validated header, its map.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrfile_format::{Attributes, Header};

use crate::error::Error;
use crate::fileio::{Others, open_locked, payload_len, read_validated};
use crate::lock::{LockKind, LockWait, lock};
use crate::payload::{MapMode, Payload};
use crate::recover::roll_back;

pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) header: Header,
    pub(crate) attributes: Option<Attributes>,
    pub(crate) payload: Payload,
}

impl Inner {
    /// Opens, locks, validates (R1–R25) and maps an existing file; `r+` first rolls back an
    /// interrupted append.
    pub(crate) fn open(path: &Path, mode: MapMode, wait: LockWait) -> Result<Inner, Error> {
        let writable = mode == MapMode::Shared;
        let kind = if writable { LockKind::Exclusive } else { LockKind::Shared };
        let file = open_locked(path, writable, |file| lock(file, path, kind, wait))?;
        // A writer's exclusive lock excludes everyone who writes; a reader's shared lock
        // excludes r+ writers, not appenders, whose header changes may be read mid-way.
        let others = if writable { Others::Nobody } else { Others::Appenders };
        let (mut header, attributes) = read_validated(&file, path, others)?;
        if writable && header.append_in_progress() {
            // No appender lives (it would hold a shared lock): one died. Roll its rows back
            // before opening, as `recover` does (spec §11, r+).
            roll_back(&file, path, &header)?;
            header = header.end_append();
        }
        // Readers map the committed array only: [0, data_offset + data_len), whatever an
        // append in progress has written after it.
        Inner::map(path, file, header, attributes, mode)
    }

    /// Maps the payload of a file whose header has been validated against its length.
    pub(crate) fn map(
        path: &Path,
        file: File,
        header: Header,
        attributes: Option<Attributes>,
        mode: MapMode,
    ) -> Result<Inner, Error> {
        let len = payload_len(&header, path)?;
        let payload = Payload::map(&file, header.data_offset(), len, mode)
            .map_err(|e| Error::io(path, "mapping the payload", e))?;
        Ok(Inner { path: path.to_owned(), file, header, attributes, payload })
    }
}

/// Implements [`crate::ReadArray`] for a type with an `inner: Inner` field.
macro_rules! read_array_via_inner {
    ($($ty:ty),*) => {$(
        impl $crate::array::ReadArray for $ty {
            fn path(&self) -> &std::path::Path {
                &self.inner.path
            }
            fn header(&self) -> &arrfile_format::Header {
                &self.inner.header
            }
            fn attributes(&self) -> Option<&arrfile_format::Attributes> {
                self.inner.attributes.as_ref()
            }
            fn as_bytes(&self) -> &[u8] {
                self.inner.payload.bytes()
            }
        }
    )*};
}
pub(crate) use read_array_via_inner;
