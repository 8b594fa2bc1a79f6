//! The producer's network side: one task that turns closed batches into Produce
//! requests and their answers into resolved deliveries.
//!
//! Each round, for each broker leading a partition with batches waiting, it drains
//! at most one batch per partition it leads into a request (the broker takes
//! exactly one batch per partition per request) until the request reaches
//! `max_request_bytes`, submits it on that broker's connection and keeps going
//! until `max_in_flight` requests await its answers. Answers on one connection are
//! handled in request order, which is the order the broker wrote them in.
//!
//! Order within a partition survives failures: when a partition's batch fails in a
//! way worth retrying, the partition sends nothing new until its other batches in
//! flight have answered, then sends the failed batches again, oldest first, with
//! the sequence numbers they had (so the broker drops any copy it already wrote).
//! With idempotence the batches behind a failed one are refused with
//! `OUT_OF_ORDER_SEQUENCE_NUMBER`; those are retried too, without counting as an
//! attempt. A batch the broker refused for good leaves a gap in the sequence; the
//! batches behind it are renumbered before they go out again. Without idempotence a
//! batch sent after a failed one may already have landed, so a retry can reorder.
//! Only one connection keeps order, so after a reconnect a partition sends nothing
//! new until its batches in flight on the old connection have failed and been
//! queued for retry.
//!
//! A batch is stamped with its sequence number only when it goes onto a live
//! connection: while no connection can be opened, due batches fail an attempt
//! unstamped, and one given up that way uses no sequence. A batch given up after
//! it went out may have been written; its partition then starts over under a new
//! producer id, which the sender asks the broker for (InitProducerId) once nothing
//! of the partition is in flight.
//! Per-partition state lives in [`Flow`] (`sender/flow.rs`); where each batch goes
//! (its partition's leader), in `sender/routes.rs`.

mod flow;
mod routes;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use rill_protocol::api::produce::{
    ProducePartition, ProducePartitionResponse, ProduceRequest, ProduceResponse, ProduceTopic,
};
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::ErrorCode;

use super::accumulator::Batch;
use super::config::Acks;
use super::producer_id::request_producer_id;
use super::shared::Shared;
use crate::connection::Connection;
use crate::error::{Error, Result};
use crate::routing::poll_oldest_per_connection;
use flow::{Flow, Identity};

/// The answer to one request: the response, `None` for acks 0, or why it failed.
type Answer = Result<Option<ProduceResponse>>;

/// A request awaiting its answer.
struct InFlight {
    batches: Vec<Batch>,
    conn: Connection,
    answer: Pin<Box<dyn Future<Output = Answer> + Send>>,
}

/// Marks the producer stopped when the task ends, however it ends (a panic
/// included): nothing will send records any more, so new ones are refused,
/// callers waiting for buffer memory get [`Error::Closed`], and records still
/// queued are dropped, which resolves their deliveries with `Closed`.
pub(crate) struct StopGuard(pub(crate) Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let shared = &self.0;
        {
            let mut acc = shared.lock();
            acc.closing = true;
            acc.discard_queued();
        }
        shared.memory.close();
        shared.stopped.store(true, Ordering::Release);
        shared.done.notify_waiters();
    }
}

/// Runs until the producer is closed (or dropped) and everything queued is done.
pub(crate) async fn run(shared: Arc<Shared>) {
    let _guard = StopGuard(shared.clone());
    let mut sender = Sender {
        identity: shared.identity,
        shared,
        flows: HashMap::new(),
        in_flight: VecDeque::new(),
        cursor: 0,
        refresh_error: None,
        renew_at: None,
    };
    sender.run().await;
}

struct Sender {
    shared: Arc<Shared>,
    /// The newest producer id and epoch (idempotent producers).
    identity: Option<Identity>,
    flows: HashMap<(Arc<str>, i32), Flow>,
    in_flight: VecDeque<InFlight>,
    /// Where the next drain starts, so every partition gets its turn.
    cursor: usize,
    /// Why the last metadata refresh failed, if it did: what partitions with no
    /// known leader fail with.
    refresh_error: Option<Error>,
    /// No new producer id is asked for before this instant (after a failed ask).
    renew_at: Option<Instant>,
}

/// Where drained batches go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// Onto the live connection with this id: stamped, then sent.
    Live(u64),
    /// Nowhere, no connection could be opened: every due batch fails an attempt.
    Unreachable,
    /// Nowhere, no new producer id could be had: the due batches of partitions
    /// waiting for one fail an attempt.
    AwaitingId,
}

/// What woke the sender.
enum Event {
    /// The request at this place in the in-flight queue was answered.
    Answer(usize, Answer),
    Wake,
}

impl Sender {
    async fn run(&mut self) {
        loop {
            let mut wake_at: Option<Instant> = None;
            self.send_ready(&mut wake_at).await;
            if self.in_flight.is_empty() {
                let acc = self.shared.lock();
                if acc.closing && acc.is_empty() {
                    return;
                }
            }
            let deadline = wake_at.map(tokio::time::Instant::from_std);
            let event = tokio::select! {
                (at, answer) = next_answer(&mut self.in_flight) => Event::Answer(at, answer),
                _ = self.shared.wake.notified() => Event::Wake,
                _ = sleep_until(deadline), if deadline.is_some() => Event::Wake,
            };
            if let Event::Answer(at, answer) = event {
                if let Some(request) = self.in_flight.remove(at) {
                    self.handle(request, answer);
                }
            }
        }
    }

    /// Asks the broker for a new producer id when a partition must start over, has
    /// nothing in flight and has records to send. If that fails, the due batches of
    /// such partitions fail an attempt, and the next ask waits for `retry_backoff`.
    /// Returns false when the failure closed `conn`.
    async fn renew_identity(&mut self, conn: &Connection, wake_at: &mut Option<Instant>) -> bool {
        let current = self.identity;
        if current.is_none() {
            return true;
        }
        let needed = {
            let acc = self.shared.lock();
            self.flows.iter().any(|((topic, partition), f)| {
                f.awaits_id(current) && (!f.retry.is_empty() || acc.has_queued(topic, *partition))
            })
        };
        if !needed {
            return true;
        }
        let now = Instant::now();
        if let Some(at) = self.renew_at.filter(|at| *at > now) {
            *wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
            return true;
        }
        match request_producer_id(conn, &self.shared.config).await {
            Ok(identity) => {
                tracing::debug!(
                    producer_id = identity.0,
                    "new producer id: partitions whose sequence is unknown start over"
                );
                self.identity = Some(identity);
                self.renew_at = None;
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot get a new producer id");
                // After anything but a refusal, answers on `conn` are in doubt.
                let keep = matches!(e, Error::Broker { .. });
                if !keep {
                    conn.close();
                }
                let at = now + self.shared.config.retry_backoff;
                self.renew_at = Some(at);
                *wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
                let batches = self.drain(Route::AwaitingId, &|_, _| true, wake_at);
                self.fail_all(batches, e);
                keep
            }
        }
    }

    /// Takes the next batch of each partition that may send one on `route`, oldest
    /// first, up to `max_request_bytes`; on a live connection each new batch is
    /// stamped with its sequence number. Notes in `wake_at` when a waiting batch
    /// becomes due.
    ///
    /// Only one connection keeps a partition's batches in order, so a partition with
    /// batches in flight on an older connection sends nothing until they have
    /// answered (that connection failed, so they will, and be retried in order).
    fn drain(
        &mut self,
        route: Route,
        select: &dyn Fn(&str, i32) -> bool,
        wake_at: &mut Option<Instant>,
    ) -> Vec<Batch> {
        let config = &self.shared.config;
        let identity = self.identity;
        let conn_id = match route {
            Route::Live(id) => Some(id),
            Route::Unreachable | Route::AwaitingId => None,
        };
        let now = Instant::now();
        let mut out = Vec::new();
        let mut failed = Vec::new();
        let mut bytes = 0;
        let mut acc = self.shared.lock();
        let (send_all, flush_before) = (acc.closing, acc.flush_before);
        let keys: Vec<(usize, usize)> = acc
            .topics
            .iter()
            .enumerate()
            .flat_map(|(ti, t)| (0..t.partitions.len()).map(move |pi| (ti, pi)))
            .collect();
        if keys.is_empty() {
            return out;
        }
        let start = self.cursor % keys.len();
        self.cursor = start + 1;
        for (n, &(ti, pi)) in keys[start..].iter().chain(&keys[..start]).enumerate() {
            let topic = &mut acc.topics[ti];
            let partition = pi as i32;
            if !select(&topic.name, partition) {
                continue;
            }
            let flow = self
                .flows
                .entry((topic.name.clone(), partition))
                .or_default();
            if route == Route::AwaitingId && !flow.awaits_id(identity) {
                continue;
            }
            if !flow.may_send(conn_id, identity, config.max_in_flight, &mut failed) {
                continue;
            }
            let queue = &topic.partitions[pi];
            let size = if let Some(b) = flow.retry.front() {
                if let Some(at) = b.retry_at.filter(|at| *at > now) {
                    *wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
                    continue;
                }
                b.bytes.len()
            } else if let Some(b) = queue.ready.front() {
                b.bytes.len()
            } else if let Some(open) = &queue.open {
                let due = open.created + config.linger;
                if !(send_all || open.id < flush_before || due <= now) {
                    *wake_at = Some(wake_at.map_or(due, |w| w.min(due)));
                    continue;
                }
                open.size()
            } else {
                continue;
            };
            if !out.is_empty() && bytes + size > config.max_request_bytes {
                // The next request starts with this partition, so every partition
                // gets its turn however many have batches waiting.
                self.cursor = start + n;
                break;
            }
            let mut batch = match flow.retry.pop_front() {
                Some(b) => b,
                None => {
                    if topic.partitions[pi].ready.is_empty() {
                        topic.close_open(partition);
                    }
                    let Some(b) = topic.partitions[pi].ready.pop_front() else {
                        continue;
                    };
                    b
                }
            };
            if conn_id.is_some() {
                if let Err(e) = flow.stamp(&mut batch) {
                    failed.push((batch, e));
                    continue;
                }
            }
            flow.in_flight += 1;
            flow.conn_id = conn_id.unwrap_or(0);
            bytes += size;
            out.push(batch);
        }
        drop(acc);
        // Batches whose header could not be stamped (cannot happen with batches this
        // producer built) fail at once; they were never sent.
        for (batch, error) in failed {
            self.complete(batch, Err(error));
        }
        out
    }

    /// Submits one request carrying `batches` on `conn`.
    fn send(&mut self, conn: Connection, mut batches: Vec<Batch>) {
        let config = &self.shared.config;
        let mut topics: Vec<ProduceTopic> = Vec::new();
        for b in &batches {
            let partition = ProducePartition {
                partition: b.partition,
                records: b.bytes.clone(),
            };
            match topics.iter_mut().find(|t| *t.name == *b.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(ProduceTopic {
                    name: b.topic.to_string(),
                    partitions: vec![partition],
                }),
            }
        }
        let timeout = config.request_timeout;
        let body = RequestBody::Produce(ProduceRequest {
            acks: config.acks.code(),
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            topics,
        });
        let addr = conn.addr().to_string();
        let what = format!("the Produce response from {addr}");
        let timed_out = move || Error::Timeout {
            what: what.clone(),
            after: timeout,
        };
        let answer: Pin<Box<dyn Future<Output = Answer> + Send>> = if config.acks == Acks::None {
            match conn.send_no_response(body) {
                Ok(written) => Box::pin(async move {
                    tokio::time::timeout(timeout, written)
                        .await
                        .map_err(|_| timed_out())??;
                    Ok(None)
                }),
                Err(e) => return self.fail_all(batches, e),
            }
        } else {
            match conn.submit(body) {
                Ok(pending) => Box::pin(async move {
                    match tokio::time::timeout(timeout, pending).await {
                        Err(_) => Err(timed_out()),
                        Ok(Ok(ResponseBody::Produce(r))) => Ok(Some(r)),
                        Ok(Ok(other)) => Err(Error::Protocol {
                            addr,
                            detail: format!(
                                "a {} response to a Produce request",
                                other.api_key().name()
                            ),
                        }),
                        Ok(Err(e)) => Err(e),
                    }
                }),
                Err(e) => return self.fail_all(batches, e),
            }
        };
        // From here on the broker may write them.
        for b in &mut batches {
            b.sent = true;
        }
        self.in_flight.push_back(InFlight {
            batches,
            conn,
            answer,
        });
    }

    /// Resolves or requeues the batches of an answered request.
    fn handle(&mut self, request: InFlight, answer: Answer) {
        match answer {
            Ok(None) => {
                for b in request.batches {
                    self.finish(b, Ok(-1));
                }
            }
            Ok(Some(response)) => {
                let mut by_partition: HashMap<(&str, i32), &ProducePartitionResponse> =
                    HashMap::new();
                for t in &response.topics {
                    for p in &t.partitions {
                        by_partition.insert((t.name.as_str(), p.partition), p);
                    }
                }
                let outcomes: Vec<Result<i64>> = request
                    .batches
                    .iter()
                    .map(|b| match by_partition.get(&(&*b.topic, b.partition)) {
                        Some(p) if p.error_code.is_ok() => Ok(p.base_offset),
                        Some(p) => Err(Error::broker_at(
                            p.error_code,
                            p.error_message.clone(),
                            &b.topic,
                            Some(b.partition),
                        )),
                        None => Err(Error::Protocol {
                            addr: request.conn.addr().to_string(),
                            detail: format!(
                                "the Produce response does not mention {}/{}",
                                b.topic, b.partition
                            ),
                        }),
                    })
                    .collect();
                for (b, outcome) in request.batches.into_iter().zip(outcomes) {
                    self.finish(b, outcome);
                }
            }
            Err(e) => {
                if matches!(e, Error::Timeout { .. } | Error::Protocol { .. }) {
                    // Later answers on this connection can no longer be trusted to
                    // arrive; fail them all and reconnect.
                    request.conn.close();
                }
                if matches!(e, Error::Timeout { .. } | Error::ConnectionLost { .. }) {
                    // The broker may be gone: ask the metadata where its
                    // partitions are now.
                    self.shared.router.forget_broker(request.conn.addr());
                }
                self.fail_all(request.batches, e);
            }
        }
    }

    fn fail_all(&mut self, batches: Vec<Batch>, error: Error) {
        for b in batches {
            self.finish(b, Err(error.clone()));
        }
    }

    /// Settles one batch that was in flight: acknowledged, requeued for a retry, or
    /// failed for good.
    fn finish(&mut self, batch: Batch, outcome: Result<i64>) {
        let config = &self.shared.config;
        let flow = self
            .flows
            .entry((batch.topic.clone(), batch.partition))
            .or_default();
        flow.in_flight = flow.in_flight.saturating_sub(1);
        let error = match outcome {
            Ok(base_offset) => return self.complete(batch, Ok(base_offset)),
            Err(e) => e,
        };
        match error.code() {
            Some(ErrorCode::UnknownTopicOrPartition) => self.shared.metadata_stale(&batch.topic),
            Some(
                ErrorCode::NotLeaderOrFollower
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::RequestTimedOut,
            ) => self
                .shared
                .router
                .forget_leader(&batch.topic, batch.partition),
            _ => {}
        }
        let idempotent = self.shared.identity.is_some();
        match flow.failed(batch, error, idempotent, config) {
            Some((batch, error)) => self.complete(batch, Err(error)),
            None => self.shared.wake.notify_one(),
        }
    }

    fn complete(&self, batch: Batch, result: Result<i64>) {
        if let Err(e) = &result {
            tracing::debug!(topic = %batch.topic, partition = batch.partition, error = %e, "batch failed");
        }
        let id = batch.id;
        let memory = batch.complete(result);
        self.shared.completed(id, memory);
    }
}

/// The first answer of a request that is the oldest in flight on its connection,
/// with its place in the queue; never resolves when nothing is in flight. Answers
/// on one connection are taken in the order they were sent, which is the order the
/// broker wrote them in; a slow broker does not hold up the others' answers.
async fn next_answer(in_flight: &mut VecDeque<InFlight>) -> (usize, Answer) {
    std::future::poll_fn(|cx| {
        poll_oldest_per_connection(
            in_flight,
            cx,
            |r| r.conn.id(),
            |r, cx| r.answer.as_mut().poll(cx),
        )
    })
    .await
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
