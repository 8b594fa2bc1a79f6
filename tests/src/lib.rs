//! Shared helpers for Rill's end-to-end tests (the tests live in `tests/tests/`).
//!
//! A test that needs a broker in its own process starts one with
//! `rill_broker::embedded::EmbeddedBroker` (the workspace's one in-process
//! broker), passing [`STOP_TIMEOUT`] so a broker that hangs on shutdown fails the
//! test instead of hanging it. [`client`] talks to a broker over a real socket,
//! with requests built by [`requests`]. [`process`] runs the real `rill-broker`
//! binary as a child process for tests that kill or signal it, and reads this
//! process's memory; [`cluster`] runs three of them as one cluster, each
//! inter-broker link optionally through a proxy of its own. [`proxy`] is the one
//! fault injector: a steerable proxy for any link a test wants to delay, hold,
//! cut, partition or refuse. [`checker`] judges the history of a test that
//! attacks a cluster (no acknowledged record lost, no fork, no duplicate).
//!
//! The binaries in `src/bin/` are test tools, not part of the product:
//! `broker_process` (the `rill-broker` entry point, behind the default
//! `broker-process` feature because it needs rill-cli) and `crash_appender`. The
//! client's and the CLI's tests use this library as a dev-dependency without
//! that feature, so `cargo test -p rill-client` builds no rill-cli for it (a
//! whole-workspace build still builds rill-cli, as a member).

pub mod checker;
pub mod client;
pub mod cluster;
pub mod nemesis;
pub mod process;
pub mod proxy;
pub mod requests;

use std::time::Duration;

use rill_protocol::{BatchBuilder, ProducerInfo};

/// How long a test waits for an embedded broker to stop (pass it to
/// `EmbeddedBuilder::stop_timeout`).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Records in the batch numbered `seq` (1 to 8).
pub fn records_in(seq: u64) -> usize {
    1 + (seq % 8) as usize
}

/// The batch numbered `seq`: [`records_in`]`(seq)` records with key `seq` and values
/// `seq:i:` padded with dots to between 50 and 450 bytes. A reader can rebuild it
/// from `seq` alone and compare bytes.
pub fn numbered_batch(seq: u64) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    let key = seq.to_string();
    let value_len = 50 + (seq % 5) as usize * 100;
    for i in 0..records_in(seq) {
        let mut value = format!("{seq}:{i}:").into_bytes();
        value.resize(value_len.max(value.len()), b'.');
        let timestamp = 1_700_000_000_000 + seq as i64;
        b.push(timestamp, Some(key.as_bytes()), Some(&value), &[]);
    }
    b.finish()
}
