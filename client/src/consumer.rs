//! The consumer: reads records from partitions it is assigned by hand or by a
//! consumer group, and keeps track of (and commits) how far it got.
//!
//! ```no_run
//! # async fn run() -> rill_client::Result<()> {
//! use std::time::Duration;
//! use rill_client::{Consumer, ConsumerConfig, OffsetReset};
//!
//! let config = ConsumerConfig::new().offset_reset(OffsetReset::Earliest);
//! let mut consumer = Consumer::connect("127.0.0.1:9400", config).await?;
//! consumer.subscribe(&["purchases"], "payment").await?;
//! loop {
//!     for record in consumer.poll(Duration::from_secs(1)).await? {
//!         println!("{}/{} @{}", record.topic, record.partition, record.offset);
//!     }
//! }
//! # }
//! ```
//!
//! How it works. [`Consumer::poll`] hands out records that are already buffered and
//! makes sure a Fetch is in flight, so the broker reads the next records while the
//! application processes the current ones (`fetcher`). A subscribed consumer has a
//! heartbeat task (`group`) that receives the group's assignment; `poll` reconciles
//! it at its start, when the application has finished with the previous batch:
//! revoked partitions are dropped and their positions committed, then released to
//! the broker (`reconcile`); new partitions start from their committed offsets
//! (else the [`OffsetReset`] policy). So a partition is never consumed by two
//! members at once, and partitions that stay put are never paused. Positions are
//! committed on revocation (always, auto-commit or not), every
//! `auto_commit_interval` and on [`Consumer::close`] (auto-commit), or when the
//! application calls [`Consumer::commit`]. Seeking is in `seek`, committing in
//! `commit`, partition counts in `metadata`.
//!
//! `poll` is cancel-safe: every step it awaits either leaves its state on the
//! consumer (a revocation being committed, a fetch in flight) or changes nothing
//! until it completes, and records leave the buffer only in a step that does not
//! await and returns them.
//!
//! Failures that pass (a lost connection, a restarting broker) are retried inside
//! `poll` after `retry_backoff`; if the broker forgot the member (restart, session
//! expiry), the consumer drops its partitions without committing and rejoins, then
//! resumes from the committed offsets.

mod commit;
mod config;
mod fetcher;
mod group;
mod link;
mod metadata;
pub(crate) mod offsets;
mod reconcile;
pub(crate) mod record;
mod revoking;
mod seek;
mod transient;

use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rill_protocol::api::list_offsets as offsets_api;
use rill_protocol::ErrorCode;
use tokio::time::Instant;

pub use config::{ConsumerConfig, OffsetReset};
pub use offsets::PendingCommit;
pub use record::{ConsumerRecord, TopicPartition};

use crate::connection::{Connection, ConnectionOptions};
use crate::error::{Error, Result};
use crate::locks;
use crate::routing::Router;
use fetcher::{Fetcher, Position};
use group::Membership;
use link::Link;
use revoking::Revoking;
use transient::transient;

/// Reads records from a broker. Not `Clone`: one consumer is one group member.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use rill_client::{Consumer, ConsumerConfig, OffsetReset};
///
/// let addr = "127.0.0.1:9400";
/// let config = ConsumerConfig::new()
///     .offset_reset(OffsetReset::Earliest) // a new group reads from the start
///     .auto_commit(false);
/// let mut consumer = Consumer::connect(addr, config).await?;
/// consumer.subscribe(&["purchases"], "payment").await?;
/// let records = consumer.poll(Duration::from_secs(5)).await?;
/// for record in &records {
///     // A real service would parse `record.value` and act on it here.
///     println!("{}/{} @{}", record.topic, record.partition, record.offset);
/// }
/// consumer.commit().await?; // the group resumes after these records
/// consumer.close().await?; // leaves the group, so its partitions move at once
/// # Ok(())
/// # }
/// ```
///
/// `tests/tests/client_docs.rs` runs this example against an embedded broker.
#[derive(Debug)]
pub struct Consumer {
    config: Arc<ConsumerConfig>,
    /// Group requests and commits; shared with the heartbeat task.
    control: Arc<Link>,
    /// Each partition's leader, for metadata and ListOffsets (fetches go through
    /// the fetcher's sibling router, on connections of their own).
    routes: Router,
    fetcher: Fetcher,
    mode: Mode,
    /// Assignment sequence number last reconciled.
    seen_assignment: u64,
    /// Revoked partitions whose commit and release are not done yet.
    revoking: Revoking,
    /// Offsets last committed (or being committed) per partition.
    committed: Arc<Mutex<HashMap<TopicPartition, i64>>>,
    next_auto_commit: Instant,
    /// No network work before this (after a failure that may pass).
    retry_at: Option<Instant>,
}

#[derive(Debug)]
enum Mode {
    /// Nothing assigned or subscribed yet.
    Idle,
    /// Partitions chosen by the application.
    Manual,
    /// Partitions handed out by a group.
    Group(Membership),
}

impl Consumer {
    /// Connects to the broker at `addr` (`host:port`). Fails on an invalid `config`
    /// or when the broker cannot be reached.
    pub async fn connect(addr: impl Display, config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let options = ConnectionOptions {
            client_id: Some(config.client_id.clone()),
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            ..ConnectionOptions::default()
        };
        let list = addr.to_string();
        let conn = Connection::connect_with(&list, options.clone()).await?;
        let routes = Router::with(&list, conn.clone())?;
        let config = Arc::new(config);
        Ok(Consumer {
            fetcher: Fetcher::new(config.clone(), routes.sibling()),
            routes,
            control: Arc::new(Link::with(conn, options)),
            next_auto_commit: Instant::now() + config.auto_commit_interval,
            config,
            mode: Mode::Idle,
            seen_assignment: 0,
            revoking: Revoking::default(),
            committed: Arc::new(Mutex::new(HashMap::new())),
            retry_at: None,
        })
    }

    /// Reads exactly `partitions`, without a group: positions start at the committed
    /// offsets of [`ConsumerConfig::group_id`] if one is set, else by the
    /// [`OffsetReset`] policy, unless [`seek`](Consumer::seek)ed first. Replaces the
    /// previous manual assignment (partitions in both keep their positions). Fails
    /// with `UNKNOWN_TOPIC_OR_PARTITION` if a topic or partition does not exist, and
    /// after [`subscribe`](Consumer::subscribe).
    pub async fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        if matches!(self.mode, Mode::Group(_)) {
            return Err(Error::InvalidArgument(
                "this consumer is subscribed to a group; it cannot also assign partitions".into(),
            ));
        }
        let topics: BTreeSet<&str> = partitions.iter().map(|tp| tp.topic.as_str()).collect();
        let counts = self.partition_counts(topics.into_iter()).await?;
        for tp in partitions {
            if !(0..counts.get(&tp.topic).copied().unwrap_or(0)).contains(&tp.partition) {
                return Err(Error::broker_at(
                    ErrorCode::UnknownTopicOrPartition,
                    Some(format!(
                        "topic {:?} has no partition {}",
                        tp.topic, tp.partition
                    )),
                    &tp.topic,
                    Some(tp.partition),
                ));
            }
        }
        let wanted: BTreeSet<&TopicPartition> = partitions.iter().collect();
        let gone: Vec<TopicPartition> = self
            .fetcher
            .assigned()
            .filter(|tp| !wanted.contains(tp))
            .cloned()
            .collect();
        for tp in gone {
            self.fetcher.remove(&tp);
        }
        for tp in partitions {
            self.fetcher.add(tp.clone());
        }
        self.mode = Mode::Manual;
        Ok(())
    }

    /// Assigns every partition of `topics` (see [`assign`](Consumer::assign)).
    pub async fn assign_topics(&mut self, topics: &[&str]) -> Result<()> {
        let counts = self.partition_counts(topics.iter().copied()).await?;
        let partitions: Vec<TopicPartition> = topics
            .iter()
            .flat_map(|t| {
                (0..counts.get(*t).copied().unwrap_or(0)).map(|p| TopicPartition::new(*t, p))
            })
            .collect();
        self.assign(&partitions).await
    }

    /// Joins consumer group `group` with a subscription to `topics`: the broker
    /// shares the topics' partitions among the group's members, and this consumer
    /// reads the ones it is given. Assignments arrive while [`poll`](Consumer::poll)
    /// runs. Fails if the consumer already has an assignment or subscription.
    pub async fn subscribe(&mut self, topics: &[&str], group: &str) -> Result<()> {
        if !matches!(self.mode, Mode::Idle) {
            return Err(Error::InvalidArgument(
                "this consumer already has an assignment or a subscription".into(),
            ));
        }
        if group.is_empty() {
            return Err(Error::InvalidArgument(
                "the group id must not be empty".into(),
            ));
        }
        if topics.is_empty() || topics.iter().any(|t| t.is_empty()) {
            return Err(Error::InvalidArgument(
                "subscribe needs at least one topic name".into(),
            ));
        }
        let membership = Membership::start(
            group.to_string(),
            topics.iter().map(|t| (*t).to_string()).collect(),
            self.control.clone(),
            self.config.request_timeout,
            self.config.retry_backoff,
        );
        self.mode = Mode::Group(membership);
        Ok(())
    }

    /// Waits up to `timeout` for records and returns them (at most
    /// `max_poll_records`; empty if none arrived in time). Also applies the group's
    /// latest assignment (committing the positions of revoked partitions before
    /// releasing them, with or without auto-commit) and auto-commits. Records of
    /// one partition come in offset order, each exactly once unless the consumer
    /// seeks back or is fenced. Fails on errors that retrying cannot fix (a corrupt
    /// batch, a deleted topic, a refused subscription, no committed offset under
    /// [`OffsetReset::None`]); records not returned stay for the next call.
    ///
    /// Cancel-safe: the future may be dropped at any await (in `tokio::select!`,
    /// under `tokio::time::timeout`). No record is lost or repeated: positions
    /// move only past records that were returned. A revocation cut short is
    /// finished by the next `poll` (or `close`), and its partitions stay claimed
    /// from the group until then.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        loop {
            let live = self.reconcile().await?;
            self.auto_commit().await;
            if live {
                if self.retry_at.is_none_or(|at| Instant::now() >= at) {
                    self.retry_at = None;
                    let step = self.resolve_positions().await;
                    self.absorb(step)?;
                }
                let max = self.config.max_poll_records;
                if self.retry_at.is_none() {
                    // Before the take: if this is cancelled or fails, the records
                    // are still buffered and the positions unmoved.
                    let sent = self.fetcher.ensure_in_flight().await;
                    self.absorb(sent)?;
                }
                if self.fetcher.has_buffered() {
                    return Ok(self.fetcher.take(max));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wake_at = [self.retry_at, self.revoking.retry_at()]
                .into_iter()
                .flatten()
                .fold(deadline, Instant::min);
            let group = match &self.mode {
                Mode::Group(m) => Some(m.shared()),
                Mode::Idle | Mode::Manual => None,
            };
            let changed = async {
                match &group {
                    Some(shared) => shared.changed.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                done = self.fetcher.complete() => {
                    self.absorb(done)?;
                }
                _ = changed => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Turns a failure that may pass into a pause before the next network step;
    /// returns any other.
    fn absorb(&mut self, step: Result<()>) -> Result<()> {
        match step {
            Ok(()) => Ok(()),
            Err(e) if transient(&e) => {
                tracing::debug!(error = %e, "consumer retrying after a failure");
                self.retry_at = Some(Instant::now() + self.config.retry_backoff);
                if let Mode::Group(membership) = &self.mode {
                    membership.suspect();
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Gives positions to new partitions: committed offsets, else the reset policy.
    async fn resolve_positions(&mut self) -> Result<()> {
        let waiting = self.fetcher.unpositioned();
        if waiting.is_empty() {
            return Ok(());
        }
        let conn = self.control.get().await?;
        let unknown: Vec<TopicPartition> = waiting
            .iter()
            .filter(|(_, p)| *p == Position::Unknown)
            .map(|(tp, _)| tp.clone())
            .collect();
        if let (Some(group), false) = (self.group_id(), unknown.is_empty()) {
            let committed = offsets::committed(&conn, &group, &unknown).await?;
            for tp in &unknown {
                match committed.get(tp).copied().flatten() {
                    Some(offset) => {
                        self.fetcher.set_position(tp, offset);
                        self.lock_committed().insert(tp.clone(), offset);
                    }
                    None => self.fetcher.mark_reset(tp),
                }
            }
        } else {
            for tp in &unknown {
                self.fetcher.mark_reset(tp);
            }
        }
        let reset: Vec<TopicPartition> = self
            .fetcher
            .unpositioned()
            .into_iter()
            .map(|(tp, _)| tp)
            .collect();
        if reset.is_empty() {
            return Ok(());
        }
        let timestamp = match self.config.offset_reset {
            OffsetReset::Earliest => offsets_api::EARLIEST_TIMESTAMP,
            OffsetReset::Latest => offsets_api::LATEST_TIMESTAMP,
            OffsetReset::None => {
                return Err(Error::InvalidArgument(format!(
                    "no committed offset for {} and the offset reset policy is None",
                    reset[0]
                )))
            }
        };
        let found = offsets::list_offsets(&self.routes, &reset, timestamp).await?;
        for tp in &reset {
            if let Some(&offset) = found.get(tp) {
                self.fetcher.set_position(tp, offset.max(0));
            }
        }
        Ok(())
    }

    /// The partitions this consumer reads now.
    pub fn assignment(&self) -> BTreeSet<TopicPartition> {
        self.fetcher.assigned().cloned().collect()
    }

    /// The next offset `poll` will hand out for `tp`, once known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.fetcher.position(tp)
    }

    /// `tp`'s high watermark (the offset after the last committed record) as
    /// the last fetch answer for it reported.
    pub fn high_watermark(&self, tp: &TopicPartition) -> Option<i64> {
        self.fetcher.high_watermark(tp)
    }

    /// How far `tp`'s position is behind the log end, as of the last fetch.
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        let (end, position) = (self.fetcher.high_watermark(tp)?, self.fetcher.position(tp)?);
        Some(end.saturating_sub(position).max(0))
    }

    /// The member id the broker gave this consumer, once it joined its group.
    pub fn member_id(&self) -> Option<String> {
        match &self.mode {
            Mode::Group(m) => m.member_id(),
            Mode::Idle | Mode::Manual => None,
        }
    }

    /// The group this consumer commits to: its subscription's, else
    /// [`ConsumerConfig::group_id`].
    pub fn group_id(&self) -> Option<String> {
        match &self.mode {
            Mode::Group(m) => Some(m.group_id().to_string()),
            Mode::Idle | Mode::Manual => self.config.group_id.clone(),
        }
    }

    /// Commits the positions (with auto-commit; those of revoked partitions whose
    /// hand-over a cancelled `poll` left unfinished in any case), leaves the group
    /// so its partitions move at once, and closes the connections. Dropping a
    /// consumer without `close` leaves the group only when its session times out.
    pub async fn close(mut self) -> Result<()> {
        let member = match &self.mode {
            Mode::Group(m) => m.identity().is_some(),
            Mode::Idle | Mode::Manual => self.config.group_id.is_some(),
        };
        let positions = if self.config.auto_commit {
            self.all_positions()
        } else {
            self.revoking.positions()
        };
        // A member that is not in its group right now (joining, fenced) has
        // nothing it may commit.
        let committed = if member {
            self.commit_offsets(&positions).await
        } else {
            Ok(())
        };
        self.fetcher.close().await;
        let left = match std::mem::replace(&mut self.mode, Mode::Idle) {
            Mode::Group(membership) => membership.leave().await,
            Mode::Idle | Mode::Manual => Ok(()),
        };
        self.control.reset().await;
        committed.and(left)
    }

    fn lock_committed(&self) -> std::sync::MutexGuard<'_, HashMap<TopicPartition, i64>> {
        locks::lock(&self.committed)
    }
}
