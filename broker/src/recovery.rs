//! Partition logs opened in the background, after the broker is listening.
//!
//! After an unclean shutdown each log is scanned from its last checkpoint, which
//! for a large log takes seconds. So that the slowest partition does not keep every
//! other one from being served, start-up reads each topic's metadata, puts one
//! [`Slot`] per partition in the topic, and hands the opening of their logs to
//! [`Recovery`]: one background thread running up to `recovery_threads` opens at
//! once. Until its log is open a partition answers LEADER_NOT_AVAILABLE (5), which
//! clients retry; a log that cannot be opened answers KAFKA_STORAGE_ERROR (56) with
//! the reason, and the broker serves the others.
//!
//! Invariants: a slot is settled (open or failed) at most once, and after settling
//! it the recovery thread never touches that partition's directory again. Stopping
//! [`Recovery`] lets the opens under way finish, starts no more, and returns only
//! when its thread has ended, so nothing opens a log once the broker has let go of
//! its data directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use rill_protocol::ErrorCode;
use rill_storage::{Log, LogOptions};

use crate::api_error::ApiError;
use crate::config::RecoveryHook;
use crate::locks;
use crate::parallel;
use crate::partition::Partition;

/// One partition of a topic: open, still being recovered, failed to open, or
/// (in a cluster) replicated on other brokers only.
pub struct Slot {
    index: i32,
    state: OnceLock<Result<Arc<Partition>, String>>,
    elsewhere: bool,
}

impl Slot {
    /// A slot holding a partition whose log is open.
    pub fn open(partition: Arc<Partition>) -> Slot {
        let slot = Slot::recovering(partition.index());
        slot.settle(Ok(partition));
        slot
    }

    /// A slot whose log is still to be opened.
    pub fn recovering(index: i32) -> Slot {
        Slot {
            index,
            state: OnceLock::new(),
            elsewhere: false,
        }
    }

    /// A slot for a partition whose replicas are all on other brokers: it has no
    /// log here and answers NOT_LEADER_OR_FOLLOWER.
    pub fn elsewhere(index: i32) -> Slot {
        Slot {
            index,
            state: OnceLock::new(),
            elsewhere: true,
        }
    }

    /// The partition index.
    pub fn index(&self) -> i32 {
        self.index
    }

    /// The partition, if its log is open.
    pub fn partition(&self) -> Option<&Arc<Partition>> {
        self.state.get().and_then(|state| state.as_ref().ok())
    }

    /// Whether the log has been opened or has failed to open.
    pub fn is_settled(&self) -> bool {
        self.elsewhere || self.state.get().is_some()
    }

    /// The partition, or why it cannot be served: LEADER_NOT_AVAILABLE while its
    /// log is being recovered, KAFKA_STORAGE_ERROR if it could not be opened,
    /// NOT_LEADER_OR_FOLLOWER if it has no replica here.
    pub fn serving(&self, topic: &str) -> Result<Arc<Partition>, ApiError> {
        if self.elsewhere {
            return Err(ApiError::new(
                ErrorCode::NotLeaderOrFollower,
                format!(
                    "partition {topic}/{} has no replica on this broker: refresh metadata and ask its leader",
                    self.index
                ),
            ));
        }
        match self.state.get() {
            Some(Ok(partition)) => Ok(Arc::clone(partition)),
            Some(Err(reason)) => Err(ApiError::new(
                ErrorCode::StorageError,
                format!(
                    "partition {topic}/{} could not be opened: {reason}",
                    self.index
                ),
            )),
            None => Err(ApiError::new(
                ErrorCode::LeaderNotAvailable,
                format!(
                    "partition {topic}/{} is not served yet: its log is being recovered after a restart; retry shortly",
                    self.index
                ),
            )),
        }
    }

    fn settle(&self, state: Result<Arc<Partition>, String>) {
        if self.state.set(state).is_err() {
            tracing::error!(partition = self.index, "a partition slot was settled twice");
        }
    }
}

/// A partition log for [`Recovery`] to open.
pub struct Pending {
    /// The topic's name.
    pub topic: String,
    /// The partition's log directory.
    pub dir: PathBuf,
    /// The topic's log options.
    pub options: LogOptions,
    /// Where the opened partition goes.
    pub slot: Arc<Slot>,
}

/// The background thread opening [`Pending`] logs.
pub struct Recovery {
    stop: Arc<AtomicBool>,
    left: Arc<AtomicUsize>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Recovery {
    /// Starts opening `pending` on a background thread, `threads` at a time, in
    /// the order given. `hook` is called before each open.
    pub fn start(pending: Vec<Pending>, threads: usize, hook: RecoveryHook) -> Recovery {
        let stop = Arc::new(AtomicBool::new(false));
        let left = Arc::new(AtomicUsize::new(pending.len()));
        let thread = if pending.is_empty() {
            None
        } else {
            let (stop, left) = (Arc::clone(&stop), Arc::clone(&left));
            let spawned = std::thread::Builder::new()
                .name("rill-recovery".to_string())
                .spawn(move || run(&pending, threads, &hook, &stop, &left));
            match spawned {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the recovery thread");
                    None
                }
            }
        };
        Recovery {
            stop,
            left,
            thread: Mutex::new(thread),
        }
    }

    /// How many partitions are still to be opened.
    pub fn left(&self) -> usize {
        self.left.load(Ordering::Acquire)
    }

    /// Starts no more opens, waits for those under way and for the thread to
    /// end. Partitions not opened stay recovering; the next start opens them.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.join();
    }

    /// Waits until every partition has been opened (or failed to open).
    pub fn join(&self) {
        let thread = locks::lock(&self.thread).take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the recovery thread panicked");
            }
        }
    }
}

impl Drop for Recovery {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(
    pending: &[Pending],
    threads: usize,
    hook: &RecoveryHook,
    stop: &AtomicBool,
    left: &AtomicUsize,
) {
    let started = Instant::now();
    let failed = AtomicUsize::new(0);
    parallel::map(pending, threads, |p| {
        if stop.load(Ordering::Acquire) {
            return;
        }
        let index = p.slot.index();
        hook.call(&p.topic, index);
        let opened = Log::open(&p.dir, p.options.clone()).map_err(|e| {
            tracing::error!(topic = %p.topic, partition = index, error = %e, "cannot open the partition's log; it is not served");
            failed.fetch_add(1, Ordering::Relaxed);
            e.to_string()
        });
        p.slot
            .settle(opened.map(|log| Arc::new(Partition::new(&p.topic, index, log))));
        left.fetch_sub(1, Ordering::AcqRel);
    });
    tracing::info!(
        partitions = pending.len() - left.load(Ordering::Acquire),
        failed = failed.into_inner(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "background recovery finished"
    );
}
