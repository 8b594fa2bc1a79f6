//! Choosing a record's partition.
//!
//! Keyed records are placed by a stable hash of the key so that every record with
//! one key lands in one partition, in order. The hash is MurmurHash2 exactly as
//! Apache Kafka's clients compute it (32-bit, seed `0x9747b28c`, sign bit cleared,
//! then modulo the partition count), so a key maps to the same partition number as
//! it would in Kafka; it is small enough to write here rather than add a dependency.
//! Keyless records use the sticky rule of [`super::Partitioner::Default`] or
//! round-robin; the per-topic state for both lives in `Spread`.

use super::config::Partitioner;
use crate::error::{Error, Result};

/// MurmurHash2, 32-bit, with Kafka's seed; the input is read as little-endian words.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a keyed record: `(murmur2(key) & 0x7fffffff) mod partitions`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions.max(1)
}

/// Per-topic state for placing keyless records.
#[derive(Debug, Clone)]
pub(crate) struct Spread {
    /// The partition keyless records currently stick to.
    sticky: Option<i32>,
    /// Advances for each new sticky choice or round-robin record.
    counter: u32,
}

impl Spread {
    /// Fresh state; `seed` varies the first partition between producers.
    pub(crate) fn new(seed: u32) -> Spread {
        Spread {
            sticky: None,
            counter: seed,
        }
    }

    /// The batch of `partition` was closed: keyless records move on if they stuck to it.
    pub(crate) fn batch_closed(&mut self, partition: i32) {
        if self.sticky == Some(partition) {
            self.sticky = None;
        }
    }

    /// The partition for a record of `topic` with `key`, out of `count`.
    pub(crate) fn choose(
        &mut self,
        partitioner: &Partitioner,
        topic: &str,
        key: Option<&[u8]>,
        count: i32,
    ) -> Result<i32> {
        let count = count.max(1);
        match (partitioner, key) {
            (Partitioner::Custom(f), _) => {
                let p = f(topic, key, count);
                if (0..count).contains(&p) {
                    Ok(p)
                } else {
                    Err(Error::InvalidArgument(format!(
                        "the custom partitioner chose partition {p} of topic {topic:?}, \
                         which has partitions 0..{count}"
                    )))
                }
            }
            (_, Some(key)) => Ok(partition_for_key(key, count)),
            (Partitioner::RoundRobin, None) => Ok(self.next(count)),
            (Partitioner::Default, None) => match self.sticky {
                Some(p) if p < count => Ok(p),
                _ => {
                    let p = self.next(count);
                    self.sticky = Some(p);
                    Ok(p)
                }
            },
        }
    }

    fn next(&mut self, count: i32) -> i32 {
        let p = (self.counter % count as u32) as i32;
        self.counter = self.counter.wrapping_add(1);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // The vectors of Apache Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58897971,
            ),
            (b"abc", 479470107),
        ];
        for (input, expected) in cases {
            assert_eq!(
                murmur2(input),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn keys_are_stable_and_in_range() {
        for n in 1..20 {
            for k in 0..200u32 {
                let key = k.to_be_bytes();
                let p = partition_for_key(&key, n);
                assert!((0..n).contains(&p));
                assert_eq!(p, partition_for_key(&key, n));
            }
        }
    }

    #[test]
    fn keyless_records_stick_until_the_batch_closes() {
        let mut spread = Spread::new(7);
        let p = Partitioner::Default;
        let first = spread.choose(&p, "t", None, 6).expect("choose");
        assert_eq!(spread.choose(&p, "t", None, 6).expect("choose"), first);
        spread.batch_closed(first);
        let second = spread.choose(&p, "t", None, 6).expect("choose");
        assert_ne!(second, first);
        let rr = Partitioner::RoundRobin;
        let a = spread.choose(&rr, "t", None, 6).expect("choose");
        let b = spread.choose(&rr, "t", None, 6).expect("choose");
        assert_eq!(b, (a + 1) % 6);
        let bad = Partitioner::Custom(std::sync::Arc::new(|_, _, n| n));
        assert!(spread.choose(&bad, "t", None, 6).is_err());
    }
}
