//! The state the producer handles and the sender task share: the configuration,
//! the producer identity, the router (each partition's leader and a connection
//! to each broker), the accumulator of batches, the memory budget and the wake-ups
//! between them.
//!
//! Invariants: the accumulator is only touched under its lock, which a panic does
//! not poison for the others; every byte of budget `enqueue` takes is given back
//! by [`Shared::completed`] when its batch is done; Metadata's partition list is
//! believed only when it is exactly `0..n` with `n` at most [`MAX_PARTITIONS`].

use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::{Notify, Semaphore};

use super::accumulator::Accumulator;
use super::config::ProducerConfig;
use crate::clock::subsec_nanos;
use crate::connection::ConnectionOptions;
use crate::error::{Error, Result};
use crate::locks;
use crate::routing::Router;

/// The most partitions a topic can have: the broker's own ceiling. A Metadata
/// answer with more is not believed (each partition gets a queue).
pub(super) const MAX_PARTITIONS: usize = 1_000_000;

/// State shared by the producer handles and the sender task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ProducerConfig,
    /// The bootstrap list the producer was given.
    pub(super) addr: String,
    /// Producer id and epoch obtained at connect when idempotent (the sender takes
    /// a new one when a partition has to start over).
    pub(crate) identity: Option<(i64, i16)>,
    /// Where each partition's leader is, and the connections to the brokers.
    pub(crate) router: Router,
    pub(super) acc: Mutex<Accumulator>,
    /// Buffer budget in bytes: taken by `enqueue`, returned on completion.
    pub(crate) memory: Semaphore,
    /// Wakes the sender: a batch opened or closed, a flush, a close.
    pub(crate) wake: Notify,
    /// Wakes `flush`: a batch completed or the sender stopped.
    pub(crate) done: Notify,
    pub(crate) stopped: AtomicBool,
}

impl Shared {
    /// The accumulator, locked (a panic while it was held does not poison it).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Accumulator> {
        locks::lock(&self.acc)
    }

    /// `topic`'s partition count, from the cache or a Metadata request (which
    /// also tells the router its partitions' leaders).
    pub(super) async fn partition_count(&self, topic: &str) -> Result<i32> {
        if let Some(count) = self.lock().partition_count(topic) {
            return Ok(count);
        }
        let metadata = self.router.refresh(vec![topic.to_string()]).await?;
        let t = metadata
            .topics
            .into_iter()
            .find(|t| t.name == topic)
            .ok_or_else(|| Error::Protocol {
                addr: self.addr.clone(),
                detail: format!("the Metadata response does not mention topic {topic:?}"),
            })?;
        if !t.error_code.is_ok() {
            return Err(Error::broker_at(t.error_code, t.error_message, topic, None));
        }
        let numbers: Vec<i32> = t.partitions.iter().map(|p| p.partition).collect();
        let count = partition_count(&numbers).map_err(|detail| Error::Protocol {
            addr: self.addr.clone(),
            detail: format!("topic {topic:?} {detail}"),
        })?;
        // The clock's nanoseconds seed where keyless records start spreading.
        self.lock()
            .set_partition_count(topic, count, subsec_nanos());
        Ok(count)
    }

    /// Gives back a completed batch's memory and wakes flushes.
    pub(crate) fn completed(&self, batch_id: u64, memory: usize) {
        self.lock().batch_done(batch_id);
        self.memory.add_permits(memory);
        self.done.notify_waiters();
    }

    /// Forgets `topic`'s partition count (after the broker said it does not exist).
    pub(crate) fn metadata_stale(&self, topic: &str) {
        self.lock().mark_stale(topic);
    }
}

/// The partition count of a topic whose Metadata lists partitions `numbers`: they
/// must be exactly `0..n`, each once, with `n` from 1 to [`MAX_PARTITIONS`].
/// Otherwise says what is wrong, in words that follow the topic's name.
pub(super) fn partition_count(numbers: &[i32]) -> std::result::Result<i32, String> {
    let n = numbers.len();
    if n == 0 {
        return Err("has no partitions".to_string());
    }
    if n > MAX_PARTITIONS {
        return Err(format!(
            "has {n} partitions; a broker allows at most {MAX_PARTITIONS}"
        ));
    }
    let mut seen = vec![false; n];
    for &p in numbers {
        match usize::try_from(p).ok().and_then(|i| seen.get_mut(i)) {
            Some(slot) if !*slot => *slot = true,
            Some(_) => return Err(format!("lists partition {p} twice")),
            None => {
                return Err(format!(
                    "lists partition {p} among {n}: partitions must be numbered 0 to {}",
                    n - 1
                ))
            }
        }
    }
    // n distinct numbers below n: exactly 0..n. n fits: it is at most MAX_PARTITIONS.
    Ok(i32::try_from(n).unwrap_or(i32::MAX))
}

/// How the producer's connections are opened: its client id and timeouts.
pub(super) fn connection_options(config: &ProducerConfig) -> ConnectionOptions {
    ConnectionOptions {
        client_id: Some(config.client_id.clone()),
        connect_timeout: config.connect_timeout,
        request_timeout: config.request_timeout,
        ..ConnectionOptions::default()
    }
}
