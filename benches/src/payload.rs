//! The record values the bench writes (`--payload`).
//!
//! `random`: one value of pseudo-random bytes, written for every record; it does
//! not compress, so it measures the data path alone. `json`: a pool of distinct
//! purchase events like the demo's, each padded to the record size, written in
//! turn; it compresses about as real JSON events do, so `--compression` is
//! measured on realistic bytes. The pool is made before the clock starts.

use clap::ValueEnum;

/// Distinct JSON events in the pool: at 1 KiB, 4 MiB of them, far more than a
/// batch, so a codec cannot simply find the previous copy of a record.
const JSON_POOL: usize = 4096;

/// What the records carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayloadKind {
    /// The same pseudo-random bytes in every record (incompressible).
    #[default]
    Random,
    /// Distinct JSON purchase events, padded to the record size.
    Json,
}

impl PayloadKind {
    /// The flag value.
    pub fn name(self) -> &'static str {
        match self {
            PayloadKind::Random => "random",
            PayloadKind::Json => "json",
        }
    }
}

/// The values to write in turn, each `size` bytes long.
pub fn values(kind: PayloadKind, size: usize, seed: u64) -> Vec<Vec<u8>> {
    match kind {
        PayloadKind::Random => vec![random(size, seed)],
        PayloadKind::Json => (0..JSON_POOL as u64).map(|i| json(i, size, seed)).collect(),
    }
}

/// `size` bytes of xorshift output.
fn random(size: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Purchase event `n` as JSON, padded with a note and spaces to `size` bytes
/// (cut to `size`, no longer valid JSON, when the event alone is longer).
fn json(n: u64, size: usize, seed: u64) -> Vec<u8> {
    const SKUS: [&str; 6] = ["kettle", "teapot", "mug", "grinder", "filter", "scale"];
    const CITIES: [&str; 5] = ["Lisbon", "Porto", "Madrid", "Lyon", "Turin"];
    let h = (n ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut event = format!(
        concat!(
            r#"{{"order_id":"ord-{:08}","customer_id":"cust-{:05}","sku":"{}","#,
            r#""quantity":{},"unit_price_cents":{},"currency":"EUR","city":"{}","#,
            r#""placed_at":"2026-12-02T{:02}:{:02}:{:02}Z","note":""#
        ),
        n,
        h % 50_000,
        SKUS[(h >> 20) as usize % SKUS.len()],
        1 + (h >> 24) % 5,
        199 + (h >> 28) % 20_000,
        CITIES[(h >> 40) as usize % CITIES.len()],
        (h >> 44) % 24,
        (h >> 50) % 60,
        (h >> 56) % 60,
    );
    const WORDS: [&str; 8] = [
        "gift", "wrap", "please", "leave", "at", "door", "fragile", "thanks",
    ];
    let mut w = h;
    loop {
        w = w.rotate_left(7) ^ n;
        let word = WORDS[w as usize % WORDS.len()];
        // Room for the word, a space and the closing `"}`.
        if event.len() + word.len() + 3 > size {
            break;
        }
        event.push_str(word);
        event.push(' ');
    }
    event.push_str("\"}");
    let mut bytes = event.into_bytes();
    bytes.resize(size, b' ');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_do_not_repeat_one_byte() {
        let p = &values(PayloadKind::Random, 64, 7)[0];
        assert!(p.iter().collect::<std::collections::BTreeSet<_>>().len() > 16);
    }

    #[test]
    fn every_value_has_the_record_size() {
        for kind in [PayloadKind::Random, PayloadKind::Json] {
            for size in [0, 10, 100, 1024] {
                assert!(values(kind, size, 7).iter().all(|v| v.len() == size));
            }
        }
    }

    #[test]
    fn json_events_parse_and_differ() {
        let pool = values(PayloadKind::Json, 512, 7);
        assert_eq!(pool.len(), JSON_POOL);
        let first: serde_json::Value = serde_json::from_slice(&pool[0]).expect("json");
        let second: serde_json::Value = serde_json::from_slice(&pool[1]).expect("json");
        assert_ne!(first["order_id"], second["order_id"]);
    }
}
