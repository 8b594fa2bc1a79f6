//! Rill's binaries, as a library so that their tests and thin entry points share
//! the code: `rill-broker` ([`broker`]) runs the broker library behind flags, a
//! TOML file, `RILL_*` environment variables and signal handling.
//!
//! Only this crate parses arguments and installs a log subscriber; the libraries
//! it wraps (`rill-broker`) take typed configuration and only emit `tracing`
//! events.

pub mod broker;
mod logging;
