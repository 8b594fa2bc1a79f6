//! `rill-broker`: see [`rill_cli::broker`] for flags, environment and behaviour.

fn main() -> std::process::ExitCode {
    rill_cli::broker::main()
}
