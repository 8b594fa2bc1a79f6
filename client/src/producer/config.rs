//! The producer's settings: what to wait for, how to batch, how much memory to use,
//! how to retry and where records go. Every option has a default that suits a
//! service sending events (acks from all replicas, idempotence on, 5 ms linger).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rill_protocol::Compression;

use crate::error::{Error, Result};

/// What the broker must do before it acknowledges a produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Acks {
    /// Wait for the write to be as durable as the topic's fsync policy makes it
    /// (`acks = -1`). The default; required for idempotence.
    #[default]
    All,
    /// Wait for the write to the leader's log (`acks = 1`). On a single broker this
    /// answers at the same moment as `All`.
    Leader,
    /// Do not wait at all (`acks = 0`): the broker sends no answer, records resolve
    /// once written to the socket with offset -1, and nothing is retried.
    None,
}

impl Acks {
    /// The value on the wire.
    pub fn code(self) -> i16 {
        match self {
            Acks::All => -1,
            Acks::Leader => 1,
            Acks::None => 0,
        }
    }
}

/// A function choosing a partition: `(topic, key, partition count) -> partition`.
pub type PartitionFn = dyn Fn(&str, Option<&[u8]>, i32) -> i32 + Send + Sync;

/// How records are spread over a topic's partitions.
#[derive(Clone, Default)]
pub enum Partitioner {
    /// A keyed record goes to `murmur2(key) mod partitions` (the same partition as
    /// Apache Kafka's default partitioner would pick). Keyless records stick to one
    /// partition until its batch is sent, then move to the next (bigger batches,
    /// still spread evenly over time).
    #[default]
    Default,
    /// Keyed records as `Default`; keyless records go to the partitions in turn,
    /// one record each.
    RoundRobin,
    /// A function of your own; it must return a partition in `0..count`.
    Custom(Arc<PartitionFn>),
}

impl fmt::Debug for Partitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partitioner::Default => f.write_str("Default"),
            Partitioner::RoundRobin => f.write_str("RoundRobin"),
            Partitioner::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// Producer settings, built with chained setters:
///
/// ```
/// use std::time::Duration;
/// use rill_client::{Acks, ProducerConfig};
///
/// let config = ProducerConfig::new()
///     .acks(Acks::Leader)
///     .linger(Duration::from_millis(10))
///     .batch_bytes(256 * 1024);
/// ```
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    pub(crate) acks: Acks,
    pub(crate) linger: Duration,
    pub(crate) batch_bytes: usize,
    pub(crate) buffer_bytes: usize,
    pub(crate) max_request_bytes: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) retries: u32,
    pub(crate) retry_backoff: Duration,
    pub(crate) retry_backoff_max: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) delivery_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) idempotence: Option<bool>,
    pub(crate) partitioner: Partitioner,
    pub(crate) client_id: String,
    pub(crate) compression: Compression,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_bytes: 64 * 1024,
            buffer_bytes: 32 << 20,
            max_request_bytes: 1 << 20,
            max_in_flight: 5,
            retries: u32::MAX,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            delivery_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            idempotence: None,
            partitioner: Partitioner::Default,
            client_id: "rill-producer".to_string(),
            compression: Compression::None,
        }
    }
}

impl ProducerConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the broker must do before acknowledging. Default [`Acks::All`].
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = acks;
        self
    }

    /// How long a partition's batch waits for more records before it is sent, unless
    /// it fills first. Longer means bigger batches and fewer requests. Default 5 ms.
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Size at which a partition's batch is sent without waiting for `linger`. A
    /// single larger record gets a batch of its own. Default 64 KiB: on the
    /// machine in README.md's benchmark table, 64 KiB batches carried 1.2x the
    /// records/s of 16 KiB ones with fsync never and 2.2x with fsync always (where
    /// each partition's fsync covers a whole batch); a batch is sent after `linger`
    /// whether full or not, so a light load sees no extra latency.
    pub fn batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes;
        self
    }

    /// The codec each batch's records are compressed with when the batch is
    /// sealed: none, gzip, snappy, lz4 or zstd, as Kafka's `compression.type`.
    /// The broker stores and serves the batch as sent; consumers decompress.
    /// `batch_bytes` counts records before compression. Default none.
    pub fn compression(mut self, codec: Compression) -> Self {
        self.compression = codec;
        self
    }

    /// Memory for records not yet acknowledged. When it is used up, `send` waits
    /// until acknowledgements free some (backpressure). Default 32 MiB.
    pub fn buffer_bytes(mut self, bytes: usize) -> Self {
        self.buffer_bytes = bytes;
        self
    }

    /// Largest produce request; a request carries at most one batch per partition
    /// and as many partitions as fit (always at least one batch). Keep it below the
    /// broker's `max_frame_bytes`. Default 1 MiB.
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// Produce requests awaiting their answers at once on the connection; batches of
    /// one partition still land in order. At most 5 with idempotence (the broker
    /// remembers a producer's last 5 batches per partition). Default 5.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests;
        self
    }

    /// How often a batch is sent again after a failure that may pass (lost
    /// connection, timeout, storage error, unknown partition, a partition's
    /// leader moving). Default: no limit, so
    /// [`ProducerConfig::delivery_timeout`] alone decides when to give up.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Wait before sending a failed batch again the first time; each further
    /// attempt waits twice as long, up to [`ProducerConfig::retry_backoff_max`].
    /// A batch whose partition's leader moved or could not be reached (not the
    /// leader, no leader yet, connection refused or lost) always waits just
    /// this long: it waits for the next metadata, not for a broker to recover,
    /// so a failover costs the election and one wait. Default 100 ms.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// The longest wait between two attempts of a batch that failed for another
    /// reason (a timeout, a storage error, an unknown partition). With the
    /// defaults the waits are 100, 200, 400 and 800 ms, then 1 s. Default 1 s.
    pub fn retry_backoff_max(mut self, backoff: Duration) -> Self {
        self.retry_backoff_max = backoff;
        self
    }

    /// Longest wait for a produce or metadata answer; after it the connection is
    /// closed and the batches in flight are retried. Default 30 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long after its first record a batch may still be retried: a
    /// failure after this is final and reported to every record's delivery.
    /// It bounds how long a send waits through a broker or cluster outage, as
    /// Kafka's `delivery.timeout.ms` does. At least `linger` plus
    /// `request_timeout`. Default 120 s.
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.delivery_timeout = timeout;
        self
    }

    /// Longest wait for a TCP connection to the broker. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Whether the broker drops duplicates of retried batches (producer id plus a
    /// sequence number per partition), so a retry never writes a record twice or out
    /// of order. Default: on when `acks` is [`Acks::All`]; it requires `All`.
    pub fn idempotence(mut self, on: bool) -> Self {
        self.idempotence = Some(on);
        self
    }

    /// How records are spread over partitions. Default [`Partitioner::Default`].
    pub fn partitioner(mut self, partitioner: Partitioner) -> Self {
        self.partitioner = partitioner;
        self
    }

    /// Name in request headers, for the broker's logs. Default `rill-producer`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// The wait before attempt `attempts + 1` of a batch that failed `attempts`
    /// times: `retry_backoff` doubled per earlier failure, at most
    /// `retry_backoff_max` (or `retry_backoff`, if that is larger).
    pub(crate) fn backoff(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(20);
        let wait = self.retry_backoff.saturating_mul(1 << doublings);
        wait.min(self.retry_backoff_max.max(self.retry_backoff))
    }

    /// Whether idempotence is on after defaults are applied.
    pub(crate) fn idempotent(&self) -> bool {
        self.idempotence.unwrap_or(self.acks == Acks::All)
    }

    /// Checks the combination of settings.
    pub(crate) fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::InvalidArgument(msg));
        if self.idempotence == Some(true) && self.acks != Acks::All {
            return fail(format!(
                "idempotence requires acks = All, not {:?}",
                self.acks
            ));
        }
        if self.batch_bytes == 0 || self.buffer_bytes == 0 || self.max_request_bytes == 0 {
            return fail("batch_bytes, buffer_bytes and max_request_bytes must be above 0".into());
        }
        if self.buffer_bytes > u32::MAX as usize {
            return fail(format!(
                "buffer_bytes is {}; at most {} is allowed",
                self.buffer_bytes,
                u32::MAX
            ));
        }
        if self.max_in_flight == 0 {
            return fail("max_in_flight must be at least 1".into());
        }
        if self.idempotent() && self.max_in_flight > 5 {
            return fail(format!(
                "max_in_flight is {}; with idempotence at most 5 is allowed",
                self.max_in_flight
            ));
        }
        if self.request_timeout.is_zero() {
            return fail("request_timeout must be above 0".into());
        }
        if self.delivery_timeout < self.linger + self.request_timeout {
            return fail(format!(
                "delivery_timeout is {:?}; at least linger + request_timeout ({:?}) is allowed",
                self.delivery_timeout,
                self.linger + self.request_timeout
            ));
        }
        Ok(())
    }
}
