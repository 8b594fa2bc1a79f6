//! Rill's binaries, as a library so that their tests and thin entry points share
//! the code:
//!
//! - `rill` ([`rill`]): the command line over `rill-client` — topics, produce,
//!   consume, groups — plus `rill demo` ([`demo`]) and `rill bench`;
//! - `rill-broker` ([`broker`]): the broker library behind flags, a TOML file,
//!   `RILL_*` environment variables and signal handling.
//!
//! Of the product's crates only this one and the benchmark (`rill-bench`, whose
//! binary this crate's `rill bench` shares) parse arguments, and only this one
//! installs a log subscriber; the broker and client libraries take typed
//! configuration and only emit `tracing` events.

pub mod broker;
pub mod demo;
pub mod error;
mod logging;
pub mod rill;
mod runtime;

pub use error::{Error, Result};
