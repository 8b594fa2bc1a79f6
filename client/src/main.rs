//! `rill`: the command-line client (see `cli/mod.rs` for the commands).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
