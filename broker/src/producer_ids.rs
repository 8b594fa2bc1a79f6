//! Producer ids for idempotent producers: unique on this broker, across restarts.
//!
//! Ids are handed out from blocks of [`BLOCK`]. Before the first id of a block is
//! given out, the block's end is written to `<data_dir>/producer-ids` (temporary
//! file, fsync, rename, directory fsync), so after a crash the broker resumes past
//! every id it may have issued. An id at or above the next unissued one was never
//! given out, which lets Produce refuse invented ids.
//!
//! Every id is issued with epoch [`ISSUED_EPOCH`]. Ids issued since this broker
//! started have a [`History::Complete`]: every batch they ever sent went through
//! this process, so a partition that has no state for one has seen none of its
//! batches. Ids issued before the last start may have written batches whose
//! duplicate-detection state was in memory only ([`History::SinceRestart`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::files::save_file;
use crate::locks;

/// Ids reserved on disk at a time.
pub const BLOCK: i64 = 1000;
/// The epoch every producer id is issued with (epochs are never bumped).
pub const ISSUED_EPOCH: i16 = 0;
const FILE: &str = "producer-ids";

#[derive(Debug)]
struct State {
    next: i64,
    reserved_end: i64,
}

/// How much of an issued id's past this broker process has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// Issued by this process: every batch of the id was seen here.
    Complete,
    /// Issued before the broker last started: earlier batches may be unknown.
    SinceRestart,
}

/// What the broker knows of an id it issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issued {
    /// The epoch the id was issued with.
    pub epoch: i16,
    /// Whether this process saw all of the id's batches.
    pub history: History,
}

/// Allocates producer ids.
#[derive(Debug)]
pub struct ProducerIds {
    dir: PathBuf,
    /// The first id this process may issue; ids below it came from earlier runs.
    first_this_run: i64,
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
            first_this_run: next,
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

    /// What is known of `id`, or `None` if this broker never issued it (after a
    /// restart, every id of the block reserved before it counts as issued).
    pub fn issued(&self, id: i64) -> Option<Issued> {
        if id < 0 || id >= self.next.load(Ordering::Acquire) {
            return None;
        }
        let history = if id >= self.first_this_run {
            History::Complete
        } else {
            History::SinceRestart
        };
        Some(Issued {
            epoch: ISSUED_EPOCH,
            history,
        })
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
        assert_eq!(ids.issued(2).map(|i| i.history), Some(History::Complete));
        drop(ids);
        let ids = ProducerIds::open(dir.path()).expect("reopen");
        assert_eq!(
            ids.issued(2).map(|i| i.history),
            Some(History::SinceRestart),
            "ids of the reserved block count as issued, by an earlier run"
        );
        let next = ids.allocate().expect("id");
        assert_eq!(
            next, BLOCK,
            "a restart skips the rest of the reserved block"
        );
        assert_eq!(ids.issued(next).map(|i| i.history), Some(History::Complete));
        assert_eq!(ids.issued(5 * BLOCK), None);
        assert_eq!(ids.issued(-1), None);
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
        assert!(ids.issued(i64::MAX - 11).is_some() && ids.issued(i64::MAX - 10).is_none());
    }
}
