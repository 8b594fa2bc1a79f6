//! One partition's sending state: the producer id its sequence numbers count
//! under, batches in flight, batches waiting to be sent again, and the gaps left by
//! batches the broker refused.
//!
//! Kept apart from the sender loop because it holds the ordering rules: a failed
//! batch goes back into the retry queue in creation order, the partition sends
//! nothing new while it recovers, and when the last batch in flight has answered,
//! the retry queue is renumbered past any refused batch so the broker sees
//! consecutive sequence numbers again.
//!
//! A batch given up after some attempt of it went out and got no answer that
//! says it was not written (a lost connection, a timeout) may be in the log,
//! whatever a later attempt was told (a new leader that does not know the
//! producer id yet): the broker's next expected sequence is unknown, and a later
//! batch renumbered into its sequence would be taken for it, acknowledged at its
//! offset and dropped. The partition
//! then starts over, as Kafka's producer does: once nothing of it is in flight it
//! takes a producer id the broker has not seen on it (the sender asks for one with
//! InitProducerId) and numbers its waiting batches from 0 again. A waiting batch
//! that had gone out under the old id may then be stored twice; records given up
//! are reported as failed, though one that went out may have been stored.

use std::collections::VecDeque;
use std::time::Instant;

use rill_protocol::ErrorCode;

use crate::error::Error;
use crate::producer::accumulator::Batch;
use crate::producer::config::{Acks, ProducerConfig};

/// A producer id and epoch.
pub(super) type Identity = (i64, i16);

/// A partition's sending state.
#[derive(Debug, Default)]
pub(super) struct Flow {
    /// The producer id the sequence numbers count under (idempotent producers;
    /// `None` before the first batch is stamped).
    pub(super) identity: Option<Identity>,
    /// Base sequence of the next batch stamped.
    pub(super) next_sequence: i32,
    /// Batches of this partition awaiting an answer.
    pub(super) in_flight: usize,
    /// The connection those batches went out on.
    pub(super) conn_id: u64,
    /// Batches to send again, oldest first.
    pub(super) retry: VecDeque<Batch>,
    /// A batch failed: send nothing new until `in_flight` is 0, then the retries.
    pub(super) recovering: bool,
    /// A batch that may have been written was given up: the partition must start
    /// over under a producer id it has not used.
    pub(super) needs_new_id: bool,
    /// `(base sequence, record count)` of batches the broker refused for good.
    holes: Vec<(i32, i32)>,
}

impl Flow {
    /// Handles a failed send of `batch`: queues it for a retry (returns `None`) or
    /// gives it up (returns it with the error to report).
    pub(super) fn failed(
        &mut self,
        mut batch: Batch,
        error: Error,
        idempotent: bool,
        config: &ProducerConfig,
    ) -> Option<(Batch, Error)> {
        let out_of_order = error.code() == Some(ErrorCode::OutOfOrderSequenceNumber);
        // Refused only because an earlier batch of the partition failed: not this
        // batch's fault, so not an attempt.
        let collateral = idempotent && out_of_order && self.recovering;
        if !collateral {
            batch.attempts += 1;
        }
        self.recovering = true;
        if batch.sent && !not_written(&error) {
            batch.in_doubt = true;
        }
        let now = Instant::now();
        let retriable = config.acks != Acks::None
            && (error.is_retriable() || (idempotent && out_of_order))
            && batch.attempts <= config.retries
            && now < batch.created + config.delivery_timeout;
        if retriable {
            let wait = if error.is_leader_move() {
                config.retry_backoff
            } else {
                config.backoff(batch.attempts)
            };
            batch.retry_at = Some(now + wait);
            let at = self
                .retry
                .iter()
                .position(|b| b.id > batch.id)
                .unwrap_or(self.retry.len());
            self.retry.insert(at, batch);
            None
        } else {
            if let Some(sequence) = batch.sequence {
                if !batch.in_doubt {
                    self.holes.push((sequence, batch.count()));
                } else {
                    self.needs_new_id = true;
                }
            }
            Some((batch, error))
        }
    }

    /// Whether the partition waits for a producer id newer than `current`.
    pub(super) fn awaits_id(&self, current: Option<Identity>) -> bool {
        self.needs_new_id && self.in_flight == 0 && self.identity == current
    }

    /// Gets the partition ready to give a batch to connection `conn_id` (`None`:
    /// none could be opened, the batch only fails an attempt) while the producer's
    /// newest id is `current`. Batches that could not be renumbered are pushed to
    /// `failed`. Returns whether the partition may send.
    pub(super) fn may_send(
        &mut self,
        conn_id: Option<u64>,
        current: Option<Identity>,
        max_in_flight: usize,
        failed: &mut Vec<(Batch, Error)>,
    ) -> bool {
        if self.needs_new_id || self.recovering {
            if self.in_flight > 0 {
                return false;
            }
            if !self.needs_new_id {
                failed.extend(self.end_recovery());
            } else if conn_id.is_some() {
                if self.identity == current {
                    return false;
                }
                failed.extend(self.start_over(current));
            }
        }
        if self.in_flight > 0 && Some(self.conn_id) != conn_id {
            return false;
        }
        if self.in_flight >= max_in_flight {
            return false;
        }
        // A partition with nothing stamped outstanding moves to the newest id.
        let stamped_waiting = self.retry.iter().any(|b| b.sequence.is_some());
        if conn_id.is_some()
            && current.is_some()
            && self.identity != current
            && self.in_flight == 0
            && !stamped_waiting
        {
            self.identity = current;
            self.next_sequence = 0;
            self.holes.clear();
        }
        true
    }

    /// Stamps `batch` with the partition's next sequence, unless it has one.
    pub(super) fn stamp(&mut self, batch: &mut Batch) -> crate::Result<()> {
        if let (Some((producer_id, epoch)), None) = (self.identity, batch.sequence) {
            batch.stamp(producer_id, epoch, self.next_sequence)?;
            self.next_sequence = self.next_sequence.wrapping_add(batch.count());
        }
        Ok(())
    }

    /// Moves the partition to producer id `identity` and numbers the stamped
    /// batches waiting for a retry from 0. Returns batches that could not be
    /// stamped, to be failed.
    fn start_over(&mut self, identity: Option<Identity>) -> Vec<(Batch, Error)> {
        self.identity = identity;
        self.needs_new_id = false;
        self.recovering = false;
        self.holes.clear();
        self.next_sequence = 0;
        let Some((producer_id, epoch)) = identity else {
            return Vec::new();
        };
        let mut failed = Vec::new();
        let mut kept = VecDeque::with_capacity(self.retry.len());
        for mut batch in self.retry.drain(..) {
            if batch.sequence.is_none() {
                kept.push_back(batch);
                continue;
            }
            match batch.stamp(producer_id, epoch, self.next_sequence) {
                Ok(()) => {
                    self.next_sequence = self.next_sequence.wrapping_add(batch.count());
                    kept.push_back(batch);
                }
                Err(e) => failed.push((batch, e)),
            }
        }
        self.retry = kept;
        failed
    }

    /// Called when the partition has nothing in flight after a failure: renumbers the
    /// retry queue past the refused batches. Returns batches that could not be
    /// renumbered, to be failed.
    fn end_recovery(&mut self) -> Vec<(Batch, Error)> {
        self.recovering = false;
        let holes = std::mem::take(&mut self.holes);
        let Some((producer_id, epoch)) = self.identity else {
            return Vec::new();
        };
        if holes.is_empty() {
            return Vec::new();
        }
        let mut failed = Vec::new();
        let mut kept = VecDeque::with_capacity(self.retry.len());
        for mut batch in self.retry.drain(..) {
            let Some(sequence) = batch.sequence else {
                kept.push_back(batch);
                continue;
            };
            let shift: i32 = holes
                .iter()
                .filter(|(s, _)| *s < sequence)
                .map(|(_, count)| count)
                .sum();
            if shift == 0 {
                kept.push_back(batch);
                continue;
            }
            match batch.stamp(producer_id, epoch, sequence.wrapping_sub(shift)) {
                Ok(()) => kept.push_back(batch),
                Err(e) => failed.push((batch, e)),
            }
        }
        self.retry = kept;
        let gap: i32 = holes.iter().map(|(_, count)| count).sum();
        self.next_sequence = self.next_sequence.wrapping_sub(gap);
        failed
    }
}

/// Whether `error` means the broker refused the batch without writing any of it
/// (a storage failure or an unknown error may have written it).
fn not_written(error: &Error) -> bool {
    match error {
        Error::Broker { code, .. } => !matches!(
            code,
            ErrorCode::StorageError | ErrorCode::Unknown | ErrorCode::Other(_)
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use rill_protocol::BatchHeader;

    use super::*;
    use crate::producer::accumulator::{Accumulator, NewRecord};

    /// A closed batch of `records` records for partition 0 of topic `t`.
    fn batch(acc: &mut Accumulator, config: &ProducerConfig, records: usize) -> Batch {
        for _ in 0..records {
            let record = NewRecord {
                key: None,
                value: Some(b"v"),
                headers: &[],
                timestamp: 0,
                memory: 30,
            };
            let _ = acc.append(config, "t", record).expect("append");
        }
        acc.topics[0].close_open(0);
        acc.topics[0].partitions[0]
            .ready
            .pop_front()
            .expect("a closed batch")
    }

    /// A flow under producer id 7 that stamped a batch of 2 records (sequence 0)
    /// and one of 1 (sequence 2), both in flight; and the two batches.
    fn two_in_flight(config: &ProducerConfig) -> (Flow, Batch, Batch) {
        let mut acc = Accumulator::default();
        acc.set_partition_count("t", 1, 0);
        let mut flow = Flow::default();
        let mut failed = Vec::new();
        assert!(flow.may_send(Some(1), Some((7, 0)), 5, &mut failed));
        let (mut first, mut second) = (batch(&mut acc, config, 2), batch(&mut acc, config, 1));
        flow.stamp(&mut first).expect("stamp");
        flow.stamp(&mut second).expect("stamp");
        assert_eq!((first.sequence, second.sequence), (Some(0), Some(2)));
        flow.in_flight = 2;
        flow.conn_id = 1;
        (flow, first, second)
    }

    fn lost(reason: &str) -> Error {
        Error::ConnectionLost {
            addr: "b:1".into(),
            reason: reason.into(),
        }
    }

    fn out_of_order() -> Error {
        Error::broker(ErrorCode::OutOfOrderSequenceNumber, None)
    }

    /// Producer id and base sequence written in `batch`'s header.
    fn header(batch: &Batch) -> (i64, i32) {
        let header = BatchHeader::parse(&batch.bytes).expect("header");
        (header.producer.producer_id, header.producer.base_sequence)
    }

    #[test]
    fn a_batch_given_up_before_it_left_is_a_hole_the_next_ones_fill() {
        let config = ProducerConfig::new().retries(0);
        let (mut flow, first, second) = two_in_flight(&config);
        // The first never went out (the connection was gone): given up, and its
        // sequence numbers are free again.
        flow.in_flight -= 1;
        let given_up = flow.failed(first, lost("before sending"), true, &config);
        assert!(given_up.is_some());
        // The second was refused because of the first: retried, not an attempt.
        flow.in_flight -= 1;
        let mut second = second;
        second.sent = true;
        assert!(flow.failed(second, out_of_order(), true, &config).is_none());
        assert!(!flow.needs_new_id);
        let mut failed = Vec::new();
        assert!(flow.may_send(Some(2), Some((7, 0)), 5, &mut failed));
        assert!(failed.is_empty());
        let retry = flow.retry.front().expect("queued for a retry");
        assert_eq!(retry.sequence, Some(0));
        assert_eq!(header(retry), (7, 0));
        assert_eq!(flow.next_sequence, 1);
    }

    #[test]
    fn a_batch_given_up_after_it_left_starts_the_partition_over_under_a_new_id() {
        let config = ProducerConfig::new().retries(0);
        let (mut flow, mut first, mut second) = two_in_flight(&config);
        first.sent = true;
        second.sent = true;
        flow.in_flight -= 1;
        assert!(flow
            .failed(first, lost("answer lost"), true, &config)
            .is_some());
        flow.in_flight -= 1;
        assert!(flow.failed(second, out_of_order(), true, &config).is_none());
        assert!(flow.needs_new_id, "the first may have been written");
        assert!(flow.awaits_id(Some((7, 0))));

        // Without a connection its batches still fail their attempts; on one, it
        // waits for a new producer id.
        let mut failed = Vec::new();
        assert!(flow.may_send(None, Some((7, 0)), 5, &mut failed));
        assert!(!flow.may_send(Some(2), Some((7, 0)), 5, &mut failed));
        assert_eq!(flow.identity, Some((7, 0)));

        assert!(flow.may_send(Some(2), Some((8, 0)), 5, &mut failed));
        assert!(failed.is_empty());
        assert!(!flow.needs_new_id && !flow.awaits_id(Some((8, 0))));
        assert_eq!(flow.identity, Some((8, 0)));
        let retry = flow.retry.front().expect("queued for a retry");
        assert_eq!(header(retry), (8, 0), "numbered from 0 under the new id");
        assert_eq!(flow.next_sequence, 1);
    }

    #[test]
    fn a_batch_lost_in_flight_once_is_never_a_hole_whatever_it_is_told_later() {
        let config = ProducerConfig::new();
        let (mut flow, mut first, _second) = two_in_flight(&config);
        first.sent = true;
        flow.in_flight -= 1;
        // The answer to its first attempt was lost: the old leader may have
        // written it (and a new leader may hold it at sequence 0).
        assert!(flow
            .failed(first, lost("answer lost"), true, &config)
            .is_none());
        let first = flow.retry.pop_front().expect("queued for a retry");
        // The next attempt is refused outright.
        let unknown = Error::broker(ErrorCode::UnknownProducerId, None);
        assert!(flow.failed(first, unknown, true, &config).is_some());
        assert!(
            flow.needs_new_id,
            "its sequence may be in the log: a later batch must not reuse it"
        );
        assert!(flow.holes.is_empty());
    }

    #[test]
    fn an_idle_partition_moves_to_the_newest_id() {
        let config = ProducerConfig::new();
        let (mut flow, _first, _second) = two_in_flight(&config);
        let mut failed = Vec::new();
        // Busy under id 7: stays on it.
        assert!(flow.may_send(Some(1), Some((9, 0)), 5, &mut failed));
        assert_eq!((flow.identity, flow.next_sequence), (Some((7, 0)), 3));
        flow.in_flight = 0;
        assert!(flow.may_send(Some(1), Some((9, 0)), 5, &mut failed));
        assert_eq!((flow.identity, flow.next_sequence), (Some((9, 0)), 0));
    }

    /// One batch of one record, not yet sent, for partition 0 of topic `t`.
    fn lone_batch(config: &ProducerConfig) -> Batch {
        let mut acc = Accumulator::default();
        acc.set_partition_count("t", 1, 0);
        batch(&mut acc, config, 1)
    }

    /// How long after now `flow` waits to send its first queued retry.
    fn queued_wait(flow: &mut Flow) -> (Batch, std::time::Duration) {
        let retry = flow.retry.pop_front().expect("queued for a retry");
        let at = retry.retry_at.expect("a retry time");
        let wait = at.saturating_duration_since(Instant::now());
        (retry, wait)
    }

    #[test]
    fn a_moved_leader_is_retried_after_the_first_backoff_however_often_it_failed() {
        use std::time::Duration;
        let config = ProducerConfig::new();
        let mut flow = Flow::default();
        let mut batch = lone_batch(&config);
        batch.attempts = 8;
        let not_leader = Error::broker(ErrorCode::NotLeaderOrFollower, None);
        assert!(flow.failed(batch, not_leader, false, &config).is_none());
        let (mut batch, wait) = queued_wait(&mut flow);
        assert!(wait <= Duration::from_millis(100), "waited {wait:?}");

        // A timeout after as many failures waits the longest backoff instead.
        let timeout = Error::Timeout {
            what: "a Produce answer".into(),
            after: Duration::from_secs(30),
        };
        batch.attempts = 8;
        assert!(flow.failed(batch, timeout, false, &config).is_none());
        let (_, wait) = queued_wait(&mut flow);
        assert!(wait > Duration::from_millis(900), "waited {wait:?}");
    }

    #[test]
    fn a_batch_failing_after_the_delivery_timeout_is_given_up() {
        use std::time::Duration;
        let config = ProducerConfig::new();
        let mut flow = Flow::default();
        let mut batch = lone_batch(&config);
        batch.created = Instant::now()
            .checked_sub(Duration::from_secs(121))
            .expect("an instant 121 s ago");
        let given_up = flow.failed(batch, lost("refused"), false, &config);
        assert!(
            given_up.is_some(),
            "retried past the 120 s delivery timeout"
        );
        assert!(flow.retry.is_empty());

        let mut batch = lone_batch(&config);
        batch.attempts = 1_000;
        assert!(
            flow.failed(batch, lost("refused"), false, &config)
                .is_none(),
            "the number of attempts alone gives nothing up"
        );
    }
}
