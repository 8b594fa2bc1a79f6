//! The consumer's settings: where to start without a committed offset, how often to
//! commit, and how fetches are shaped. Every option has a default that suits a
//! service reading a stream (auto-commit every second, 500 records per poll, fetches
//! that long-poll for half a second).

use std::time::Duration;

use crate::error::{Error, Result};

/// Where a partition starts when there is no committed offset for it (or the
/// position fell outside the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// The first record still in the log.
    Earliest,
    /// The end of the log: only records produced from now on. The default, as in
    /// Apache Kafka.
    #[default]
    Latest,
    /// Fail: `poll` returns an error naming the partition.
    None,
}

/// Consumer settings, built with chained setters:
///
/// ```
/// use std::time::Duration;
/// use rill_client::{ConsumerConfig, OffsetReset};
///
/// let config = ConsumerConfig::new()
///     .offset_reset(OffsetReset::Earliest)
///     .auto_commit_interval(Duration::from_millis(500));
/// ```
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub(crate) client_id: String,
    pub(crate) group_id: Option<String>,
    pub(crate) offset_reset: OffsetReset,
    pub(crate) auto_commit: bool,
    pub(crate) auto_commit_interval: Duration,
    pub(crate) max_poll_records: usize,
    pub(crate) fetch_max_wait: Duration,
    pub(crate) fetch_min_bytes: i32,
    pub(crate) fetch_max_bytes: i32,
    pub(crate) partition_max_bytes: i32,
    pub(crate) max_in_flight_fetches: usize,
    pub(crate) fetch_buffer_bytes: usize,
    pub(crate) check_crcs: bool,
    pub(crate) max_decompressed_bytes: usize,
    pub(crate) retry_backoff: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            client_id: "rill-consumer".to_string(),
            group_id: None,
            offset_reset: OffsetReset::Latest,
            auto_commit: true,
            auto_commit_interval: Duration::from_secs(1),
            max_poll_records: 500,
            fetch_max_wait: Duration::from_millis(500),
            fetch_min_bytes: 1,
            fetch_max_bytes: 8 << 20,
            partition_max_bytes: 1 << 20,
            max_in_flight_fetches: 2,
            fetch_buffer_bytes: 8 << 20,
            check_crcs: true,
            max_decompressed_bytes: 64 << 20,
            retry_backoff: Duration::from_millis(100),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl ConsumerConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Name in request headers; the broker also builds member ids from it.
    /// Default `rill-consumer`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// The group whose committed offsets a consumer with a manual assignment
    /// ([`Consumer::assign`](super::Consumer::assign)) starts from and commits to,
    /// without joining it. [`Consumer::subscribe`](super::Consumer::subscribe) names
    /// its group itself. Default: none (positions are not committed).
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.group_id = Some(group.into());
        self
    }

    /// Where a partition without a committed offset starts. Default
    /// [`OffsetReset::Latest`].
    pub fn offset_reset(mut self, reset: OffsetReset) -> Self {
        self.offset_reset = reset;
        self
    }

    /// Whether positions are committed in the background every
    /// `auto_commit_interval` and on `close`. Off, the application commits with
    /// [`Consumer::commit`](super::Consumer::commit). Either way, when the group
    /// revokes a partition its position (after the last record `poll` returned) is
    /// committed before the partition is released to another member
    /// (docs/PROTOCOL.md §5.9). Default on.
    pub fn auto_commit(mut self, on: bool) -> Self {
        self.auto_commit = on;
        self
    }

    /// How often positions are committed with auto-commit. Default 1 s.
    pub fn auto_commit_interval(mut self, interval: Duration) -> Self {
        self.auto_commit_interval = interval;
        self
    }

    /// Most records one `poll` returns; the rest wait for the next. Default 500.
    pub fn max_poll_records(mut self, records: usize) -> Self {
        self.max_poll_records = records;
        self
    }

    /// How long the broker may hold a fetch when no data is ready. Shorter means
    /// newly assigned partitions start sooner; longer means fewer idle requests.
    /// Default 500 ms.
    pub fn fetch_max_wait(mut self, wait: Duration) -> Self {
        self.fetch_max_wait = wait;
        self
    }

    /// Record bytes a fetch waits for before it is answered. Default 1.
    pub fn fetch_min_bytes(mut self, bytes: i32) -> Self {
        self.fetch_min_bytes = bytes;
        self
    }

    /// Cap on the record bytes of one fetch response (the broker still returns at
    /// least one batch). Default 8 MiB.
    pub fn fetch_max_bytes(mut self, bytes: i32) -> Self {
        self.fetch_max_bytes = bytes;
        self
    }

    /// Cap on the record bytes per partition in one fetch. Default 1 MiB.
    pub fn partition_max_bytes(mut self, bytes: i32) -> Self {
        self.partition_max_bytes = bytes;
        self
    }

    /// Fetch requests kept in flight at once to each broker (at least 1); a
    /// partition is in at most one of them. Default 2.
    pub fn max_in_flight_fetches(mut self, fetches: usize) -> Self {
        self.max_in_flight_fetches = fetches;
        self
    }

    /// Record bytes buffered (fetched, not yet returned by `poll`) above which no
    /// new fetch is sent. Default 8 MiB.
    pub fn fetch_buffer_bytes(mut self, bytes: usize) -> Self {
        self.fetch_buffer_bytes = bytes;
        self
    }

    /// Whether every fetched batch's CRC and structure are checked before its
    /// records are handed out. Default on.
    pub fn check_crcs(mut self, on: bool) -> Self {
        self.check_crcs = on;
        self
    }

    /// The most bytes one compressed batch's records may decompress to; a batch
    /// that decompresses to more fails the poll with an error naming it, so a
    /// small batch cannot expand into a large allocation. Default 64 MiB.
    pub fn max_decompressed_bytes(mut self, bytes: usize) -> Self {
        self.max_decompressed_bytes = bytes;
        self
    }

    /// Wait before retrying after a failure that may pass (lost connection, broker
    /// restarting). Default 100 ms.
    pub fn retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// Longest wait for a commit, offset lookup or heartbeat answer. Default 30 s.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Longest wait for a TCP connection to the broker. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Checks the combination of settings.
    pub(crate) fn validate(&self) -> Result<()> {
        let fail = |msg: &str| Err(Error::InvalidArgument(msg.to_string()));
        if self.max_poll_records == 0 {
            return fail("max_poll_records must be at least 1");
        }
        if self.fetch_max_bytes < 1 || self.partition_max_bytes < 1 {
            return fail("fetch_max_bytes and partition_max_bytes must be at least 1");
        }
        if self.max_in_flight_fetches == 0 {
            return fail("max_in_flight_fetches must be at least 1, got 0");
        }
        if self.auto_commit && self.auto_commit_interval.is_zero() {
            return fail("auto_commit_interval must be above 0");
        }
        if self.request_timeout.is_zero() {
            return fail("request_timeout must be above 0");
        }
        if self.group_id.as_deref() == Some("") {
            return fail("the group id must not be empty");
        }
        Ok(())
    }

    /// `fetch_max_wait` in ms, as the wire wants it.
    pub(crate) fn max_wait_ms(&self) -> i32 {
        i32::try_from(self.fetch_max_wait.as_millis()).unwrap_or(i32::MAX)
    }
}
