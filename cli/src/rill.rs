//! The `rill` command line: topics, producing from standard input, consuming to
//! standard output, consumer groups and the cluster's state, against the broker at `--broker`.
//!
//! Output meant for scripts goes to standard output (record values, tables);
//! every failure is one line `rill: ...` on standard error with a non-zero exit
//! status: 2 for bad flags, 1 for everything else (unreachable broker, missing
//! topic, refused request). Logs (`RUST_LOG`, default `warn`) go to standard error.

mod cluster;
mod consume;
mod demo;
mod group;
mod produce;
mod table;
mod time;
mod topic;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};
use rill_client::Admin;

use crate::error::Result;
use crate::logging;

/// Command-line flags.
#[derive(Debug, Parser)]
#[command(
    name = "rill",
    version,
    about = "Command-line client for the Rill broker: topics, produce, consume, groups."
)]
struct Cli {
    /// Broker address, host:port, or a comma-separated list of them tried in
    /// order [default: 127.0.0.1:9400; `demo` and `bench` start their own broker
    /// unless this is given].
    #[arg(long, global = true, env = "RILL_BROKER", value_name = "ADDR")]
    broker: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topic(topic::TopicCommand),
    /// Send each line of standard input as one record.
    Produce(produce::ProduceArgs),
    /// Print records' values, one per line, until --max, --to-end,
    /// --idle-timeout-ms or Ctrl-C.
    Consume(consume::ConsumeArgs),
    /// List and describe consumer groups.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// The cluster's brokers, partition leaders, replicas and replica lag.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// The shop and its four services: every service receives every purchase.
    Demo(demo::DemoArgs),
    /// Throughput and latency benchmark (an embedded broker unless --broker is given).
    Bench(rill_bench::BenchArgs),
}

/// Where the commands connect when `--broker` is not given.
const DEFAULT_BROKER: &str = "127.0.0.1:9400";

/// Runs the `rill` binary with the process's arguments.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return flag_error(&e),
    };
    logging::init("warn");
    crate::runtime::run("rill", run(cli))
}

/// Prints help and version as clap formats them; any other flag error as one line.
fn flag_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            eprintln!("rill: {} (see rill --help)", one_line(&e.to_string()));
            ExitCode::from(2)
        }
    }
}

/// A clap message's first paragraph on one line, without its `error: ` prefix
/// (its usage and tips are left out).
fn one_line(message: &str) -> String {
    let paragraph = message.trim().split("\n\n").next().unwrap_or_default();
    let line = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    let line = line.strip_prefix("error: ").unwrap_or(&line).to_string();
    if line.is_empty() {
        "invalid arguments".to_string()
    } else {
        line
    }
}

async fn run(cli: Cli) -> Result<()> {
    let broker = cli.broker.as_deref().unwrap_or(DEFAULT_BROKER);
    match cli.command {
        Command::Topic(command) => topic::run(&connect(broker).await?, command).await,
        Command::Produce(args) => produce::run(broker, args).await,
        Command::Consume(args) => consume::run(broker, args).await,
        Command::Group(command) => group::run(&connect(broker).await?, command).await,
        Command::Cluster(command) => cluster::run(&connect(broker).await?, command).await,
        Command::Demo(args) => demo::run(cli.broker, args).await,
        Command::Bench(args) => Ok(rill_bench::run_cli(cli.broker, args).await?),
    }
}

/// An admin connection to `broker`.
async fn connect(broker: &str) -> Result<Admin> {
    Ok(Admin::connect(broker).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_errors_are_one_line() {
        let e = Cli::try_parse_from(["rill", "topic", "create"]).expect_err("missing name");
        let line = one_line(&e.to_string());
        assert!(
            line.contains("required") && line.contains("<NAME>"),
            "{line}"
        );
        assert!(!line.contains('\n'));
        let e = Cli::try_parse_from(["rill", "consume", "t", "--offset", "3"])
            .expect_err("missing partition");
        assert!(one_line(&e.to_string()).contains("--partition"));
    }
}
