//! Options of one partition log, with documented defaults.
//!
//! [`LogOptions`] is a plain struct with public fields and a [`Default`]; build one
//! with struct-update syntax or the chained setters, then [`LogOptions::validate`]
//! (which [`crate::Log::open`] calls) rejects values that would break an invariant.

use std::time::Duration;

use crate::error::{Error, Result};

/// When appended data is forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every append returns only after an fsync covering it. Concurrent appends share
    /// one fsync (group commit). Readers see a batch only once it is durable.
    Always,
    /// Appends return after the write; an fsync runs when the last one is older than
    /// the interval (checked on append and by [`crate::Log::flush_if_due`]).
    Interval(Duration),
    /// Never fsync explicitly except on segment roll and close; the OS decides.
    Never,
}

/// Settings of one partition log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Roll the active segment when it would grow past this many bytes.
    /// Default 1 GiB; allowed 1 KiB ..= 2 GiB (index positions are 32-bit).
    pub segment_bytes: u64,
    /// Roll the active segment when it is older than this: age counts, in wall-clock
    /// time, from its first append, or from when the log was reopened (a restart
    /// restarts the clock). Record timestamps play no part. Default 7 days.
    pub segment_age: Duration,
    /// Add a sparse index entry every this many bytes of log. Default 4096.
    pub index_interval_bytes: u64,
    /// Preallocated size of each index file; a segment rolls when its index is full.
    /// Default 10 MiB.
    pub index_max_bytes: u64,
    /// Largest batch `append` accepts. Default 16 MiB.
    pub max_batch_bytes: usize,
    /// Durability policy. Default [`FsyncPolicy::Never`], as in Kafka.
    pub fsync: FsyncPolicy,
    /// Delete closed segments whose newest record is older than this. Default 7 days;
    /// `None` keeps data forever.
    pub retention_age: Option<Duration>,
    /// Delete the oldest closed segments while the log is larger than this.
    /// Default `None` (no size limit).
    pub retention_bytes: Option<u64>,
    /// Keep tombstones (null values) this long after their timestamp when compacting.
    /// Default 1 day.
    pub tombstone_retention: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 1 << 30,
            segment_age: Duration::from_secs(7 * 24 * 3600),
            index_interval_bytes: 4096,
            index_max_bytes: 10 << 20,
            max_batch_bytes: 16 << 20,
            fsync: FsyncPolicy::Never,
            retention_age: Some(Duration::from_secs(7 * 24 * 3600)),
            retention_bytes: None,
            tombstone_retention: Duration::from_secs(24 * 3600),
        }
    }
}

impl LogOptions {
    /// Sets [`LogOptions::segment_bytes`].
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self
    }

    /// Sets [`LogOptions::segment_age`].
    pub fn segment_age(mut self, age: Duration) -> Self {
        self.segment_age = age;
        self
    }

    /// Sets [`LogOptions::index_interval_bytes`].
    pub fn index_interval_bytes(mut self, bytes: u64) -> Self {
        self.index_interval_bytes = bytes;
        self
    }

    /// Sets [`LogOptions::index_max_bytes`].
    pub fn index_max_bytes(mut self, bytes: u64) -> Self {
        self.index_max_bytes = bytes;
        self
    }

    /// Sets [`LogOptions::fsync`].
    pub fn fsync(mut self, policy: FsyncPolicy) -> Self {
        self.fsync = policy;
        self
    }

    /// Sets [`LogOptions::retention_age`].
    pub fn retention_age(mut self, age: Option<Duration>) -> Self {
        self.retention_age = age;
        self
    }

    /// Sets [`LogOptions::retention_bytes`].
    pub fn retention_bytes(mut self, bytes: Option<u64>) -> Self {
        self.retention_bytes = bytes;
        self
    }

    /// Sets [`LogOptions::tombstone_retention`].
    pub fn tombstone_retention(mut self, age: Duration) -> Self {
        self.tombstone_retention = age;
        self
    }

    /// Checks every value against its allowed range.
    pub fn validate(&self) -> Result<()> {
        check(
            "segment_bytes",
            self.segment_bytes,
            (1024..=(2u64 << 30)).contains(&self.segment_bytes),
            "allowed 1024 ..= 2147483648 bytes",
        )?;
        check(
            "index_interval_bytes",
            self.index_interval_bytes,
            (1..=(1u64 << 30)).contains(&self.index_interval_bytes),
            "allowed 1 ..= 1073741824 bytes",
        )?;
        check(
            "index_max_bytes",
            self.index_max_bytes,
            (96..=(1u64 << 31)).contains(&self.index_max_bytes),
            "allowed 96 ..= 2147483648 bytes",
        )?;
        check(
            "max_batch_bytes",
            self.max_batch_bytes,
            (64..=(1usize << 30)).contains(&self.max_batch_bytes),
            "allowed 64 ..= 1073741824 bytes",
        )?;
        if let FsyncPolicy::Interval(d) = self.fsync {
            check(
                "fsync (interval)",
                d.as_millis(),
                !d.is_zero(),
                "the interval must be at least 1 ms (use Always to sync every append)",
            )?;
        }
        check(
            "segment_age",
            self.segment_age.as_millis(),
            !self.segment_age.is_zero(),
            "must be at least 1 ms",
        )
    }
}

fn check(name: &'static str, value: impl ToString, ok: bool, allowed: &'static str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidOption {
            name,
            value: value.to_string(),
            allowed,
        })
    }
}
