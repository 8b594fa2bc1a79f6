//! Rill's binaries, as a library so that their tests and thin entry points share
//! the code:
//!
//! - `rill` ([`rill`]): the command line over `rill-client` — topics, produce,
//!   consume, groups — plus `rill demo` ([`demo`]) and `rill bench`;
//! - `rill-broker` ([`broker`]): the broker library behind flags, a TOML file,
//!   `RILL_*` environment variables and signal handling.
//!
//! Only this crate parses arguments and installs a log subscriber; the libraries
//! it wraps take typed configuration and only emit `tracing` events.

pub mod broker;
pub mod demo;
pub mod error;
mod logging;
pub mod rill;
mod runtime;

pub use error::{Error, Result};
