//! Log output of the binaries: `tracing` events to standard error, filtered by
//! `RUST_LOG`, coloured only when standard error is a terminal (a log file, a
//! pipe or journald gets plain text). Only binaries install a subscriber; the
//! libraries only emit events.

use std::io::IsTerminal;

/// Installs the process's subscriber, filtered by `RUST_LOG` or, when it is unset
/// or invalid, by `default` (e.g. `"info"`).
pub(crate) fn init(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
