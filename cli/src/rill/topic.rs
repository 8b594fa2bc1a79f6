//! `rill topic create|list|describe|delete`.
//!
//! Offsets, not record counts, are what the broker reports: `describe` shows each
//! partition's log start and log end (high watermark), and `list` the offsets in
//! use (log end minus log start, summed). That equals the number of records only
//! where compaction removed none; a compacted partition can hold fewer.

use clap::Subcommand;
use rill_client::{Admin, PartitionInfo};

use super::table;
use crate::error::Result;

/// The `rill topic` subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Create a topic.
    Create {
        /// Topic name ([A-Za-z0-9._-]).
        name: String,
        /// Number of partitions.
        #[arg(long, default_value_t = 1, value_name = "N")]
        partitions: i32,
        /// Replicas of each partition, 1 to the number of brokers [default:
        /// min(3, brokers)].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(i16).range(1..))]
        replication_factor: Option<i16>,
        /// A topic setting as KEY=VALUE (fsync, segment_bytes, retention_ms,
        /// cleanup, ...); repeat for several.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        configs: Vec<(String, String)>,
    },
    /// List topics with their partition counts and OFFSETS: log end minus log
    /// start, summed over the partitions (the record count unless compaction
    /// removed records).
    List,
    /// Show a topic's partitions: leader, leader epoch, replicas, log start
    /// offset and log end offset (high watermark: the offset after the last
    /// record readers may see).
    Describe {
        /// Topic name.
        name: String,
    },
    /// Delete a topic and its data.
    Delete {
        /// Topic name.
        name: String,
    },
}

fn key_value(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// Runs one `rill topic` subcommand on `admin`'s connection.
pub async fn run(admin: &Admin, command: TopicCommand) -> Result<()> {
    match command {
        TopicCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
            let configs: Vec<(&str, &str)> = configs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let factor = replication_factor.unwrap_or(-1);
            admin
                .create_topic_replicated(&name, partitions, factor, &configs)
                .await?;
            println!("created topic {name} with {partitions} partitions");
        }
        TopicCommand::List => {
            let rows: Vec<Vec<String>> = admin
                .list_topics()
                .await?
                .into_iter()
                .map(|t| {
                    let offsets: i64 = t.partitions.iter().map(PartitionInfo::records).sum();
                    let partitions = t.partitions.len();
                    vec![t.name, partitions.to_string(), offsets.to_string()]
                })
                .collect();
            table::print(&["TOPIC", "PARTITIONS", "OFFSETS"], &rows).or_else(stdout_error)?;
        }
        TopicCommand::Describe { name } => {
            let topic = admin.describe_topic(&name).await?;
            let rows: Vec<Vec<String>> = topic
                .partitions
                .iter()
                .map(|p| {
                    vec![
                        name.clone(),
                        p.partition.to_string(),
                        p.leader.to_string(),
                        offset(i64::from(p.leader_epoch)),
                        replicas(&p.replicas),
                        offset(p.log_start_offset),
                        offset(p.high_watermark),
                    ]
                })
                .collect();
            let header = [
                "TOPIC",
                "PARTITION",
                "LEADER",
                "EPOCH",
                "REPLICAS",
                "LOG-START",
                "LOG-END",
            ];
            table::print(&header, &rows).or_else(stdout_error)?;
        }
        TopicCommand::Delete { name } => {
            admin.delete_topic(&name).await?;
            println!("deleted topic {name}");
        }
    }
    Ok(())
}

/// A failed write to standard output: a closed pipe (the reader has what it
/// wanted, as with `| head`) ends the command quietly; any other failure (a full
/// disk, an I/O error) ends it with one line giving the reason, exit status 1.
pub fn stdout_error(e: std::io::Error) -> Result<()> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Ok(());
    }
    // Error has no variant for a local I/O failure, and none of its messages
    // would read right here: say it directly, the way every failure is said.
    eprintln!("rill: cannot write to standard output: {e}");
    std::process::exit(1);
}

/// Replica ids for a table, comma-separated; `-` when none are known.
fn replicas(ids: &[i32]) -> String {
    if ids.is_empty() {
        return "-".to_string();
    }
    let ids: Vec<String> = ids.iter().map(i32::to_string).collect();
    ids.join(",")
}

/// An offset or epoch for a table: `-` when it is not known (its leader could
/// not be asked).
fn offset(offset: i64) -> String {
    if offset < 0 {
        "-".to_string()
    } else {
        offset.to_string()
    }
}
