//! The partition's `recovery-point` checkpoint file.
//!
//! It records the *recovery point*: an offset such that every segment with a smaller
//! base offset was fsynced, with trimmed indexes, before the file was written. Only
//! segments at or after it are scanned on open. It also records whether the log was
//! closed cleanly, in which case the recovery point is the log end and nothing is
//! scanned. The file is small text, replaced with [`write_file_atomically`]:
//!
//! ```text
//! rill-checkpoint 1
//! recovery_point=42
//! clean=true
//! ```

use std::path::Path;

use crate::durable::write_file_atomically;
use crate::error::Result;

/// Name of the checkpoint file inside a partition directory.
pub const CHECKPOINT_FILE: &str = "recovery-point";

/// The checkpoint's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub recovery_point: i64,
    pub clean: bool,
}

/// Reads the checkpoint. `Ok(None)` when there is none; `Err` with a reason when the
/// file exists but cannot be trusted (the caller then scans everything).
pub(crate) fn read(dir: &Path) -> Result<Option<Checkpoint>, String> {
    let path = dir.join(CHECKPOINT_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut lines = text.lines();
    if lines.next() != Some("rill-checkpoint 1") {
        return Err(format!(
            "{} does not start with 'rill-checkpoint 1'",
            path.display()
        ));
    }
    let mut recovery_point = None;
    let mut clean = None;
    for line in lines {
        match line.split_once('=') {
            Some(("recovery_point", v)) => recovery_point = v.parse::<i64>().ok(),
            Some(("clean", v)) => clean = v.parse::<bool>().ok(),
            _ => return Err(format!("{}: unexpected line {line:?}", path.display())),
        }
    }
    match (recovery_point, clean) {
        (Some(recovery_point), Some(clean)) => Ok(Some(Checkpoint {
            recovery_point,
            clean,
        })),
        _ => Err(format!("{}: missing or invalid field", path.display())),
    }
}

/// Replaces the checkpoint atomically and durably.
pub(crate) fn write(dir: &Path, checkpoint: Checkpoint) -> Result<()> {
    let text = format!(
        "rill-checkpoint 1\nrecovery_point={}\nclean={}\n",
        checkpoint.recovery_point, checkpoint.clean
    );
    write_file_atomically(dir, CHECKPOINT_FILE, text.as_bytes())
}
