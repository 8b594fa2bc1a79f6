//! The producer: sends records to topics in batches, many requests in flight, and
//! tells each caller where its record landed.
//!
//! [`Producer::enqueue`] places a record in its partition's open batch and returns a
//! [`Delivery`] at once; the delivery resolves when the broker acknowledges the
//! batch. So a caller can fire thousands of records without waiting for any (the
//! shop never waits for its consumers), and still learn each record's offset.
//! [`Producer::send`] does both steps in one future. A background task (the sender,
//! `producer/sender.rs`) sends a batch when it reaches `batch_bytes` or has waited
//! `linger`, packs one batch per partition into each Produce request to the
//! partition's leader, keeps up to `max_in_flight` requests on each broker's
//! connection, and retries what failed in order.
//!
//! Memory is bounded: records hold `buffer_bytes` of budget from enqueue until their
//! batch is acknowledged, and `enqueue` waits while the budget is spent
//! (backpressure). With idempotence the producer gets a producer id from the broker
//! (InitProducerId) and stamps each batch with a per-partition sequence number, so a
//! retried batch that already landed is answered with its original offset instead
//! of being written twice.
//!
//! The module is split into `config` (options), `partitioner` (where a record
//! goes), `accumulator` (open and closed batches), `delivery` (acknowledgements),
//! `shared` (the state the handles and the sender share), `producer_id`
//! (InitProducerId) and `sender` (the network side).

mod accumulator;
mod config;
mod delivery;
pub mod partitioner;
mod producer_id;
mod sender;
mod shared;
#[cfg(test)]
mod tests;

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

pub use config::{Acks, PartitionFn, Partitioner, ProducerConfig};
pub use delivery::{Delivery, RecordMetadata};

use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::locks;
use crate::routing::Router;
use accumulator::{Accumulator, NewRecord};
use producer_id::identify;
use shared::{connection_options, Shared};

/// Bytes a record costs beyond its key, value and headers (length, attributes,
/// timestamp and offset deltas, field lengths), for memory accounting.
const RECORD_OVERHEAD: usize = 20;

/// A producer connected to one broker. Clones share the same batches, connection
/// and sender; the last one dropped sends what is queued and stops.
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use rill_client::{Producer, ProducerConfig};
///
/// let addr = "127.0.0.1:9400";
/// let producer = Producer::connect(addr, ProducerConfig::new()).await?;
/// let event = r#"{"type":"PurchasedItemOnWebsite","user_id":"user-1","price":12.99}"#;
/// let key = "user-1".as_bytes(); // one user's purchases stay in order
/// let at = producer.send("purchases", Some(key), Some(event.as_bytes()), &[]).await?;
/// println!("stored in partition {} at offset {}", at.partition, at.offset);
/// producer.close().await?; // sends what is queued, then stops
/// # Ok(())
/// # }
/// ```
///
/// `tests/tests/client_docs.rs` runs this example against an embedded broker.
#[derive(Debug, Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

/// Owns the sender task; dropping it asks the sender to finish up.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_one();
    }
}

impl Producer {
    /// Connects to the broker at `addr` (`host:port`) and, with idempotence, obtains a
    /// producer id. Fails on an invalid `config` or when the broker cannot be reached.
    pub async fn connect(addr: impl Display, config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let addr = addr.to_string();
        let router = Router::new(&addr, connection_options(&config))?;
        let identity = identify(&router, &config).await?;
        let shared = Arc::new(Shared {
            memory: Semaphore::new(config.buffer_bytes),
            config,
            router,
            addr,
            identity,
            acc: Mutex::new(Accumulator::default()),
            wake: Notify::new(),
            done: Notify::new(),
            stopped: AtomicBool::new(false),
        });
        let task = tokio::spawn(sender::run(shared.clone()));
        Ok(Producer {
            handle: Arc::new(Handle {
                shared,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// Whether the broker deduplicates this producer's retries (it holds a producer id).
    pub fn is_idempotent(&self) -> bool {
        self.handle.shared.identity.is_some()
    }

    /// The largest record [`enqueue`](Producer::enqueue) accepts: its key and value
    /// bytes together, plus 4 bytes and the name and value of each header, may not
    /// exceed this (`buffer_bytes` or `max_request_bytes`, whichever is smaller,
    /// less a record's fixed overhead). The topic's `max_batch_bytes` may be lower.
    pub fn max_record_bytes(&self) -> usize {
        let config = &self.handle.shared.config;
        config
            .buffer_bytes
            .min(config.max_request_bytes)
            .saturating_sub(RECORD_OVERHEAD)
    }

    /// Sends one record and waits for the broker's acknowledgement: [`enqueue`]
    /// followed by awaiting the [`Delivery`]. To keep many records in flight, use
    /// `enqueue` and await the deliveries later.
    ///
    /// [`enqueue`]: Producer::enqueue
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Result<RecordMetadata> {
        self.enqueue(topic, key, value, headers).await?.await
    }

    /// Puts one record into its partition's batch and returns a [`Delivery`] that
    /// resolves when the broker acknowledges it. Waits only while the buffer is full
    /// (backpressure) or the topic's partition count is being looked up. Records
    /// enqueued one after another keep their order within a partition.
    ///
    /// Fails at once for an unknown topic (`UNKNOWN_TOPIC_OR_PARTITION`), a record
    /// larger than `buffer_bytes` or `max_request_bytes`, or a closed producer.
    pub async fn enqueue(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Result<Delivery> {
        let shared = &self.handle.shared;
        let config = &shared.config;
        let memory = record_size(key, value, headers);
        let limit = config.buffer_bytes.min(config.max_request_bytes);
        if memory > limit {
            return Err(Error::InvalidArgument(format!(
                "a record of about {memory} bytes does not fit: buffer_bytes is {} and \
                 max_request_bytes {}",
                config.buffer_bytes, config.max_request_bytes
            )));
        }
        let record = |timestamp| NewRecord {
            key,
            value,
            headers,
            timestamp,
            memory,
        };
        // `memory` fits in u32: it is at most buffer_bytes, checked by validate().
        let budget = memory as u32;
        // A loop of enqueues that never waits must still let the runtime run the
        // sender (the awaits below would do the same when they are ready at once).
        tokio::task::coop::consume_budget().await;
        // The common case takes one lock: the budget is free at once and the
        // topic's partition count is cached.
        if let Ok(permits) = shared.memory.try_acquire_many(budget) {
            permits.forget();
            let appended = {
                let mut acc = shared.lock();
                if acc.closing {
                    Some(Err(Error::Closed("producer")))
                } else if acc.partition_count(topic).is_some() {
                    Some(acc.append(config, topic, record(now_ms())))
                } else {
                    None
                }
            };
            match appended {
                Some(appended) => return self.appended(appended, memory),
                None => shared.memory.add_permits(memory),
            }
        }
        if shared.lock().closing {
            return Err(Error::Closed("producer"));
        }
        shared.partition_count(topic).await?;
        let permits = shared
            .memory
            .acquire_many(budget)
            .await
            .map_err(|_| Error::Closed("producer"))?;
        permits.forget();
        let appended = {
            let mut acc = shared.lock();
            if acc.closing {
                Err(Error::Closed("producer"))
            } else {
                acc.append(config, topic, record(now_ms()))
            }
        };
        self.appended(appended, memory)
    }

    /// The end of `enqueue`: wakes the sender if a batch opened or closed, or gives
    /// the record's budget back if it was not appended.
    fn appended(&self, appended: Result<(Delivery, bool)>, memory: usize) -> Result<Delivery> {
        let shared = &self.handle.shared;
        match appended {
            Ok((delivery, wake)) => {
                if wake {
                    shared.wake.notify_one();
                }
                Ok(delivery)
            }
            Err(e) => {
                shared.memory.add_permits(memory);
                Err(e)
            }
        }
    }

    /// Sends every record enqueued so far without waiting for `linger`, and waits
    /// until each is acknowledged or has failed (failures are reported by their
    /// deliveries, not here). Fails only if the producer's sender has stopped.
    pub async fn flush(&self) -> Result<()> {
        let shared = &self.handle.shared;
        let target = shared.lock().mark_flush();
        shared.wake.notify_one();
        loop {
            let notified = shared.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if shared.lock().flushed(target) {
                return Ok(());
            }
            if shared.stopped.load(Ordering::Acquire) {
                return Err(Error::Closed("producer"));
            }
            notified.await;
        }
    }

    /// Refuses new records, sends what is queued, waits for the answers and stops
    /// the sender. Every clone of this producer is closed. A second `close` (from a
    /// clone, or after an earlier one was cancelled) waits for the same end.
    pub async fn close(&self) -> Result<()> {
        let shared = &self.handle.shared;
        shared.lock().closing = true;
        shared.wake.notify_one();
        let task = locks::lock(&self.handle.task).take();
        match task {
            Some(task) => task.await.map_err(|e| Error::ConnectionLost {
                addr: shared.addr.clone(),
                reason: format!("the producer's sender task failed: {e}"),
            })?,
            // Another caller took the task: wait for the sender to stop, so the
            // connection is not closed under requests still in flight.
            None => loop {
                let notified = shared.done.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if shared.stopped.load(Ordering::Acquire) {
                    break;
                }
                notified.await;
            },
        }
        shared.router.close().await;
        Ok(())
    }
}

/// Memory a record is charged: its bytes plus a fixed overhead.
fn record_size(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[(&str, &[u8])]) -> usize {
    RECORD_OVERHEAD
        + key.map_or(0, <[u8]>::len)
        + value.map_or(0, <[u8]>::len)
        + headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 4)
            .sum::<usize>()
}
