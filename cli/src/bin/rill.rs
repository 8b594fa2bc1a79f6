//! `rill`: the command-line client; see [`rill_cli::rill`] for the commands.

fn main() -> std::process::ExitCode {
    rill_cli::rill::main()
}
