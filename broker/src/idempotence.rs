//! Duplicate detection for idempotent producers, per partition.
//!
//! A producer with an id stamps each batch with its epoch and the sequence number
//! of its first record; sequences of one producer on one partition run 0, 1, 2, …
//! with no gaps. The partition remembers, per producer, the last [`REMEMBERED`]
//! batches it appended (first and last sequence, base offset). A batch equal to
//! one of them is a retry of something already written: it is answered with the
//! original offset and not written again. A batch that does not continue the
//! sequence is refused, so a lost batch is never silently skipped.
//!
//! A producer's first batch on a partition must carry sequence 0 when the
//! partition has seen all of the producer's batches ([`History::Complete`]). The
//! state lives in memory, so for an id issued before the broker last started
//! ([`History::SinceRestart`]) the first batch is accepted at whatever sequence it
//! carries, and a retry that straddles a restart is not recognised as a duplicate.
//!
//! On a replicated partition a batch is recorded when it is handed to the
//! partition's Raft group, before it is committed, so the producer's next batch
//! (pipelined on the same connection) is checked against it; its base offset is
//! then a [`Landing::Pending`] until the group answers. A retry of a batch still
//! pending waits for that answer.
//!
//! A replicated partition's leader rebuilds the state from the batches in its log
//! whenever it starts leading in a new term ([`ProducerStates::from_log`]): the
//! batches that reached it by replication went past its state, and the log holds
//! every batch the group ever committed, so after the rebuild its history of
//! every producer is complete.

use std::collections::{HashMap, VecDeque};

use rill_protocol::{ErrorCode, ProducerInfo, RecordBatch};
use rill_storage::Log;
use tokio::sync::watch;

use crate::api_error::ApiError;
use crate::producer_ids::History;

/// Batches remembered per producer and partition (Kafka remembers 5 too, the
/// most a producer has in flight).
pub const REMEMBERED: usize = 5;

/// The outcome a pending batch's [`Landing`] is told: its base offset, or why
/// it was not written (`None` until the partition's group answers).
pub type Landed = Option<Result<i64, String>>;

/// Where a remembered batch landed.
#[derive(Debug, Clone)]
pub enum Landing {
    /// At this base offset.
    At(i64),
    /// Handed to the partition's Raft group, which has not answered yet; the
    /// receiver is told when it does.
    Pending(watch::Receiver<Landed>),
}

impl PartialEq for Landing {
    fn eq(&self, other: &Landing) -> bool {
        match (self, other) {
            (Landing::At(a), Landing::At(b)) => a == b,
            (Landing::Pending(a), Landing::Pending(b)) => a.same_channel(b),
            _ => false,
        }
    }
}

impl Landing {
    /// The base offset once known: waits for a pending batch's answer, and
    /// fails with its reason when it was not written.
    pub async fn base_offset(self) -> Result<i64, String> {
        let mut pending = match self {
            Landing::At(offset) => return Ok(offset),
            Landing::Pending(pending) => pending,
        };
        let answered = pending.wait_for(Option::is_some).await;
        match answered.as_deref() {
            Ok(Some(outcome)) => outcome.clone(),
            _ => Err("the batch this one repeats was abandoned before it was written".to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Appended {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: Landing,
}

#[derive(Debug, Default)]
struct Producer {
    epoch: i16,
    recent: VecDeque<Appended>,
}

/// What to do with an idempotent batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Write it.
    Append,
    /// Already written (or being written) where this says: answer with that
    /// base offset, write nothing.
    Duplicate(Landing),
}

/// The first batch of a producer on a partition: its sequence must be 0.
fn first_batch(producer: &ProducerInfo) -> Result<Verdict, ApiError> {
    if producer.base_sequence == 0 {
        return Ok(Verdict::Append);
    }
    Err(ApiError::new(
        ErrorCode::OutOfOrderSequenceNumber,
        format!(
            "producer {} epoch {} sent sequence {} as its first batch to this partition: \
             a producer's first batch to a partition has sequence 0",
            producer.producer_id, producer.producer_epoch, producer.base_sequence
        ),
    ))
}

/// The producers seen on one partition.
#[derive(Debug, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, Producer>,
}

impl ProducerStates {
    /// Checks a batch of `records` records from `producer`, whose past batches
    /// this broker has seen as `history` says.
    pub fn check(
        &self,
        producer: &ProducerInfo,
        records: i32,
        history: History,
    ) -> Result<Verdict, ApiError> {
        let Some(state) = self.producers.get(&producer.producer_id) else {
            return match history {
                History::Complete => first_batch(producer),
                History::SinceRestart => Ok(Verdict::Append),
            };
        };
        if producer.producer_epoch < state.epoch {
            return Err(ApiError::new(
                ErrorCode::InvalidProducerEpoch,
                format!(
                    "producer {} epoch {} is older than its current epoch {}",
                    producer.producer_id, producer.producer_epoch, state.epoch
                ),
            ));
        }
        let last_sequence = producer.base_sequence.wrapping_add(records - 1);
        if producer.producer_epoch == state.epoch {
            if let Some(seen) = state.recent.iter().find(|a| {
                a.first_sequence == producer.base_sequence && a.last_sequence == last_sequence
            }) {
                return Ok(Verdict::Duplicate(seen.base_offset.clone()));
            }
        }
        let expected = match state.recent.back() {
            Some(last) if producer.producer_epoch == state.epoch => {
                last.last_sequence.wrapping_add(1)
            }
            _ => 0,
        };
        if producer.base_sequence != expected {
            return Err(ApiError::new(
                ErrorCode::OutOfOrderSequenceNumber,
                format!(
                    "producer {} epoch {} sent sequence {}, expected {expected}",
                    producer.producer_id, producer.producer_epoch, producer.base_sequence
                ),
            ));
        }
        Ok(Verdict::Append)
    }

    /// The state a partition's log implies: every producer batch in `log`
    /// below `end`, in order, recorded as if appended (control batches and
    /// batches without a producer id skipped). Blocking: reads the log.
    pub fn from_log(log: &Log, end: i64) -> rill_storage::Result<ProducerStates> {
        const CHUNK: usize = 1 << 20;
        let mut states = ProducerStates::default();
        let mut offset = log.log_start_offset();
        while offset < end {
            let read = log.read(offset, CHUNK)?;
            let mut rest = read.bytes.as_slice();
            if rest.is_empty() {
                break;
            }
            while !rest.is_empty() {
                let (batch, after) =
                    RecordBatch::split_first(rest).map_err(rill_storage::Error::InvalidBatch)?;
                rest = after;
                let header = batch.header();
                if header.base_offset >= end {
                    return Ok(states);
                }
                offset = header.next_offset();
                if !header.is_control() && header.producer.producer_id >= 0 {
                    states.record(&header.producer, header.record_count, header.base_offset);
                }
            }
        }
        Ok(states)
    }

    /// Records an appended batch.
    pub fn record(&mut self, producer: &ProducerInfo, records: i32, base_offset: i64) {
        self.remember(producer, records, Landing::At(base_offset));
    }

    /// Records a batch handed to the partition's Raft group, whose base offset
    /// `landing` will be told.
    pub fn record_pending(
        &mut self,
        producer: &ProducerInfo,
        records: i32,
        landing: watch::Receiver<Landed>,
    ) {
        self.remember(producer, records, Landing::Pending(landing));
    }

    fn remember(&mut self, producer: &ProducerInfo, records: i32, base_offset: Landing) {
        let state = self.producers.entry(producer.producer_id).or_default();
        if producer.producer_epoch != state.epoch {
            state.epoch = producer.producer_epoch;
            state.recent.clear();
        }
        if state.recent.len() == REMEMBERED {
            state.recent.pop_front();
        }
        state.recent.push_back(Appended {
            first_sequence: producer.base_sequence,
            last_sequence: producer.base_sequence.wrapping_add(records - 1),
            base_offset,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer(epoch: i16, base_sequence: i32) -> ProducerInfo {
        ProducerInfo {
            producer_id: 7,
            producer_epoch: epoch,
            base_sequence,
        }
    }

    impl ProducerStates {
        fn check_complete(
            &self,
            producer: &ProducerInfo,
            records: i32,
        ) -> Result<Verdict, ApiError> {
            self.check(producer, records, History::Complete)
        }
    }

    #[test]
    fn a_first_batch_starts_at_sequence_zero_unless_history_was_lost() {
        let states = ProducerStates::default();
        let refused = states
            .check_complete(&producer(0, 5), 1)
            .expect_err("first at 5");
        assert_eq!(refused.code, ErrorCode::OutOfOrderSequenceNumber);
        assert!(
            refused.message.contains("sequence 0"),
            "{}",
            refused.message
        );
        assert_eq!(
            states.check_complete(&producer(0, 0), 1),
            Ok(Verdict::Append)
        );
        assert_eq!(
            states.check(&producer(0, 5), 1, History::SinceRestart),
            Ok(Verdict::Append),
            "an id from before a restart may have written batches this run never saw"
        );
    }

    #[test]
    fn retries_are_duplicates_and_gaps_are_refused() {
        let mut states = ProducerStates::default();
        assert_eq!(
            states.check_complete(&producer(0, 0), 3),
            Ok(Verdict::Append)
        );
        states.record(&producer(0, 0), 3, 100);
        assert_eq!(
            states.check_complete(&producer(0, 0), 3),
            Ok(Verdict::Duplicate(Landing::At(100)))
        );
        assert_eq!(
            states.check_complete(&producer(0, 3), 2),
            Ok(Verdict::Append)
        );
        states.record(&producer(0, 3), 2, 110);
        let gap = states.check_complete(&producer(0, 9), 1).expect_err("gap");
        assert_eq!(gap.code, ErrorCode::OutOfOrderSequenceNumber);
        assert!(gap.message.contains("expected 5"), "{}", gap.message);
        assert_eq!(
            states.check_complete(&producer(0, 3), 2),
            Ok(Verdict::Duplicate(Landing::At(110)))
        );
        // A new epoch restarts at 0; the old epoch is fenced.
        assert!(states.check_complete(&producer(1, 5), 1).is_err());
        assert_eq!(
            states.check_complete(&producer(1, 0), 1),
            Ok(Verdict::Append)
        );
        states.record(&producer(1, 0), 1, 120);
        assert_eq!(
            states
                .check_complete(&producer(0, 5), 1)
                .expect_err("stale")
                .code,
            ErrorCode::InvalidProducerEpoch
        );
    }

    #[tokio::test]
    async fn a_retry_of_a_pending_batch_waits_for_where_it_lands() {
        let mut states = ProducerStates::default();
        let (tell, landing) = watch::channel(None);
        states.record_pending(&producer(0, 0), 2, landing);
        // The next batch is checked against the pending one.
        assert_eq!(
            states.check_complete(&producer(0, 2), 1),
            Ok(Verdict::Append)
        );
        let Ok(Verdict::Duplicate(retry)) = states.check_complete(&producer(0, 0), 2) else {
            panic!("a retry of the pending batch is a duplicate");
        };
        let waiting = tokio::spawn(retry.clone().base_offset());
        tell.send(Some(Ok(40))).expect("receivers alive");
        assert_eq!(waiting.await.expect("task"), Ok(40));
        // One that was not written tells its retries why.
        let (tell, landing) = watch::channel(None);
        states.record_pending(&producer(0, 2), 1, landing);
        let Ok(Verdict::Duplicate(retry)) = states.check_complete(&producer(0, 2), 1) else {
            panic!("a retry of the pending batch is a duplicate");
        };
        tell.send(Some(Err("leader lost".to_string())))
            .expect("receivers alive");
        assert_eq!(retry.base_offset().await, Err("leader lost".to_string()));
        // A pending batch whose writer vanished is not taken as written.
        let (tell, landing) = watch::channel(None);
        states.record_pending(&producer(0, 3), 1, landing);
        drop(tell);
        let Ok(Verdict::Duplicate(retry)) = states.check_complete(&producer(0, 3), 1) else {
            panic!("a retry of the pending batch is a duplicate");
        };
        assert!(retry.base_offset().await.is_err());
    }

    #[test]
    fn only_the_last_batches_are_remembered() {
        let mut states = ProducerStates::default();
        for i in 0..(REMEMBERED as i32 + 2) {
            states.record(&producer(0, i), 1, i64::from(i) * 10);
        }
        assert_eq!(
            states
                .check_complete(&producer(0, 0), 1)
                .map_err(|e| e.code),
            Err(ErrorCode::OutOfOrderSequenceNumber)
        );
        assert_eq!(
            states.check_complete(&producer(0, 6), 1),
            Ok(Verdict::Duplicate(Landing::At(60)))
        );
    }

    #[test]
    fn the_state_rebuilt_from_a_log_knows_its_batches() {
        use rill_protocol::BatchBuilder;
        use rill_storage::{Log, LogOptions};
        let dir = tempfile::tempdir().expect("tempdir");
        let log = Log::open(dir.path(), LogOptions::default()).expect("open");
        let append = |stamp: ProducerInfo, records: usize| {
            let mut builder = BatchBuilder::new(stamp);
            for _ in 0..records {
                builder.push(1, None, Some(b"v"), &[]);
            }
            log.append(&mut builder.finish())
                .expect("append")
                .base_offset
        };
        let first = append(producer(0, 0), 1);
        append(ProducerInfo::NONE, 3);
        let third = append(producer(0, 1), 2);
        let states = ProducerStates::from_log(&log, log.log_end_offset()).expect("rebuild");
        assert_eq!(
            states.check_complete(&producer(0, 0), 1),
            Ok(Verdict::Duplicate(Landing::At(first)))
        );
        assert_eq!(
            states.check_complete(&producer(0, 1), 2),
            Ok(Verdict::Duplicate(Landing::At(third)))
        );
        assert_eq!(
            states.check_complete(&producer(0, 3), 1),
            Ok(Verdict::Append)
        );
        assert!(states.check_complete(&producer(0, 5), 1).is_err());
        // Batches at or past `end` are not part of the state.
        let before_third = ProducerStates::from_log(&log, third).expect("rebuild");
        assert_eq!(
            before_third.check_complete(&producer(0, 1), 2),
            Ok(Verdict::Append)
        );
    }
}
