//! `rill-probe`: idle connections and restart readiness, for `benches/compare.sh`
//! (see the `rill_bench::probe` module). `rill-probe --help` lists the flags.

use std::process::ExitCode;

use clap::Parser;
use rill_bench::probe::{self, ProbeCli};
use tokio::signal::unix::{signal, SignalKind};

fn main() -> ExitCode {
    let cli = ProbeCli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rill-probe: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        // Installed before any connection opens, so an early SIGUSR1 is not lost
        // (nor fatal, as it is by default).
        let mut usr1 = match signal(SignalKind::user_defined1()) {
            Ok(usr1) => usr1,
            Err(e) => {
                eprintln!("rill-probe: cannot handle SIGUSR1: {e}");
                return ExitCode::FAILURE;
            }
        };
        let go = async move {
            usr1.recv().await;
        };
        match probe::run_probe(cli, go).await {
            Ok(report) => {
                println!("{}", report.to_json());
                if report.ok() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("rill-probe: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
