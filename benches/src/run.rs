//! Running the benchmark: against `--broker ADDR` or an embedded broker started
//! (and stopped, its data removed) around the run, with Ctrl-C handling and the
//! report printed as text or JSON.

use std::io::IsTerminal;

use rill_broker::embedded::EmbeddedBroker;

use crate::args::{BenchArgs, Workload};
use crate::error::{Error, Result};
use crate::report::BenchReport;
use crate::runner;

/// The exit status after Ctrl-C, as a shell reports a process it ended.
const INTERRUPTED: i32 = 130;

/// Runs the benchmark against `broker` (or an embedded broker when `None`) and
/// returns every figure. `progress` draws live bars on standard error.
pub async fn run(broker: Option<String>, args: BenchArgs, progress: bool) -> Result<BenchReport> {
    run_until(broker, args, progress, std::future::pending())
        .await?
        .ok_or_else(|| Error::Failed {
            reason: "interrupted".to_string(),
        })
}

/// [`run`], abandoned when `interrupt` resolves first (then `None`). Either way an
/// embedded broker is stopped and its data removed.
async fn run_until(
    broker: Option<String>,
    args: BenchArgs,
    progress: bool,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<Option<BenchReport>> {
    args.validate()?;
    let (addr, embedded) = match broker {
        Some(addr) => (addr, None),
        None => {
            let embedded = EmbeddedBroker::builder()
                .config(EmbeddedBroker::fast_groups_config())
                .start()
                .await
                .map_err(Error::Embedded)?;
            (embedded.addr().to_string(), Some(embedded))
        }
    };
    let outcome = tokio::select! {
        report = runner::run(&addr, embedded.is_some(), &args, progress) => Some(report),
        () = interrupt => None,
    };
    // Dropping the embedded broker after its stop removes its data directory.
    let stopped = match embedded {
        Some(mut embedded) => embedded.stop().await.map_err(Error::Embedded),
        None => Ok(()),
    };
    let report = outcome.transpose()?;
    stopped?;
    Ok(report)
}

/// The command-line entry of `rill bench` and `rill-bench`: runs the benchmark
/// (progress bars when standard error is a terminal) and prints the report on
/// standard output, as text or with `--json` as one JSON object. Fails when the
/// run fails or the consumers did not receive every record. On Ctrl-C it stops
/// an embedded broker, removes its data and exits with status 130.
pub async fn run_cli(broker: Option<String>, args: BenchArgs) -> Result<()> {
    let json = args.json;
    if !json {
        eprintln!("{}", args_line(broker.as_deref(), &args));
    }
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let progress = std::io::stderr().is_terminal();
    let Some(report) = run_until(broker, args, progress, interrupt).await? else {
        eprintln!("rill bench: interrupted");
        std::process::exit(INTERRUPTED);
    };
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.summary());
    }
    match &report.consume {
        Some(c) if c.records < c.expected => Err(Error::Failed {
            reason: format!(
                "the consumers received {} of {} records (none came for {} s)",
                c.records,
                c.expected,
                runner::CONSUME_IDLE_TIMEOUT.as_secs()
            ),
        }),
        _ => Ok(()),
    }
}

/// The line announcing the run on standard error.
fn args_line(broker: Option<&str>, args: &BenchArgs) -> String {
    let what = match args.workload() {
        Workload::Count(n) => format!("{n} records"),
        Workload::Duration(d) => format!("{:.1} s", d.as_secs_f64()),
    };
    let broker = broker.unwrap_or("an embedded broker");
    if args.consume_only {
        format!(
            "rill bench: {} consumer(s) read a topic from the beginning on {broker}",
            args.consumers()
        )
    } else {
        format!(
            "rill bench: {what} of {} B from {} producer(s) to {} consumer(s) on {broker}",
            args.record_size,
            args.producers,
            args.consumers()
        )
    }
}
