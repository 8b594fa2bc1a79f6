//! `rill demo`: runs the shop and its four services (see [`crate::demo`]) and
//! prints the summary; exits non-zero unless every service saw every event exactly
//! once and the replays read exactly the history.

use std::io::IsTerminal;

use clap::Args;
use rill_client::Compression;

use crate::demo::{self, DemoOptions};
use crate::error::{Error, Result};

/// Flags of `rill demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Purchase events the shop publishes.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    events: u64,
    /// Partitions of `purchases`, when the demo creates it.
    #[arg(long, default_value_t = 6, value_name = "P")]
    partitions: i32,
    /// Members in each service's consumer group.
    #[arg(long, default_value_t = 2, value_name = "M")]
    members: usize,
    /// The shop's compression: none, gzip, snappy, lz4 or zstd (JSON events
    /// shrink several-fold).
    #[arg(long, default_value = "zstd", value_name = "CODEC")]
    compression: Compression,
}

/// Runs the demo against `broker`, or an embedded broker when it is `None`.
pub async fn run(broker: Option<String>, args: DemoArgs) -> Result<()> {
    let where_ = broker.as_deref().unwrap_or("an embedded broker");
    eprintln!(
        "rill demo: a shop publishes {} purchases to `purchases` on {where_}; payment, inventory, \
         analytics and dispatch ({} members each) each receive every one",
        args.events, args.members
    );
    let report = demo::run(DemoOptions {
        events: args.events,
        broker,
        partitions: args.partitions,
        members: args.members,
        compression: args.compression,
        progress: std::io::stderr().is_terminal(),
        ..DemoOptions::default()
    })
    .await?;
    print!("{}", report.summary());
    if report.ok() {
        Ok(())
    } else {
        Err(Error::Demo {
            reason: "not every service saw every event exactly once (see the summary)".to_string(),
        })
    }
}
