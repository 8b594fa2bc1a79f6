//! The `rill-broker` binary's entry point, built inside this crate so the
//! end-to-end tests can start and SIGKILL a real broker process
//! (`env!("CARGO_BIN_EXE_broker_process")`). It runs exactly the code the product
//! binary runs: `rill_cli::broker::main`.

fn main() -> std::process::ExitCode {
    rill_cli::broker::main()
}
