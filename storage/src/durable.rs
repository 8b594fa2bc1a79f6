//! Making small files and directory changes durable.
//!
//! A file created, renamed or deleted is only sure to survive a crash once its
//! directory has been fsynced too, and a file rewritten in place can be left half
//! written. [`write_file_atomically`] replaces a small file so that after a crash it
//! holds either the old bytes or the new ones, never a mix, and [`sync_dir`] makes a
//! directory's entries durable. Both are public so the broker keeps its own small
//! files (topic metadata, producer-id reservations) the same way.

use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, Result};

/// Replaces `dir/name` with `bytes` atomically and durably: writes `dir/name.tmp`,
/// fsyncs it, renames it over `dir/name`, then fsyncs `dir`. A crash at any point
/// leaves `dir/name` with its old content or its new content; a leftover
/// `name.tmp` is overwritten by the next call.
pub fn write_file_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let mut file = std::fs::File::create(&tmp).io("create", &tmp)?;
    file.write_all(bytes).io("write", &tmp)?;
    file.sync_all().io("fsync", &tmp)?;
    std::fs::rename(&tmp, &path).io("rename into place", &path)?;
    sync_dir(dir)
}

/// Fsyncs a directory so that file creations, renames and deletions in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .io("fsync directory", dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_file_atomically(dir.path(), "state", b"first").expect("create");
        write_file_atomically(dir.path(), "state", b"second, longer").expect("replace");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["state"]);
        let bytes = std::fs::read(dir.path().join("state")).expect("read");
        assert_eq!(bytes, b"second, longer");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("gone");
        let err = write_file_atomically(&missing, "state", b"x").expect_err("no directory");
        assert!(err.to_string().contains("state.tmp"), "{err}");
    }
}
