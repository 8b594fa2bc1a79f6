//! Log output of the binaries: `tracing` events to standard error, filtered by
//! `RUST_LOG`. Only binaries install a subscriber; the libraries only emit events.

/// Installs the process's subscriber, filtered by `RUST_LOG` or, when it is unset
/// or invalid, by `default` (e.g. `"info"`).
pub(crate) fn init(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default)),
        )
        .with_writer(std::io::stderr)
        .init();
}
