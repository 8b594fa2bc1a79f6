//! `rill-bench`: Rill's throughput and latency benchmark (see the `rill_bench`
//! library; `rill bench` is the same tool). `rill-bench --help` lists the flags.

use std::process::ExitCode;

use clap::Parser;
use rill_bench::BenchCli;

fn main() -> ExitCode {
    let cli = BenchCli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rill-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(rill_bench::run_cli(cli.broker, cli.bench)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rill-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
