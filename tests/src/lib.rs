//! Shared helpers for Rill's end-to-end tests (the tests live in `tests/tests/`).
//!
//! The binaries in `src/bin/` are child processes that tests start, kill and
//! inspect; they are not part of the product.

use rill_protocol::{BatchBuilder, ProducerInfo};

/// A batch whose records encode `seq` so a reader can tell exactly which batch it
/// is: `count` records with key `seq` and value `seq:i` padded to `value_len` bytes.
pub fn numbered_batch(seq: u64, count: usize, value_len: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    let key = seq.to_string();
    for i in 0..count {
        let mut value = format!("{seq}:{i}:").into_bytes();
        value.resize(value_len.max(value.len()), b'.');
        b.push(1_700_000_000_000 + seq as i64, Some(key.as_bytes()), Some(&value), &[]);
    }
    b.finish()
}
