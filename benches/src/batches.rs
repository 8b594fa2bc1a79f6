//! Workload generators of the criterion micro-benches: record batches of a given
//! record and batch size.

use rill_protocol::{BatchBuilder, ProducerInfo};

/// A batch of records of `record_bytes` values each, filled until the batch reaches
/// about `batch_bytes` (at least one record).
pub fn batch_of(record_bytes: usize, batch_bytes: usize) -> Vec<u8> {
    let mut b = BatchBuilder::with_capacity(ProducerInfo::NONE, batch_bytes + record_bytes + 64);
    let value = vec![0x5a; record_bytes];
    let mut i = 0u64;
    while b.is_empty() || b.size() + record_bytes + 16 <= batch_bytes {
        let key = i.to_be_bytes();
        b.push(1_700_000_000_000 + i as i64, Some(&key), Some(&value), &[]);
        i += 1;
    }
    b.finish()
}
