//! The broker's own small files (a topic's `topic.toml`, the producer-id
//! reservation) and the directories that hold them, made durable through the
//! storage crate's one atomic-replace routine.

use std::path::Path;

use crate::error::{io, Error, Result};

/// Replaces `dir/name` with `bytes` atomically and durably (see
/// [`rill_storage::write_file_atomically`]): after a crash the file holds its old
/// content or its new content.
pub(crate) fn save_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    rill_storage::write_file_atomically(dir, name, bytes).map_err(|source| Error::SaveFile {
        path: dir.join(name),
        source,
    })
}

/// Fsyncs a directory so that creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let handle = io(std::fs::File::open(dir), "open dir", dir)?;
    io(handle.sync_all(), "fsync dir", dir)
}
