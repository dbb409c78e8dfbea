//! The common start of every new arrfile (`w+`, the streaming writer, zero-filled files):
//! a locked temporary sibling, then the prefix (header, metadata, padding) written to it.

use std::path::Path;

use arrfile_format::{Alignment, Attributes, Description, Header, PayloadChecksum, Prefix};

use crate::error::Error;
use crate::lock::LockWait;
use crate::temp::PendingFile;

/// How new files are made: the plain parameters that [`crate::Options`] hands to the
/// writers' constructors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NewFile {
    /// The payload alignment.
    pub(crate) alignment: Alignment,
    /// Whether the new file may replace an existing one at its path.
    pub(crate) overwrite: bool,
    /// Whether to wait for a writer of the file it replaces.
    pub(crate) wait: LockWait,
}

impl Default for NewFile {
    fn default() -> Self {
        NewFile { alignment: Alignment::PAGE, overwrite: true, wait: LockWait::NoWait }
    }
}

impl NewFile {
    /// Starts a new arrfile: its prefix written to a pending file (positioned at the start
    /// of the payload), with `checksum` in the header until the writer writes the final one.
    pub(crate) fn begin(
        self,
        path: &Path,
        description: Description,
        attributes: Option<&Attributes>,
        checksum: PayloadChecksum,
    ) -> Result<(PendingFile, Header), Error> {
        let prefix = Prefix::new(description, attributes, self.alignment)
            .map_err(|e| Error::new(path, e))?
            .with_checksum(checksum);
        let pending = PendingFile::create_waiting(path, self.overwrite, self.wait)?;
        std::io::Write::write_all(&mut pending.file(), &prefix.to_bytes())
            .map_err(|e| Error::io(path, "writing the header", e))?;
        Ok((pending, prefix.header().clone()))
    }
}
