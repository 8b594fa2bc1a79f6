//! `rill-broker`: see [`rill_broker::cli`] for flags, environment and behaviour.

fn main() -> std::process::ExitCode {
    rill_broker::cli::main()
}
