//! Producer ids for idempotent producers: unique on this broker, across restarts.
//!
//! Ids are handed out from blocks of [`BLOCK`]. Before the first id of a block is
//! given out, the block's end is written to `<data_dir>/producer-ids` (temporary
//! file, fsync, rename, directory fsync), so after a crash the broker resumes past
//! every id it may have issued. An id at or above the next unissued one was never
//! given out, which lets Produce refuse invented ids.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::files::save_file;
use crate::locks;

/// Ids reserved on disk at a time.
pub const BLOCK: i64 = 1000;
const FILE: &str = "producer-ids";

#[derive(Debug)]
struct State {
    next: i64,
    reserved_end: i64,
}

/// Allocates producer ids.
#[derive(Debug)]
pub struct ProducerIds {
    dir: PathBuf,
    state: Mutex<State>,
    /// `state.next`, readable without the lock: Produce checks it for every
    /// idempotent batch, while `allocate` may hold the lock through an fsync.
    next: AtomicI64,
}

impl ProducerIds {
    /// Reads the reservation file in `data_dir` (none: start at 0). Blocking.
    pub fn open(data_dir: &Path) -> Result<ProducerIds> {
        let path = data_dir.join(FILE);
        let next = match std::fs::read_to_string(&path) {
            Ok(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| Error::TopicMetadata {
                    path: path.clone(),
                    reason: format!("expected a non-negative integer, found {:?}", text.trim()),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(source) => {
                return Err(Error::Io {
                    op: "read",
                    path,
                    source,
                })
            }
        };
        Ok(ProducerIds {
            dir: data_dir.to_path_buf(),
            state: Mutex::new(State {
                next,
                reserved_end: next,
            }),
            next: AtomicI64::new(next),
        })
    }

    /// A new producer id. Blocking (may write the reservation file).
    pub fn allocate(&self) -> Result<i64> {
        let mut state = self.lock();
        if state.next >= state.reserved_end {
            let end =
                state
                    .reserved_end
                    .checked_add(BLOCK)
                    .ok_or_else(|| Error::TopicMetadata {
                        path: self.dir.join(FILE),
                        reason: format!(
                            "producer ids are used up: the next block would pass {}",
                            i64::MAX
                        ),
                    })?;
            write_reservation(&self.dir, end)?;
            state.reserved_end = end;
        }
        let id = state.next;
        state.next += 1; // Below reserved_end, so no overflow.
        self.next.store(state.next, Ordering::Release);
        Ok(id)
    }

    /// Whether `id` may have been issued by this broker (after a restart, every id
    /// of the block reserved before it counts).
    pub fn issued(&self, id: i64) -> bool {
        id >= 0 && id < self.next.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        locks::lock(&self.state)
    }
}

fn write_reservation(dir: &Path, end: i64) -> Result<()> {
    save_file(dir, FILE, end.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ids = ProducerIds::open(dir.path()).expect("open");
        let first: Vec<i64> = (0..3).map(|_| ids.allocate().expect("id")).collect();
        assert_eq!(first, [0, 1, 2]);
        assert!(ids.issued(2));
        drop(ids);
        let ids = ProducerIds::open(dir.path()).expect("reopen");
        assert!(ids.issued(2), "ids of the reserved block count as issued");
        let next = ids.allocate().expect("id");
        assert_eq!(
            next, BLOCK,
            "a restart skips the rest of the reserved block"
        );
        assert!(!ids.issued(5 * BLOCK));
        std::fs::write(dir.path().join(FILE), "garbage").expect("write");
        let err = ProducerIds::open(dir.path()).expect_err("garbage");
        assert!(
            err.to_string().contains("expected a non-negative integer"),
            "{err}"
        );
    }

    #[test]
    fn a_reservation_at_the_top_of_the_range_fails_instead_of_overflowing() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE), (i64::MAX - 10).to_string()).expect("write");
        let ids = ProducerIds::open(dir.path()).expect("open");
        let err = ids.allocate().expect_err("no room for a block");
        assert!(err.to_string().contains("used up"), "{err}");
        assert!(ids.issued(i64::MAX - 11) && !ids.issued(i64::MAX - 10));
    }
}
