//! Properties of the record batch format: round trips, truncation and corruption.

use proptest::prelude::*;
use rill_protocol::batch::{stamp_base_offset, stamp_leader_epoch};
use rill_protocol::{BatchBuilder, BatchHeader, ProducerInfo, RecordBatch, BATCH_HEADER_LEN};

/// An owned record as a test generates it.
#[derive(Debug, Clone)]
struct TestRecord {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn record_strategy() -> impl Strategy<Value = TestRecord> {
    (
        -1_000_000_000_000i64..4_000_000_000_000i64,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        proptest::collection::vec(
            (
                "[a-zA-Z0-9é-]{0,12}",
                proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
            ),
            0..4,
        ),
    )
        .prop_map(|(timestamp, key, value, headers)| TestRecord {
            timestamp,
            key,
            value,
            headers,
        })
}

fn build(records: &[TestRecord], producer: ProducerInfo) -> Vec<u8> {
    let mut builder = BatchBuilder::new(producer);
    for r in records {
        let headers: Vec<(&str, Option<&[u8]>)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        builder.push(r.timestamp, r.key.as_deref(), r.value.as_deref(), &headers);
    }
    builder.finish()
}

fn sample_batch() -> Vec<u8> {
    let records: Vec<TestRecord> = (0..5)
        .map(|i| TestRecord {
            timestamp: 1_700_000_000_000 + i,
            key: Some(format!("key-{i}").into_bytes()),
            value: if i == 3 {
                None
            } else {
                Some(vec![i as u8; 17])
            },
            headers: vec![("trace".to_string(), Some(b"abc".to_vec()))],
        })
        .collect();
    build(&records, ProducerInfo::NONE)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn batch_round_trips(
        records in proptest::collection::vec(record_strategy(), 1..20),
        producer_id in -1i64..1_000_000,
        epoch in -1i16..100,
        sequence in -1i32..1_000_000,
        base_offset in 0i64..1 << 50,
    ) {
        let producer = ProducerInfo { producer_id, producer_epoch: epoch, base_sequence: sequence };
        let mut bytes = build(&records, producer);
        stamp_base_offset(&mut bytes, base_offset).expect("stamp");
        stamp_leader_epoch(&mut bytes, 7).expect("stamp");
        let batch = RecordBatch::new(&bytes).expect("whole batch");
        batch.validate().expect("valid");
        batch.validate_produced().expect("contiguous");
        let h = batch.header();
        prop_assert_eq!(h.base_offset, base_offset);
        prop_assert_eq!(h.leader_epoch, 7);
        prop_assert_eq!(h.producer, producer);
        prop_assert_eq!(h.record_count as usize, records.len());
        prop_assert_eq!(batch.last_offset(), base_offset + records.len() as i64 - 1);
        prop_assert_eq!(h.max_timestamp, records.iter().map(|r| r.timestamp).max().unwrap_or(-1));
        let decoded: Vec<_> = batch.records().collect::<Result<_, _>>().expect("records");
        prop_assert_eq!(decoded.len(), records.len());
        for (i, (got, want)) in decoded.iter().zip(&records).enumerate() {
            prop_assert_eq!(got.offset, base_offset + i as i64);
            prop_assert_eq!(got.timestamp, want.timestamp);
            prop_assert_eq!(got.key, want.key.as_deref());
            prop_assert_eq!(got.value, want.value.as_deref());
            let headers: Vec<(String, Option<Vec<u8>>)> = got
                .headers
                .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                .collect();
            prop_assert_eq!(&headers, &want.headers);
        }
    }

    #[test]
    fn every_strict_prefix_is_rejected(records in proptest::collection::vec(record_strategy(), 1..6)) {
        let bytes = build(&records, ProducerInfo::NONE);
        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            prop_assert!(RecordBatch::new(prefix).is_err(), "prefix {} accepted by new", cut);
            prop_assert!(RecordBatch::split_first(prefix).is_err(), "prefix {} accepted by split_first", cut);
        }
    }

    /// `validate_produced` is a superset of `validate`, so the broker runs only it:
    /// whatever mutation it accepts, `validate` accepts too.
    #[test]
    fn whatever_validate_produced_accepts_validate_accepts(
        records in proptest::collection::vec(record_strategy(), 1..6),
        edits in proptest::collection::vec((any::<u16>(), any::<u8>()), 0..4),
        fix_crc in any::<bool>(),
    ) {
        let mut bytes = build(&records, ProducerInfo::NONE);
        for (at, byte) in edits {
            let at = usize::from(at) % bytes.len();
            bytes[at] = byte;
        }
        if fix_crc && bytes.len() > 21 {
            let crc = crc32fast::hash(&bytes[21..]);
            bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        if let Ok(batch) = RecordBatch::new(&bytes) {
            if batch.validate_produced().is_ok() {
                prop_assert!(batch.validate().is_ok(), "{:?}", batch.validate());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(batch) = RecordBatch::new(&bytes) {
            let _ = batch.validate();
            let _ = batch.validate_produced();
            for r in batch.records().flatten() {
                let _ = r.headers.count();
            }
        }
        let _ = RecordBatch::split_first(&bytes);
    }
}

/// Every bit of a batch from the length field on is covered: by the length check
/// (bytes 8..12), by the magic check (byte 16) or by the CRC (21..). The base offset
/// (0..8) and leader epoch (12..16) are stamped by the broker outside the CRC; the log
/// checks base offsets for continuity instead.
#[test]
fn any_flipped_bit_fails_validation() {
    let original = sample_batch();
    let covered = (8..12).chain(16..original.len());
    for byte in covered {
        for bit in 0..8 {
            let mut bytes = original.clone();
            bytes[byte] ^= 1 << bit;
            let result = RecordBatch::new(&bytes).and_then(|b| b.validate());
            assert!(
                result.is_err(),
                "flip of bit {bit} in byte {byte} went unnoticed"
            );
            let produced = RecordBatch::new(&bytes).and_then(|b| b.validate_produced());
            assert!(
                produced.is_err(),
                "flip of bit {bit} in byte {byte} went unnoticed by validate_produced"
            );
        }
    }
}

#[test]
fn crc_covers_everything_after_the_crc_field() {
    let bytes = sample_batch();
    let batch = RecordBatch::new(&bytes).expect("batch");
    assert_eq!(batch.header().crc, crc32fast::hash(&bytes[21..]));
    assert_eq!(bytes[16] as i8, rill_protocol::MAGIC);
}

#[test]
fn header_reports_layout_fields() {
    let bytes = sample_batch();
    let h = BatchHeader::parse(&bytes).expect("header");
    assert_eq!(h.total_len(), Some(bytes.len()));
    assert_eq!(h.last_offset_delta, 4);
    assert_eq!(h.first_timestamp, 1_700_000_000_000);
    assert_eq!(h.max_timestamp, 1_700_000_000_004);
    assert!(bytes.len() > BATCH_HEADER_LEN);
}

#[test]
fn lying_record_count_is_rejected() {
    for count in [0i32, 4, 6, 1000, -1, i32::MAX] {
        let mut bytes = sample_batch();
        bytes[57..61].copy_from_slice(&count.to_be_bytes());
        let crc = crc32fast::hash(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let batch = RecordBatch::new(&bytes).expect("length is right");
        assert!(batch.validate().is_err(), "record count {count} accepted");
    }
}

#[test]
fn gapped_offsets_pass_validate_but_not_contiguity() {
    let mut builder = BatchBuilder::default();
    builder.push_with_delta(0, 10, Some(b"a"), Some(b"1"), &[]);
    builder.push_with_delta(3, 11, Some(b"b"), Some(b"2"), &[]);
    let bytes = builder.finish();
    let batch = RecordBatch::new(&bytes).expect("batch");
    batch.validate().expect("compacted batches are valid");
    assert_eq!(batch.last_offset(), 3);
    assert!(batch.validate_produced().is_err());
}

#[test]
fn split_first_walks_a_sequence_of_batches() {
    let one = sample_batch();
    let mut stream = one.clone();
    stream.extend_from_slice(&one);
    let (first, rest) = RecordBatch::split_first(&stream).expect("first");
    assert_eq!(first.as_bytes(), &one[..]);
    let (second, rest) = RecordBatch::split_first(rest).expect("second");
    assert_eq!(second.as_bytes(), &one[..]);
    assert!(rest.is_empty());
}

#[test]
fn compacted_batch_keeps_its_span_and_may_be_empty() {
    let mut builder = BatchBuilder::default().keep_span(100, 9, 250);
    builder.push_with_delta(4, 120, Some(b"k"), Some(b"v"), &[]);
    let bytes = builder.finish();
    let batch = RecordBatch::new(&bytes).expect("batch");
    batch.validate().expect("valid");
    assert_eq!(batch.last_offset(), 9);
    assert_eq!(batch.max_timestamp(), 250);
    let record = batch.records().next().expect("one").expect("ok");
    assert_eq!((record.offset, record.timestamp), (4, 120));

    let empty = BatchBuilder::default().keep_span(100, 9, 250).finish();
    let batch = RecordBatch::new(&empty).expect("batch");
    batch.validate().expect("an emptied batch is valid storage");
    assert_eq!((batch.record_count(), batch.last_offset()), (0, 9));
    assert!(
        batch.validate_produced().is_err(),
        "producers must send records"
    );
}

#[test]
fn produced_batch_must_state_its_true_max_timestamp() {
    let mut bytes = sample_batch();
    bytes[35..43].copy_from_slice(&1_800_000_000_000i64.to_be_bytes());
    let crc = crc32fast::hash(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    let batch = RecordBatch::new(&bytes).expect("batch");
    batch.validate().expect("storage-valid");
    assert!(batch.validate_produced().is_err());
}
