//! Counting what a service received: each event once, no duplicates, none missing.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rill_client::ConsumerRecord;

/// Which events of one run a service has seen.
#[derive(Debug)]
pub struct Tally {
    run: u64,
    seen: Vec<AtomicU8>,
    received: AtomicU64,
    duplicates: AtomicU64,
    foreign: AtomicU64,
    started: Instant,
    done: OnceLock<Duration>,
}

impl Tally {
    /// A tally for `events` events of run `run`.
    pub fn new(run: u64, events: u64) -> Tally {
        Tally {
            run,
            seen: (0..events).map(|_| AtomicU8::new(0)).collect(),
            received: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            foreign: AtomicU64::new(0),
            started: Instant::now(),
            done: OnceLock::new(),
        }
    }

    /// Records one consumed record.
    pub fn record(&self, record: &ConsumerRecord) {
        match event_of(record, self.run) {
            Some(n) => match self.seen.get(n as usize) {
                Some(slot) if slot.swap(1, Ordering::Relaxed) == 0 => {
                    let received = self.received.fetch_add(1, Ordering::Relaxed) + 1;
                    if received == self.seen.len() as u64 {
                        let _ = self.done.set(self.started.elapsed());
                    }
                }
                Some(_) => {
                    self.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    self.foreign.fetch_add(1, Ordering::Relaxed);
                }
            },
            None => {
                self.foreign.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Distinct events of this run received.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Events received more than once (counting every extra copy).
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Records that were not events of this run (older runs on a shared broker).
    pub fn foreign(&self) -> u64 {
        self.foreign.load(Ordering::Relaxed)
    }

    /// How long after the tally was made the last missing event arrived.
    pub fn done_after(&self) -> Option<Duration> {
        self.done.get().copied()
    }

    /// Whether every event arrived.
    pub fn complete(&self) -> bool {
        self.received() == self.seen.len() as u64
    }
}

/// The event number of `record` if it belongs to run `run`.
pub fn event_of(record: &ConsumerRecord, run: u64) -> Option<u64> {
    let header = |name: &str| {
        record
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_ref())
            .and_then(|v| <[u8; 8]>::try_from(&v[..]).ok())
            .map(u64::from_be_bytes)
    };
    (header("run")? == run).then(|| header("event")).flatten()
}
