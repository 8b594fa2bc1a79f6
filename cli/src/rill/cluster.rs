//! `rill cluster status`: every broker and whether it answers, the metadata
//! leader, and per partition its leader, term, replicas, in-sync replicas and
//! followers' lag, then the count of under-replicated partitions.

use clap::Subcommand;
use rill_client::Admin;

use super::table;
use super::topic::stdout_error;
use crate::error::Result;

/// The `rill cluster` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Brokers and liveness, the metadata leader, and per partition the leader,
    /// replicas, in-sync replicas and followers' lag (Raft entries behind).
    Status,
}

/// Runs one `rill cluster` subcommand on `admin`.
pub async fn run(admin: &Admin, command: ClusterCommand) -> Result<()> {
    match command {
        ClusterCommand::Status => {
            let status = admin.describe_cluster().await?;
            let leader = status.metadata_leader;
            let rows: Vec<Vec<String>> = status
                .brokers
                .iter()
                .map(|b| {
                    let role = if Some(b.node_id) == leader {
                        "metadata-leader"
                    } else {
                        "-"
                    };
                    let state = if b.down.is_none() { "up" } else { "down" };
                    vec![
                        b.node_id.to_string(),
                        b.addr.clone(),
                        state.to_string(),
                        role.to_string(),
                    ]
                })
                .collect();
            table::print(&["BROKER", "ADDRESS", "STATE", "ROLE"], &rows).or_else(stdout_error)?;
            println!();
            let ids = |ids: &[i32]| {
                if ids.is_empty() {
                    "-".to_string()
                } else {
                    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
                }
            };
            let rows: Vec<Vec<String>> = status
                .partitions
                .iter()
                .map(|p| {
                    let lag = p
                        .lag
                        .iter()
                        .map(|(node, lag)| format!("{node}:{lag}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    vec![
                        p.topic.clone(),
                        p.partition.to_string(),
                        table::opt(p.leader.map(i64::from)),
                        p.term.to_string(),
                        ids(&p.replicas),
                        ids(&p.in_sync),
                        if lag.is_empty() { "-".to_string() } else { lag },
                    ]
                })
                .collect();
            table::print(
                &[
                    "TOPIC",
                    "PARTITION",
                    "LEADER",
                    "TERM",
                    "REPLICAS",
                    "IN-SYNC",
                    "LAG",
                ],
                &rows,
            )
            .or_else(stdout_error)?;
            println!(
                "\nunder-replicated partitions: {}",
                status.under_replicated()
            );
            Ok(())
        }
    }
}
