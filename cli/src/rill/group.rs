//! `rill group list|describe`.

use clap::Subcommand;
use rill_client::Admin;

use super::table;
use super::topic::stdout_error;
use crate::error::Result;

/// The `rill group` subcommands.
#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state and member count.
    List,
    /// Show a group's members, and per partition its committed offset, log end
    /// and lag.
    Describe {
        /// Group id.
        group: String,
    },
}

/// Runs one `rill group` subcommand on `admin`'s connection.
pub async fn run(admin: &Admin, command: GroupCommand) -> Result<()> {
    match command {
        GroupCommand::List => {
            let rows: Vec<Vec<String>> = admin
                .list_groups()
                .await?
                .into_iter()
                .map(|g| vec![g.group_id, g.state, g.members.to_string()])
                .collect();
            table::print(&["GROUP", "STATE", "MEMBERS"], &rows).or_else(stdout_error)
        }
        GroupCommand::Describe { group } => {
            let description = admin.describe_group(&group).await?;
            println!(
                "group {}: {}, epoch {}, {} members, total lag {}",
                description.group_id,
                description.state,
                description.epoch,
                description.members.len(),
                description.total_lag()
            );
            let rows: Vec<Vec<String>> = description
                .partitions
                .iter()
                .map(|p| {
                    vec![
                        p.partition.topic.clone(),
                        p.partition.partition.to_string(),
                        table::opt(p.committed),
                        table::opt(p.log_end),
                        table::opt(p.lag),
                        p.owner.clone().unwrap_or_else(|| "-".to_string()),
                    ]
                })
                .collect();
            table::print(
                &[
                    "TOPIC",
                    "PARTITION",
                    "COMMITTED",
                    "LOG-END",
                    "LAG",
                    "MEMBER",
                ],
                &rows,
            )
            .or_else(stdout_error)
        }
    }
}
