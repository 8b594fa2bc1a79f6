//! Shared helpers for Rill's end-to-end tests (the tests live in `tests/tests/`).
//!
//! The binaries in `src/bin/` are child processes that tests start, kill and
//! inspect; they are not part of the product. [`harness`] runs a broker inside the
//! test process and [`client`] talks to it over a real socket, with requests built
//! by [`requests`]. [`proxy`] is the one fault injector: a steerable proxy for any
//! link a test wants to delay, hold, cut or partition.

pub mod client;
pub mod harness;
pub mod process;
pub mod proxy;
pub mod requests;

use rill_protocol::{BatchBuilder, ProducerInfo};

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
