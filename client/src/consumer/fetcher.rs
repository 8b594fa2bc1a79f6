//! The consumer's partitions, their positions, and the fetches kept in flight.
//!
//! Each assigned partition has a *position* (the next offset to hand to the
//! application, what a commit stores) and a *fetch position* (the next offset to ask
//! the broker for). Fetched records wait in a buffer of per-partition chunks until
//! `poll` hands them out; the position follows what was handed out. Each partition
//! is fetched from its leader (the router's view of the metadata) on a fetch
//! connection per broker. Up to `max_in_flight_fetches` Fetch requests are in
//! flight to each broker, and a partition is asked for again as soon as the
//! answer for it is decoded (its fetch position is then known), so the broker is
//! already reading the next records while earlier ones cross the socket and the
//! application processes others.
//!
//! Invariants:
//! - A partition is in at most one in-flight fetch, asked from its fetch position;
//!   each answer advances the fetch position to the offset after its records, so
//!   a partition's chunks join the buffer in offset order with no gap or repeat.
//!   Answers on one connection are taken in the order the fetches were sent.
//! - A connection that fails or times out takes its fetches with it (their
//!   partitions are asked again from their fetch positions), and the partitions
//!   of that broker, like any a broker refused as not its leader, wait for the
//!   metadata to name their leader again.
//! - No fetch is sent while the buffered record bytes (as fetched) exceed
//!   `fetch_buffer_bytes`: the buffer holds at most that plus the answers in flight.
//! - Positions move only in [`Fetcher::take`], which does not await: records are
//!   either still buffered or handed out, never lost to a cancelled `poll`.
//! - An answer is used for a partition only if the partition is still assigned and
//!   its fetch position is still the offset that was asked for; anything else
//!   (revoked, sought, reset meanwhile) is dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::ErrorCode;
use tokio::time::Instant;

use super::config::ConsumerConfig;
use super::offsets::by_topic;
use super::record::{decode, ConsumerRecord, TopicPartition};
use crate::connection::{Connection, PendingResponse};
use crate::error::{Error, Result};
use crate::routing::{poll_oldest_per_connection, Router};

/// Where a partition will be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// Not known yet: the committed offset, else the reset policy.
    Unknown,
    /// Apply the reset policy (the position fell outside the log).
    Reset,
    /// At this offset.
    At(i64),
}

#[derive(Debug)]
struct PartitionState {
    position: Position,
    fetch_position: i64,
    high_watermark: Option<i64>,
}

#[derive(Debug)]
struct Chunk {
    tp: TopicPartition,
    records: VecDeque<ConsumerRecord>,
    /// The partition's position once the chunk is handed out.
    next_offset: i64,
    /// Record bytes of the fetch answer the chunk came from.
    bytes: usize,
}

#[derive(Debug)]
struct InFlight {
    conn: Connection,
    pending: PendingResponse,
    offsets: HashMap<TopicPartition, i64>,
    deadline: Instant,
}

/// Assigned partitions, buffered records and the in-flight fetches.
#[derive(Debug)]
pub(crate) struct Fetcher {
    config: Arc<ConsumerConfig>,
    /// Leaders, and the fetch connections to them.
    router: Router,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    buffer: VecDeque<Chunk>,
    /// Oldest first, as the answers will come.
    in_flight: VecDeque<InFlight>,
    topics: HashMap<String, Arc<str>>,
}

impl Fetcher {
    /// A fetcher with no partitions, fetching through `router`.
    pub(crate) fn new(config: Arc<ConsumerConfig>, router: Router) -> Fetcher {
        Fetcher {
            config,
            router,
            partitions: BTreeMap::new(),
            buffer: VecDeque::new(),
            in_flight: VecDeque::new(),
            topics: HashMap::new(),
        }
    }

    /// The assigned partitions.
    pub(crate) fn assigned(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.keys()
    }

    /// Whether `tp` is assigned.
    pub(crate) fn contains(&self, tp: &TopicPartition) -> bool {
        self.partitions.contains_key(tp)
    }

    /// Adds `tp` with an unknown position (kept as is if already assigned).
    pub(crate) fn add(&mut self, tp: TopicPartition) {
        self.partitions.entry(tp).or_insert(PartitionState {
            position: Position::Unknown,
            fetch_position: -1,
            high_watermark: None,
        });
    }

    /// Removes `tp`, dropping its buffered records; returns its position if known.
    pub(crate) fn remove(&mut self, tp: &TopicPartition) -> Option<i64> {
        self.buffer.retain(|c| c.tp != *tp);
        match self.partitions.remove(tp)?.position {
            Position::At(offset) => Some(offset),
            Position::Unknown | Position::Reset => None,
        }
    }

    /// Drops every partition and buffered record.
    pub(crate) fn clear(&mut self) {
        self.partitions.clear();
        self.buffer.clear();
    }

    /// `tp`'s position, if known.
    pub(crate) fn position(&self, tp: &TopicPartition) -> Option<i64> {
        match self.partitions.get(tp)?.position {
            Position::At(offset) => Some(offset),
            Position::Unknown | Position::Reset => None,
        }
    }

    /// Every known position.
    pub(crate) fn positions(&self) -> Vec<(TopicPartition, i64)> {
        self.partitions
            .iter()
            .filter_map(|(tp, s)| match s.position {
                Position::At(offset) => Some((tp.clone(), offset)),
                Position::Unknown | Position::Reset => None,
            })
            .collect()
    }

    /// The last high watermark the broker reported for `tp`.
    pub(crate) fn high_watermark(&self, tp: &TopicPartition) -> Option<i64> {
        self.partitions.get(tp)?.high_watermark
    }

    /// Partitions waiting for a position, with what they wait for.
    pub(crate) fn unpositioned(&self) -> Vec<(TopicPartition, Position)> {
        self.partitions
            .iter()
            .filter(|(_, s)| !matches!(s.position, Position::At(_)))
            .map(|(tp, s)| (tp.clone(), s.position))
            .collect()
    }

    /// Moves `tp` (if assigned) to `offset`, dropping its buffered records.
    pub(crate) fn seek(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(state) = self.partitions.get_mut(tp) {
            state.position = Position::At(offset);
            state.fetch_position = offset;
            self.buffer.retain(|c| c.tp != *tp);
        }
    }

    /// Whether records are waiting to be handed out.
    pub(crate) fn has_buffered(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Hands out up to `max` buffered records, advancing positions past them.
    pub(crate) fn take(&mut self, max: usize) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(chunk) = self.buffer.front_mut() else {
                break;
            };
            let n = (max - out.len()).min(chunk.records.len());
            out.extend(chunk.records.drain(..n));
            let position = if chunk.records.is_empty() {
                chunk.next_offset
            } else {
                out.last()
                    .map_or(chunk.next_offset, |r| r.offset.saturating_add(1))
            };
            if let Some(state) = self.partitions.get_mut(&chunk.tp) {
                state.position = Position::At(position);
            }
            if chunk.records.is_empty() {
                self.buffer.pop_front();
            }
        }
        out
    }

    /// Record bytes waiting in the buffer (counted as fetched, per chunk).
    fn buffered_bytes(&self) -> usize {
        self.buffer.iter().map(|c| c.bytes).sum()
    }

    /// Whether a fetch for `tp` is in flight.
    fn is_in_flight(&self, tp: &TopicPartition) -> bool {
        self.in_flight.iter().any(|f| f.offsets.contains_key(tp))
    }

    /// Sends each leader with fewer than `max_in_flight_fetches` fetches in
    /// flight a fetch for its positioned partitions not in one, unless the
    /// buffer holds more than `fetch_buffer_bytes`. Partitions with no known leader
    /// get a metadata refresh (at most one per `retry_backoff`); if some still have
    /// none, or a leader cannot be reached, the others are sent and that is
    /// returned (the consumer retries after its backoff). Cancel-safe: nothing
    /// changes for a partition unless its fetch was sent.
    pub(crate) async fn ensure_in_flight(&mut self) -> Result<()> {
        if self.buffered_bytes() > self.config.fetch_buffer_bytes {
            return Ok(());
        }
        let wanted: Vec<(TopicPartition, i64)> = self
            .partitions
            .iter()
            .filter(|(tp, s)| matches!(s.position, Position::At(_)) && !self.is_in_flight(tp))
            .map(|(tp, s)| (tp.clone(), s.fetch_position))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let interval = self.config.retry_backoff;
        let routes = self.router.route(wanted, partition_of, interval).await;
        let mut failure = routes.failure(partition_of);
        let routed = routes.routed;
        for (addr, partitions) in routed {
            let to_addr = self.in_flight.iter().filter(|f| f.conn.addr() == addr);
            if to_addr.count() >= self.config.max_in_flight_fetches {
                continue;
            }
            if let Err(e) = self.send(&addr, partitions.into_iter().collect()).await {
                self.router.note_failure(&e, &addr);
                failure.get_or_insert(e);
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Sends one Fetch for `offsets` to the broker at `addr`.
    async fn send(&mut self, addr: &str, offsets: HashMap<TopicPartition, i64>) -> Result<()> {
        let config = &self.config;
        let request = FetchRequest {
            max_wait_ms: config.max_wait_ms(),
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes,
            topics: by_topic(offsets.iter().map(|(tp, o)| (tp.clone(), *o)))
                .into_iter()
                .map(|(name, ps)| FetchTopic {
                    name,
                    partitions: ps
                        .into_iter()
                        .map(|(partition, fetch_offset)| FetchPartition {
                            partition,
                            fetch_offset,
                            partition_max_bytes: config.partition_max_bytes,
                        })
                        .collect(),
                })
                .collect(),
        };
        let deadline = Instant::now() + config.fetch_max_wait + config.request_timeout;
        let conn = self.router.connection(addr).await?;
        let pending = conn.submit(RequestBody::Fetch(request))?;
        self.in_flight.push_back(InFlight {
            conn,
            pending,
            offsets,
            deadline,
        });
        Ok(())
    }

    /// Waits for the next answer (the oldest fetch in flight on some connection)
    /// and buffers its records; never resolves when none is in flight.
    /// Cancel-safe: dropping the future leaves every fetch in flight. When an
    /// answer is an error or a fetch's deadline passes first, the fetches on that
    /// connection are forgotten (their partitions are asked again from their
    /// fetch positions) and the connection is closed.
    pub(crate) async fn complete(&mut self) -> Result<()> {
        let Some(deadline) = self.in_flight.iter().map(|f| f.deadline).min() else {
            return std::future::pending().await;
        };
        let in_flight = &mut self.in_flight;
        let answered = tokio::time::timeout_at(
            deadline,
            std::future::poll_fn(|cx| {
                poll_oldest_per_connection(
                    in_flight,
                    cx,
                    |f| f.conn.id(),
                    |f, cx| Pin::new(&mut f.pending).poll(cx),
                )
            }),
        )
        .await;
        let (at, answer) = match answered {
            Ok(answered) => answered,
            Err(_) => {
                let Some(late) = self.in_flight.iter().find(|f| f.deadline <= deadline) else {
                    return Ok(());
                };
                let conn = late.conn.clone();
                let error = Error::Timeout {
                    what: format!("a fetch answer from {}", conn.addr()),
                    after: self.config.fetch_max_wait + self.config.request_timeout,
                };
                self.abandon(&conn, &error);
                return Err(error);
            }
        };
        let Some(fetch) = self.in_flight.remove(at) else {
            return Ok(());
        };
        let body = match answer {
            Ok(body) => body,
            Err(e) => {
                self.abandon(&fetch.conn, &e);
                return Err(e);
            }
        };
        let ResponseBody::Fetch(response) = body else {
            let error = Error::Protocol {
                addr: fetch.conn.addr().to_string(),
                detail: "expected a Fetch response".to_string(),
            };
            self.abandon(&fetch.conn, &error);
            return Err(error);
        };
        self.absorb(response, &fetch.offsets, fetch.conn.addr())
    }

    /// Forgets the fetches in flight on `conn` and closes it, after `error`.
    fn abandon(&mut self, conn: &Connection, error: &Error) {
        self.in_flight.retain(|f| f.conn.id() != conn.id());
        conn.close();
        self.router.note_failure(error, conn.addr());
    }

    /// Buffers the records of a fetch answer; returns the first partition error
    /// (other than an offset out of range, which resets the position) after
    /// taking in every other partition.
    fn absorb(
        &mut self,
        response: FetchResponse,
        asked: &HashMap<TopicPartition, i64>,
        addr: &str,
    ) -> Result<()> {
        let mut first_error = None;
        for topic in response.topics {
            for p in topic.partitions {
                let tp = TopicPartition::new(&topic.name, p.partition);
                let Some(&offset) = asked.get(&tp) else {
                    continue;
                };
                let Some(state) = self.partitions.get_mut(&tp) else {
                    continue;
                };
                if state.fetch_position != offset || !matches!(state.position, Position::At(_)) {
                    continue;
                }
                match p.error_code {
                    ErrorCode::None => {}
                    ErrorCode::OffsetOutOfRange => {
                        tracing::info!(partition = %tp, offset, "offset out of range; resetting");
                        state.position = Position::Reset;
                        continue;
                    }
                    code => {
                        let error =
                            Error::broker_at(code, p.error_message, &tp.topic, Some(tp.partition));
                        self.router.note_failure(&error, addr);
                        first_error.get_or_insert(error);
                        continue;
                    }
                }
                state.high_watermark = Some(p.high_watermark);
                // Only names of partitions that were asked for are kept.
                let name = match self.topics.get(topic.name.as_str()) {
                    Some(name) => Arc::clone(name),
                    None => {
                        let name: Arc<str> = Arc::from(topic.name.as_str());
                        self.topics.insert(topic.name.clone(), Arc::clone(&name));
                        name
                    }
                };
                let bytes = p.records.len();
                let decoded = match decode(&name, p.partition, offset, &p.records, &self.config) {
                    Ok(d) => d,
                    Err(Error::Protocol { detail, .. }) => {
                        first_error.get_or_insert(Error::Protocol {
                            addr: addr.to_string(),
                            detail,
                        });
                        continue;
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                        continue;
                    }
                };
                state.fetch_position = decoded.next_offset;
                if !decoded.records.is_empty() {
                    self.buffer.push_back(Chunk {
                        tp,
                        records: decoded.records.into(),
                        next_offset: decoded.next_offset,
                        bytes,
                    });
                } else if let Some(last) = self.buffer.iter_mut().rev().find(|c| c.tp == tp) {
                    // Skipped offsets after buffered records: the position passes
                    // them once those records are handed out.
                    last.next_offset = decoded.next_offset;
                } else {
                    state.position = Position::At(decoded.next_offset);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sets the position of `tp` (if still assigned and still unpositioned).
    pub(crate) fn set_position(&mut self, tp: &TopicPartition, offset: i64) {
        if let Some(state) = self.partitions.get_mut(tp) {
            if !matches!(state.position, Position::At(_)) {
                state.position = Position::At(offset);
                state.fetch_position = offset;
            }
        }
    }

    /// Marks `tp` for the reset policy (no committed offset).
    pub(crate) fn mark_reset(&mut self, tp: &TopicPartition) {
        if let Some(state) = self.partitions.get_mut(tp) {
            if state.position == Position::Unknown {
                state.position = Position::Reset;
            }
        }
    }

    /// Closes the fetch connections (the consumer is closing).
    pub(crate) async fn close(&mut self) {
        self.in_flight.clear();
        self.router.close().await;
    }
}

/// The topic and partition of a partition's fetch offset.
fn partition_of((tp, _): &(TopicPartition, i64)) -> (&str, i32) {
    (tp.topic.as_str(), tp.partition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::ConnectionOptions;

    /// A router whose one broker cannot be reached.
    fn unreachable() -> Router {
        Router::new("127.0.0.1:1", ConnectionOptions::default()).expect("one address")
    }

    fn fetcher_with(chunks: &[(i32, i64, usize)]) -> Fetcher {
        let mut f = Fetcher::new(Arc::new(ConsumerConfig::default()), unreachable());
        for &(partition, first, count) in chunks {
            let tp = TopicPartition::new("t", partition);
            f.add(tp.clone());
            f.set_position(&tp, first);
            let end = first + count as i64;
            let records = (first..end)
                .map(|offset| ConsumerRecord {
                    topic: Arc::from("t"),
                    partition,
                    offset,
                    timestamp: 0,
                    key: None,
                    value: None,
                    headers: Vec::new(),
                })
                .collect();
            f.buffer.push_back(Chunk {
                tp,
                records,
                next_offset: end,
                bytes: count,
            });
        }
        f
    }

    #[tokio::test]
    async fn no_fetch_is_sent_while_the_buffer_holds_more_than_its_cap() {
        let config = ConsumerConfig::default().fetch_buffer_bytes(100);
        let mut f = Fetcher::new(Arc::new(config), unreachable());
        let tp = TopicPartition::new("t", 0);
        f.add(tp.clone());
        f.set_position(&tp, 0);
        f.buffer.push_back(Chunk {
            tp: tp.clone(),
            records: VecDeque::new(),
            next_offset: 0,
            bytes: 101,
        });
        f.ensure_in_flight()
            .await
            .expect("nothing sent, nothing failed");
        assert!(f.in_flight.is_empty());
        // Within the cap a fetch is due: it tries the (unreachable) broker.
        f.buffer[0].bytes = 100;
        assert!(f.ensure_in_flight().await.is_err());
    }

    #[test]
    fn take_moves_positions_only_past_what_it_returns() {
        let mut f = fetcher_with(&[(0, 10, 3), (1, 0, 4)]);
        let tp = |p| TopicPartition::new("t", p);
        let out = f.take(5);
        assert_eq!(out.len(), 5);
        assert_eq!(f.position(&tp(0)), Some(13));
        assert_eq!(f.position(&tp(1)), Some(2));
        let out = f.take(5);
        assert_eq!(out.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(f.position(&tp(1)), Some(4));
        assert!(!f.has_buffered());
    }
}
