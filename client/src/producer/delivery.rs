//! Acknowledgements: one outcome shared by a batch, one [`Delivery`] per record.
//!
//! The broker answers a whole batch at once, so a batch owns a single [`BatchAck`]
//! and each record's [`Delivery`] holds a reference to it plus what it knew at
//! enqueue time (partition, index in the batch, timestamp). Completing the batch
//! stores the outcome once and wakes the deliveries that are waiting; each delivery
//! derives its own offset as `base + index`. A record costs one reference count, not
//! a channel of its own.
//!
//! Invariants: the outcome is set at most once (the first completion wins), and a
//! batch dropped without being completed resolves its deliveries with
//! [`Error::Closed`], so no caller waits forever on a batch that no longer exists.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::locks;

/// Where an acknowledged record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The partition it was written to.
    pub partition: i32,
    /// Its offset in that partition; -1 with [`Acks::None`](super::Acks::None).
    pub offset: i64,
    /// Its timestamp (the producer's clock when it was enqueued, ms since the epoch).
    pub timestamp: i64,
}

/// The outcome of one batch, shared by the deliveries of its records.
#[derive(Debug)]
pub(crate) struct BatchAck {
    state: Mutex<AckState>,
}

#[derive(Debug)]
enum AckState {
    /// Not answered yet: the deliveries that polled and wait.
    Waiting(Vec<Waker>),
    /// Answered: the base offset (-1 when unknown) or the failure, and when.
    Done { result: Result<i64>, at: Instant },
}

impl BatchAck {
    fn lock(&self) -> MutexGuard<'_, AckState> {
        locks::lock(&self.state)
    }

    /// Stores the outcome (unless one is already stored) and wakes every waiting
    /// delivery.
    fn complete(&self, result: Result<i64>) {
        let wakers = {
            let mut state = self.lock();
            let AckState::Waiting(wakers) = &mut *state else {
                return;
            };
            let wakers = std::mem::take(wakers);
            *state = AckState::Done {
                result,
                at: Instant::now(),
            };
            wakers
        };
        for waker in wakers {
            waker.wake();
        }
    }
}

/// The owning side of a [`BatchAck`], held by the batch: completes it, and fails
/// it with [`Error::Closed`] if the batch is dropped unanswered.
#[derive(Debug)]
pub(crate) struct AckHandle(Arc<BatchAck>);

impl AckHandle {
    /// A fresh, unanswered outcome.
    pub(crate) fn new() -> Self {
        AckHandle(Arc::new(BatchAck {
            state: Mutex::new(AckState::Waiting(Vec::new())),
        }))
    }

    /// The delivery of the record at `index` in this batch.
    pub(crate) fn delivery(&self, index: u32, partition: i32, timestamp: i64) -> Delivery {
        Delivery {
            ack: Arc::clone(&self.0),
            index,
            partition,
            timestamp,
            slot: None,
        }
    }

    /// Answers every record of the batch: offsets from `result`'s base offset (-1
    /// when unknown, as with acks 0) or the error.
    pub(crate) fn complete(&self, result: Result<i64>) {
        self.0.complete(result);
    }
}

impl Drop for AckHandle {
    fn drop(&mut self) {
        self.0.complete(Err(Error::Closed("producer")));
    }
}

/// Resolves when the broker acknowledges a record (or its batch finally fails).
#[derive(Debug)]
#[must_use = "a Delivery tells whether the record was written; await it or drop it knowingly"]
pub struct Delivery {
    ack: Arc<BatchAck>,
    index: u32,
    partition: i32,
    timestamp: i64,
    /// Where this delivery's waker sits in the waiting list, once it has polled.
    slot: Option<usize>,
}

impl Delivery {
    /// When the record's batch was answered, once it has been (`None` before).
    /// The moment the broker's answer arrived, not the moment this delivery was
    /// awaited: a latency measured up to it is not charged for the wait.
    pub fn acknowledged_at(&self) -> Option<Instant> {
        match &*self.ack.lock() {
            AckState::Done { at, .. } => Some(*at),
            AckState::Waiting(_) => None,
        }
    }
}

impl Future for Delivery {
    type Output = Result<RecordMetadata>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut state = this.ack.lock();
        match &mut *state {
            AckState::Done { result, .. } => Poll::Ready(match result {
                Ok(base) => Ok(RecordMetadata {
                    partition: this.partition,
                    offset: if *base < 0 {
                        -1
                    } else {
                        base.saturating_add(i64::from(this.index))
                    },
                    timestamp: this.timestamp,
                }),
                Err(e) => Err(e.clone()),
            }),
            AckState::Waiting(wakers) => {
                match this.slot.and_then(|i| wakers.get_mut(i)) {
                    Some(waker) => waker.clone_from(cx.waker()),
                    None => {
                        this.slot = Some(wakers.len());
                        wakers.push(cx.waker().clone());
                    }
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn poll(d: &mut Delivery, waker: &Waker) -> Poll<Result<RecordMetadata>> {
        Pin::new(d).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn each_record_gets_its_own_offset_and_waiters_are_woken_once() {
        let count = Arc::new(Count(0.into()));
        let waker = Waker::from(count.clone());
        let ack = AckHandle::new();
        let mut first = ack.delivery(0, 3, 100);
        let mut third = ack.delivery(2, 3, 102);
        assert!(poll(&mut first, &waker).is_pending());
        // Polling again replaces the waker instead of queueing a second one.
        assert!(poll(&mut first, &waker).is_pending());
        assert!(first.acknowledged_at().is_none());
        ack.complete(Ok(40));
        ack.complete(Ok(7)); // The first outcome stands.
        assert_eq!(count.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        let meta = |offset, timestamp| RecordMetadata {
            partition: 3,
            offset,
            timestamp,
        };
        assert_eq!(poll(&mut first, &waker), Poll::Ready(Ok(meta(40, 100))));
        assert_eq!(poll(&mut third, &waker), Poll::Ready(Ok(meta(42, 102))));
        assert!(third.acknowledged_at().is_some());
    }

    #[test]
    fn unknown_offsets_stay_unknown_and_a_dropped_batch_fails_its_records() {
        let waker = Waker::from(Arc::new(Count(0.into())));
        let ack = AckHandle::new();
        let mut d = ack.delivery(5, 0, 1);
        ack.complete(Ok(-1));
        assert!(matches!(poll(&mut d, &waker), Poll::Ready(Ok(m)) if m.offset == -1));

        let ack = AckHandle::new();
        let mut d = ack.delivery(0, 0, 1);
        drop(ack);
        assert!(matches!(
            poll(&mut d, &waker),
            Poll::Ready(Err(Error::Closed("producer")))
        ));
    }
}
