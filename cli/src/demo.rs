//! `rill demo`: a shop publishes purchase events and four independent services
//! (payment, inventory, analytics, dispatch) each receive every one of them, as
//! consumer groups of several members; then analytics replays the history from
//! offset 0 and from a point in time. The run ends with a summary that checks
//! every service saw every event exactly once.
//!
//! The demo runs against an embedded broker (started in this process on a free
//! port, with a temporary data directory that is removed afterwards) or against a
//! running one. On a shared broker it tells its own events apart by a run id
//! carried in a record header, so older events in `purchases` do not count.

pub mod events;
pub mod report;
mod services;
pub mod tally;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rill_bench::clock::{now_ms, run_id};
use rill_broker::embedded::EmbeddedBroker;
use rill_client::{Admin, Compression, Producer, ProducerConfig};
use rill_protocol::ErrorCode;

use crate::error::{Error, Result};
use events::PurchasedItemOnWebsite;
use report::{DemoReport, ServiceReport};
use services::{replay, Progress};
use tally::Tally;

pub use events::{SERVICES, TOPIC};

/// Most events one run may publish: each service keeps a byte per event.
pub const MAX_EVENTS: u64 = 100_000_000;

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Events the shop publishes. Default 10,000.
    pub events: u64,
    /// A running broker to use; `None` starts an embedded one.
    pub broker: Option<String>,
    /// Partitions of `purchases` when the demo creates it. Default 6.
    pub partitions: i32,
    /// Members per service. Default 2.
    pub members: usize,
    /// Draw live progress bars (when standard error is a terminal).
    pub progress: bool,
    /// Give up on a service (and fail) after this long. Default 120 s.
    pub timeout: Duration,
    /// The shop's compression codec. Default zstd.
    pub compression: Compression,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            events: 10_000,
            broker: None,
            partitions: 6,
            members: 2,
            progress: true,
            timeout: Duration::from_secs(120),
            compression: Compression::Zstd,
        }
    }
}

/// Runs the whole demo and reports what every service saw.
pub async fn run(options: DemoOptions) -> Result<DemoReport> {
    if options.events == 0 || options.events > MAX_EVENTS || options.members == 0 {
        return Err(Error::InvalidArgument(format!(
            "the demo needs 1 ..= {MAX_EVENTS} events and at least 1 member per service, not {} events and {} members",
            options.events, options.members
        )));
    }
    let (addr, embedded) = match options.broker.clone() {
        Some(addr) => (addr, None),
        None => {
            let broker = EmbeddedBroker::builder()
                .config(EmbeddedBroker::fast_groups_config())
                .start()
                .await
                .map_err(Error::Embedded)?;
            (broker.addr().to_string(), Some(broker))
        }
    };
    let report = run_against(&addr, &options).await;
    if let Some(mut embedded) = embedded {
        // Dropping it afterwards removes its data directory.
        embedded.stop().await.map_err(Error::Embedded)?;
    }
    report
}

async fn run_against(addr: &str, options: &DemoOptions) -> Result<DemoReport> {
    let started = Instant::now();
    let admin = Admin::connect(addr).await?;
    match admin.create_topic(TOPIC, options.partitions, &[]).await {
        Ok(()) => {}
        Err(e) if e.code() == Some(ErrorCode::TopicAlreadyExists) => {}
        Err(e) => return Err(e.into()),
    }
    let partitions = admin.describe_topic(TOPIC).await?.partitions.len();
    let run_id = run_id();
    let progress = Progress::new(options.progress, options.events);
    let tallies: Vec<Arc<Tally>> = SERVICES
        .iter()
        .map(|_| Arc::new(Tally::new(run_id, options.events)))
        .collect();
    let deadline = Instant::now() + options.timeout;
    let mut members = Vec::new();
    for (service, tally) in SERVICES.iter().zip(&tallies) {
        for member in 0..options.members {
            members.push(tokio::spawn(services::member(
                addr.to_string(),
                service,
                member,
                Arc::clone(tally),
                deadline,
            )));
        }
    }
    let ticker = progress.start(tallies.clone());

    // The shop: enqueue every event without waiting, then collect the acks.
    let shop_started = Instant::now();
    let config = ProducerConfig::new()
        .client_id("shop")
        .compression(options.compression);
    let producer = Producer::connect(addr, config).await?;
    let mut deliveries = Vec::with_capacity(options.events as usize);
    for n in 0..options.events {
        let event = PurchasedItemOnWebsite::numbered(n, now_ms());
        let json = serde_json::to_vec(&event)
            .map_err(|e| Error::InvalidArgument(format!("event {n} as JSON: {e}")))?;
        let headers = [
            ("run", &run_id.to_be_bytes()[..]),
            ("event", &n.to_be_bytes()[..]),
        ];
        let delivery = producer
            .enqueue(TOPIC, Some(event.user_id.as_bytes()), Some(&json), &headers)
            .await?;
        deliveries.push(delivery);
        progress.shop_enqueued(n + 1);
    }
    let shop_enqueued = shop_started.elapsed();
    let mut timestamps = Vec::with_capacity(deliveries.len());
    for delivery in deliveries {
        timestamps.push(delivery.await?.timestamp);
    }
    let shop_acked = shop_started.elapsed();
    producer.close().await?;

    let mut failures = Vec::new();
    for member in members {
        match member.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(format!("a service task failed: {e}")),
        }
    }
    ticker.finish().await;
    let services = SERVICES
        .iter()
        .zip(&tallies)
        .map(|(name, tally)| ServiceReport {
            name,
            members: options.members,
            received: tally.received(),
            duplicates: tally.duplicates(),
            done_after: tally.done_after(),
        })
        .collect();

    // Analytics retrains: the whole history, then from the middle event's time.
    let from_start = replay(addr, run_id, options.events, None, deadline).await?;
    let middle = timestamps[timestamps.len() / 2];
    let mut from_time = replay(addr, run_id, options.events, Some(middle), deadline).await?;
    from_time.expected = timestamps.iter().filter(|t| **t >= middle).count() as u64;
    Ok(DemoReport {
        broker: addr.to_string(),
        events: options.events,
        partitions,
        shop_enqueued,
        shop_acked,
        services,
        replays: vec![from_start, from_time],
        failures,
        took: started.elapsed(),
    })
}
