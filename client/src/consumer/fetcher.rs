//! The consumer's partitions, their positions, and the fetch kept in flight.
//!
//! Each assigned partition has a *position* (the next offset to hand to the
//! application, what a commit stores) and a *fetch position* (the next offset to ask
//! the broker for). Fetched records wait in a buffer of per-partition chunks until
//! `poll` hands them out; the position follows what was handed out. At most one
//! Fetch is in flight (there is one broker), and it is sent as soon as the previous
//! answer is taken, so the broker is already reading the next records while the
//! application processes the current ones.
//!
//! Invariants:
//! - A partition with records in the buffer is not fetched again until `poll` is
//!   about to hand out the last of them (the next fetch is sent just before they
//!   are taken, with no await in between), so its records come out in offset order
//!   with no gap or repeat.
//! - Positions move only in [`Fetcher::take`], which does not await: records are
//!   either still buffered or handed out, never lost to a cancelled `poll`.
//! - An answer is used for a partition only if the partition is still assigned and
//!   its fetch position is still the offset that was asked for; anything else
//!   (revoked, sought, reset meanwhile) is dropped.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchResponse, FetchTopic};
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::ErrorCode;
use tokio::time::Instant;

use super::config::ConsumerConfig;
use super::link::Link;
use super::offsets::by_topic;
use super::record::{decode, ConsumerRecord, TopicPartition};
use crate::connection::PendingResponse;
use crate::error::{Error, Result};

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
}

#[derive(Debug)]
struct InFlight {
    pending: PendingResponse,
    offsets: HashMap<TopicPartition, i64>,
    deadline: Instant,
}

/// Assigned partitions, buffered records and the in-flight fetch.
#[derive(Debug)]
pub(crate) struct Fetcher {
    config: Arc<ConsumerConfig>,
    link: Link,
    partitions: BTreeMap<TopicPartition, PartitionState>,
    buffer: VecDeque<Chunk>,
    in_flight: Option<InFlight>,
    topics: HashMap<String, Arc<str>>,
}

impl Fetcher {
    /// A fetcher with no partitions, fetching over `link`.
    pub(crate) fn new(config: Arc<ConsumerConfig>, link: Link) -> Fetcher {
        Fetcher {
            config,
            link,
            partitions: BTreeMap::new(),
            buffer: VecDeque::new(),
            in_flight: None,
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

    /// The partitions that [`take`](Fetcher::take)`(max)` would leave with no
    /// buffered records (of those that have some now).
    fn drained_by(&self, max: usize) -> HashSet<&TopicPartition> {
        let mut left = max;
        let mut drained = HashSet::new();
        let mut kept = HashSet::new();
        for chunk in &self.buffer {
            let n = left.min(chunk.records.len());
            left -= n;
            if n == chunk.records.len() {
                drained.insert(&chunk.tp);
            } else {
                kept.insert(&chunk.tp);
            }
        }
        drained.retain(|tp| !kept.contains(tp));
        drained
    }

    /// Sends a fetch for every positioned partition without buffered records,
    /// counting those the next `take(taking)` empties as without (pass 0 when
    /// nothing will be taken), unless a fetch is in flight or there is nothing to
    /// fetch. Cancel-safe: nothing changes unless the fetch was sent.
    pub(crate) async fn ensure_in_flight(&mut self, taking: usize) -> Result<()> {
        if self.in_flight.is_some() {
            return Ok(());
        }
        let drained = self.drained_by(taking);
        let offsets: HashMap<TopicPartition, i64> = self
            .partitions
            .iter()
            .filter(|(tp, s)| {
                matches!(s.position, Position::At(_))
                    && (drained.contains(tp) || !self.buffer.iter().any(|c| c.tp == **tp))
            })
            .map(|(tp, s)| (tp.clone(), s.fetch_position))
            .collect();
        if offsets.is_empty() {
            return Ok(());
        }
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
        let conn = self.link.get().await?;
        let pending = conn.submit(RequestBody::Fetch(request))?;
        self.in_flight = Some(InFlight {
            pending,
            offsets,
            deadline,
        });
        Ok(())
    }

    /// Waits for the in-flight fetch's answer and buffers its records; never
    /// resolves when none is in flight. Cancel-safe: dropping the future leaves the
    /// fetch in flight.
    pub(crate) async fn complete(&mut self) -> Result<()> {
        let Some(in_flight) = self.in_flight.as_mut() else {
            return std::future::pending().await;
        };
        let answer = tokio::time::timeout_at(in_flight.deadline, &mut in_flight.pending).await;
        if answer.is_err() {
            // Reset before forgetting the fetch: if this is cancelled meanwhile,
            // the next call times out again at once and resets then.
            self.link.reset().await;
        }
        let Some(in_flight) = self.in_flight.take() else {
            return Ok(());
        };
        let body = match answer {
            Ok(body) => body?,
            Err(_) => {
                return Err(Error::Timeout {
                    what: format!("a fetch answer from {}", self.link.addr()),
                    after: self.config.fetch_max_wait + self.config.request_timeout,
                });
            }
        };
        let ResponseBody::Fetch(response) = body else {
            return Err(Error::Protocol {
                addr: self.link.addr().to_string(),
                detail: "expected a Fetch response".to_string(),
            });
        };
        self.absorb(response, &in_flight.offsets)
    }

    /// Buffers the records of a fetch answer; returns the first partition error
    /// (other than an offset out of range, which resets the position) after
    /// taking in every other partition.
    fn absorb(
        &mut self,
        response: FetchResponse,
        asked: &HashMap<TopicPartition, i64>,
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
                let decoded = match decode(&name, p.partition, offset, &p.records, &self.config) {
                    Ok(d) => d,
                    Err(Error::Protocol { detail, .. }) => {
                        first_error.get_or_insert(Error::Protocol {
                            addr: self.link.addr().to_string(),
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
                if decoded.records.is_empty() {
                    state.position = Position::At(decoded.next_offset);
                } else {
                    self.buffer.push_back(Chunk {
                        tp,
                        records: decoded.records.into(),
                        next_offset: decoded.next_offset,
                    });
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

    /// Closes the fetch connection (the consumer is closing).
    pub(crate) async fn close(&mut self) {
        self.in_flight = None;
        self.link.reset().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::ConnectionOptions;

    fn fetcher_with(chunks: &[(i32, i64, usize)]) -> Fetcher {
        let link = Link::new("127.0.0.1:1".into(), ConnectionOptions::default());
        let mut f = Fetcher::new(Arc::new(ConsumerConfig::default()), link);
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
            });
        }
        f
    }

    #[test]
    fn drained_by_names_exactly_the_partitions_take_empties() {
        let f = fetcher_with(&[(0, 10, 3), (1, 0, 4), (2, 5, 1)]);
        let names = |max| {
            let mut v: Vec<i32> = f.drained_by(max).iter().map(|tp| tp.partition).collect();
            v.sort_unstable();
            v
        };
        assert_eq!(names(0), Vec::<i32>::new());
        assert_eq!(names(3), vec![0]);
        assert_eq!(names(6), vec![0]);
        assert_eq!(names(7), vec![0, 1]);
        assert_eq!(names(100), vec![0, 1, 2]);
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
