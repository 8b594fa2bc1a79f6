//! The payment service: a member of consumer group `payment` that charges every
//! purchase on the topic `purchases` once, and commits how far it got so a restart
//! resumes there. Start the shop first, then
//! `cargo run -p rill-client --example payment -- 127.0.0.1:9400`.

use std::collections::BTreeSet;
use std::time::Duration;

use rill_client::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, Result};
use tokio::time::Instant;

/// Reads purchases until it has `events` of them or `timeout` passed, commits, and
/// returns what it read.
pub async fn run(broker: &str, events: usize, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
    // A new group starts at the beginning of the topic; commits are ours to make.
    let config = ConsumerConfig::new()
        .offset_reset(OffsetReset::Earliest)
        .auto_commit(false);
    let mut consumer = Consumer::connect(broker, config).await?;
    consumer.subscribe(&["purchases"], "payment").await?;
    let deadline = Instant::now() + timeout;
    let mut charged = Vec::new();
    while charged.len() < events && Instant::now() < deadline {
        for record in consumer.poll(Duration::from_millis(500)).await? {
            // A real service would parse the JSON value and charge the card here.
            charged.push(record);
        }
    }
    consumer.commit().await?;
    consumer.close().await?;
    let users: BTreeSet<_> = charged.iter().filter_map(|r| r.key.clone()).collect();
    println!(
        "payment: charged {} purchases of {} users, committed",
        charged.len(),
        users.len()
    );
    Ok(charged)
}

#[tokio::main]
async fn main() {
    let broker = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("RILL_BROKER").ok());
    let broker = broker.as_deref().unwrap_or("127.0.0.1:9400");
    if let Err(e) = run(broker, 100, Duration::from_secs(10)).await {
        eprintln!("payment: {e}");
        std::process::exit(1);
    }
}
