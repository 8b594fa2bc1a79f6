//! Record batches by hand, from docs/STORAGE.md §2 (the 61-byte header, the
//! CRC-32 over bytes 21..end) and §3 (zigzag varints, the record layout): a builder
//! for what Produce carries and a parser for what Fetch returns.

/// The fixed header's length (STORAGE.md §2).
pub const HEADER_LEN: usize = 61;
/// Rill's magic byte, at byte 16.
pub const MAGIC: u8 = 0x52;

/// The producer fields of a batch header (bytes 43..57).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Producer {
    /// `producer_id`, −1 when not idempotent.
    pub id: i64,
    /// `producer_epoch`, −1 when not idempotent.
    pub epoch: i16,
    /// `base_sequence`, −1 when not idempotent.
    pub sequence: i32,
}

/// The producer fields of a batch that is not idempotent.
pub const NOT_IDEMPOTENT: Producer = Producer {
    id: -1,
    epoch: -1,
    sequence: -1,
};

/// One record to put in a batch (STORAGE.md §3), without headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its timestamp, ms since the epoch.
    pub timestamp: i64,
    /// Its key; `None` is written as length −1.
    pub key: Option<Vec<u8>>,
    /// Its value; `None` is written as length −1.
    pub value: Option<Vec<u8>>,
}

impl Record {
    /// A record with a key and a value.
    pub fn new(timestamp: i64, key: &str, value: &str) -> Record {
        Record {
            timestamp,
            key: Some(key.as_bytes().to_vec()),
            value: Some(value.as_bytes().to_vec()),
        }
    }
}

/// Appends `n` as a zigzag varint (i32): `(n << 1) ^ (n >> 31)`, 7 bits a byte,
/// least significant group first, bit 7 set on all but the last byte.
pub fn put_varint(out: &mut Vec<u8>, n: i32) {
    put_unsigned(out, u64::from(((n << 1) ^ (n >> 31)) as u32));
}

/// Appends `n` as a zigzag varlong (i64).
pub fn put_varlong(out: &mut Vec<u8>, n: i64) {
    put_unsigned(out, ((n << 1) ^ (n >> 63)) as u64);
}

fn put_unsigned(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_len_prefixed(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            put_varint(out, i32::try_from(b.len()).expect("test records are small"));
            out.extend_from_slice(b);
        }
        None => put_varint(out, -1),
    }
}

/// A whole batch as a producer sends it: `base_offset` 0, `leader_epoch` −1,
/// attributes 0, offset deltas 0..n−1, `first_timestamp` the first record's,
/// `max_timestamp` the largest, and the CRC-32 of bytes 21..end.
pub fn build(producer: Producer, records: &[Record]) -> Vec<u8> {
    let first = records.first().map_or(-1, |r| r.timestamp);
    let mut body = Vec::new();
    for (delta, record) in records.iter().enumerate() {
        let mut rec = vec![0u8]; // attributes
        put_varlong(&mut rec, record.timestamp - first);
        put_varint(&mut rec, i32::try_from(delta).expect("few records"));
        put_len_prefixed(&mut rec, record.key.as_deref());
        put_len_prefixed(&mut rec, record.value.as_deref());
        put_varint(&mut rec, 0); // header_count
        put_varint(&mut body, i32::try_from(rec.len()).expect("small record"));
        body.extend_from_slice(&rec);
    }
    let count = i32::try_from(records.len()).expect("few records");
    let max = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
    let mut after_crc = Vec::new();
    after_crc.extend_from_slice(&0i16.to_be_bytes()); // attributes
    after_crc.extend_from_slice(&(count - 1).max(0).to_be_bytes()); // last_offset_delta
    after_crc.extend_from_slice(&first.to_be_bytes());
    after_crc.extend_from_slice(&max.to_be_bytes());
    after_crc.extend_from_slice(&producer.id.to_be_bytes());
    after_crc.extend_from_slice(&producer.epoch.to_be_bytes());
    after_crc.extend_from_slice(&producer.sequence.to_be_bytes());
    after_crc.extend_from_slice(&count.to_be_bytes());
    after_crc.extend_from_slice(&body);
    let total = 21 + after_crc.len();
    let mut batch = Vec::with_capacity(total);
    batch.extend_from_slice(&0i64.to_be_bytes()); // base_offset
    let length = i32::try_from(total - 12).expect("small batch");
    batch.extend_from_slice(&length.to_be_bytes());
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // leader_epoch
    batch.push(MAGIC);
    batch.extend_from_slice(&crc32fast::hash(&after_crc).to_be_bytes());
    batch.extend_from_slice(&after_crc);
    batch
}

/// A batch of one record with key `key` and value `value`, not idempotent.
pub fn simple(timestamp: i64, key: &str, value: &str) -> Vec<u8> {
    build(NOT_IDEMPOTENT, &[Record::new(timestamp, key, value)])
}

/// A batch read back from a Fetch response, checked against STORAGE.md §2–3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// `base_offset`.
    pub base_offset: i64,
    /// `producer_id`, `producer_epoch`, `base_sequence`.
    pub producer: Producer,
    /// The records, with their absolute offsets.
    pub records: Vec<(i64, Record)>,
    /// The batch's bytes.
    pub bytes: Vec<u8>,
}

/// Splits `bytes` (Fetch's `records`: zero or more whole batches) into batches,
/// checking each one's length, magic, CRC, record count and record encoding.
pub fn parse_all(mut bytes: &[u8]) -> Vec<Parsed> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= HEADER_LEN, "a batch shorter than its header");
        let length = i32::from_be_bytes(be(&bytes[8..12]));
        let total = usize::try_from(length).expect("length ≥ 0") + 12;
        assert!(
            total >= HEADER_LEN && total <= bytes.len(),
            "batch length {length}"
        );
        let (batch, rest) = bytes.split_at(total);
        out.push(parse(batch));
        bytes = rest;
    }
    out
}

fn be<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[..N]);
    out
}

fn parse(batch: &[u8]) -> Parsed {
    assert_eq!(batch[16], MAGIC, "magic");
    let crc = u32::from_be_bytes(be(&batch[17..21]));
    assert_eq!(
        crc,
        crc32fast::hash(&batch[21..]),
        "CRC-32 of bytes 21..end"
    );
    let base_offset = i64::from_be_bytes(be(&batch[0..8]));
    let last_offset_delta = i32::from_be_bytes(be(&batch[23..27]));
    let first_timestamp = i64::from_be_bytes(be(&batch[27..35]));
    let producer = Producer {
        id: i64::from_be_bytes(be(&batch[43..51])),
        epoch: i16::from_be_bytes(be(&batch[51..53])),
        sequence: i32::from_be_bytes(be(&batch[53..57])),
    };
    let count = i32::from_be_bytes(be(&batch[57..61]));
    let mut rest = &batch[HEADER_LEN..];
    let mut records = Vec::new();
    for _ in 0..count {
        let len = usize::try_from(varint(&mut rest)).expect("record length ≥ 0");
        let (mut rec, tail) = rest.split_at(len);
        rest = tail;
        rec = &rec[1..]; // attributes
        let timestamp = first_timestamp + varlong(&mut rec);
        let offset_delta = varint(&mut rec);
        assert!(
            (0..=last_offset_delta).contains(&offset_delta),
            "offset delta {offset_delta} outside 0..={last_offset_delta}"
        );
        let key = len_prefixed(&mut rec);
        let value = len_prefixed(&mut rec);
        let headers = varint(&mut rec);
        for _ in 0..headers {
            len_prefixed(&mut rec);
            len_prefixed(&mut rec);
        }
        assert!(rec.is_empty(), "a record's fields must fill its length");
        let record = Record {
            timestamp,
            key,
            value,
        };
        records.push((base_offset + i64::from(offset_delta), record));
    }
    assert!(rest.is_empty(), "bytes after the last of {count} records");
    Parsed {
        base_offset,
        producer,
        records,
        bytes: batch.to_vec(),
    }
}

fn unsigned(b: &mut &[u8], max_bytes: usize) -> u64 {
    let mut v = 0u64;
    for i in 0..max_bytes {
        let byte = b[i];
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *b = &b[i + 1..];
            return v;
        }
    }
    panic!("a varint longer than {max_bytes} bytes");
}

fn varint(b: &mut &[u8]) -> i32 {
    let u = unsigned(b, 5) as u32;
    ((u >> 1) as i32) ^ -((u & 1) as i32)
}

fn varlong(b: &mut &[u8]) -> i64 {
    let u = unsigned(b, 10);
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

fn len_prefixed(b: &mut &[u8]) -> Option<Vec<u8>> {
    let len = varint(b);
    if len == -1 {
        return None;
    }
    let len = usize::try_from(len).expect("length ≥ −1");
    let (out, rest) = b.split_at(len);
    *b = rest;
    Some(out.to_vec())
}
