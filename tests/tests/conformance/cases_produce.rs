//! Cases for §5.5 Produce and §5.8 InitProducerId on a healthy broker: what a
//! success answers and stores, each per-partition error with nothing written, and
//! the idempotent-producer rules (storage failures are in `cases_faults`).

use crate::api_admin::create_topic;
use crate::api_data::{
    fetch_one, init_producer_id, list_offset, produce, produce_one, INIT_PRODUCER_ID, PRODUCE,
};
use crate::batch::{self, Producer, Record};
use crate::conn::Conn;
use crate::coverage::Coverage;

/// Timestamps of the records this test writes start here.
pub const T0: i64 = 1_700_000_000_000;

/// The high watermark of `topic`/`partition` (ListOffsets, timestamp −1).
pub async fn high_watermark(conn: &mut Conn, topic: &str, partition: i32) -> i64 {
    let latest = list_offset(conn, topic, partition, -1).await;
    assert_eq!(
        latest.status.code, 0,
        "ListOffsets latest of {topic}/{partition}"
    );
    latest.offset
}

/// A success stores the batch as sent, at the offsets the answer gives.
pub async fn success_cases(conn: &mut Conn, cov: &mut Coverage) {
    create_topic(conn, "appends", 2, &[]).await;
    let first = batch::simple(T0, "k", "v");
    let three: Vec<Record> = (0..3)
        .map(|i| Record::new(T0 + i, &format!("k{i}"), "v"))
        .collect();
    let second = batch::build(batch::NOT_IDEMPOTENT, &three);
    let mut stored = Vec::new();
    for (case, batch, offset) in [("one record", &first, 0), ("three records", &second, 1)] {
        let answer = produce_one(conn, "appends", 0, batch).await;
        cov.entry(PRODUCE, case, &answer.status, 0);
        assert_eq!(answer.base_offset, offset, "{case}: base_offset");
        assert_eq!(answer.log_append_time_ms, -1, "{case}: create time");
        assert_eq!(answer.log_start_offset, 0, "{case}: log_start_offset");
        let mut expected = batch.clone();
        expected[..8].copy_from_slice(&offset.to_be_bytes());
        stored.extend_from_slice(&expected);
    }
    let fetched = fetch_one(conn, "appends", 0, 0).await;
    assert_eq!(fetched.status.code, 0);
    assert_eq!(
        fetched.records, stored,
        "the stored batches are the bytes sent, base_offset stamped"
    );
    // Two partitions in one request: each answered on its own, in order.
    let one = batch::simple(T0, "a", "b");
    let answers = produce(
        conn,
        -1,
        &[
            ("appends", vec![(1, one.clone()), (7, one.clone())]),
            ("never-created", vec![(0, one.clone())]),
        ],
    )
    .await;
    let got: Vec<(&str, i32)> = answers
        .iter()
        .map(|a| (a.topic.as_str(), a.partition))
        .collect();
    assert_eq!(got, [("appends", 1), ("appends", 7), ("never-created", 0)]);
    cov.entry(PRODUCE, "acks -1", &answers[0].status, 0);
    assert_eq!(answers[0].base_offset, 0);
    for (answer, case) in answers[1..]
        .iter()
        .zip(["a missing partition", "a missing topic"])
    {
        cov.entry(PRODUCE, case, &answer.status, 3);
        assert_eq!(answer.base_offset, -1, "{case}: base_offset on error");
    }
}

/// Each per-partition refusal of §5.5 writes nothing.
pub async fn error_cases(conn: &mut Conn, cov: &mut Coverage) {
    create_topic(conn, "refusals", 1, &[]).await;
    create_topic(conn, "tiny-batches", 1, &[("max_batch_bytes", Some("64"))]).await;
    let good = batch::simple(T0, "k", "v");
    let mut bad_crc = good.clone();
    bad_crc[20] ^= 0xff;
    let mut bad_magic = good.clone();
    bad_magic[16] = 2;
    let mut two = good.clone();
    two.extend_from_slice(&good);
    let empty_batch = batch::build(batch::NOT_IDEMPOTENT, &[]);
    let mut wrong_max = good.clone();
    wrong_max[35..43].copy_from_slice(&(T0 + 5).to_be_bytes());
    let crc = crc32fast::hash(&wrong_max[21..]).to_be_bytes();
    wrong_max[17..21].copy_from_slice(&crc);
    let corrupt: [(&str, Vec<u8>); 6] = [
        ("a bad CRC", bad_crc),
        ("magic 2", bad_magic),
        ("no bytes", Vec::new()),
        ("two batches", two),
        ("no records", empty_batch),
        ("max_timestamp not the newest record's", wrong_max),
    ];
    for (case, records) in corrupt {
        let answer = produce_one(conn, "refusals", 0, &records).await;
        cov.entry(PRODUCE, case, &answer.status, 2);
    }
    assert!(good.len() > 64, "the batch must exceed max_batch_bytes 64");
    let big = produce_one(conn, "tiny-batches", 0, &good).await;
    cov.entry(PRODUCE, "a batch over max_batch_bytes", &big.status, 10);
    let internal = produce_one(conn, "__consumer_offsets", 0, &good).await;
    cov.entry(PRODUCE, "the internal offsets topic", &internal.status, 17);
    for acks in [2, -2] {
        let answers = produce(conn, acks, &[("refusals", vec![(0, good.clone())])]).await;
        cov.entry(PRODUCE, &format!("acks {acks}"), &answers[0].status, 21);
    }
    let twice = produce(
        conn,
        1,
        &[("refusals", vec![(0, good.clone()), (0, good.clone())])],
    )
    .await;
    assert_eq!(twice.len(), 2, "both listings are answered");
    for answer in &twice {
        cov.entry(PRODUCE, "a partition listed twice", &answer.status, 42);
    }
    let stranger = Producer {
        id: 1_000_000_000,
        epoch: 0,
        sequence: 0,
    };
    let unissued = batch::build(stranger, &[Record::new(T0, "k", "v")]);
    let answer = produce_one(conn, "refusals", 0, &unissued).await;
    cov.entry(PRODUCE, "a producer id never issued", &answer.status, 59);
    for topic in ["refusals", "tiny-batches"] {
        assert_eq!(
            high_watermark(conn, topic, 0).await,
            0,
            "{topic}: nothing written"
        );
    }
}

/// InitProducerId: new ids with epoch 0; a transactional id gets 42.
pub async fn init_producer_id_cases(conn: &mut Conn, cov: &mut Coverage) -> i64 {
    let first = init_producer_id(conn, None).await;
    cov.entry(INIT_PRODUCER_ID, "null transactional_id", &first.status, 0);
    let second = init_producer_id(conn, None).await;
    assert!(first.producer_id >= 0, "producer_id ≥ 0");
    assert_eq!((first.producer_epoch, second.producer_epoch), (0, 0));
    assert_ne!(first.producer_id, second.producer_id, "every id is new");
    let refused = init_producer_id(conn, Some("tx")).await;
    cov.entry(INIT_PRODUCER_ID, "a transactional_id", &refused.status, 42);
    assert_eq!((refused.producer_id, refused.producer_epoch), (-1, -1));
    second.producer_id
}

/// §5.8's rules for batches with a producer id.
pub async fn idempotent_cases(conn: &mut Conn, cov: &mut Coverage) {
    create_topic(conn, "idempotent", 1, &[]).await;
    let id = init_producer_id_cases(conn, cov).await;
    let stamped = |sequence: i32, records: i64| {
        let producer = Producer {
            id,
            epoch: 0,
            sequence,
        };
        let recs: Vec<Record> = (0..records)
            .map(|i| Record::new(T0 + i, "k", &format!("{sequence}+{i}")))
            .collect();
        batch::build(producer, &recs)
    };
    let batches: Vec<Vec<u8>> = (0..6).map(|s| stamped(s, 1)).collect();
    for (offset, b) in (0i64..).zip(&batches) {
        let answer = produce_one(conn, "idempotent", 0, b).await;
        cov.entry(PRODUCE, "an idempotent batch", &answer.status, 0);
        assert_eq!(answer.base_offset, offset);
    }
    // The last 5 batches (sequences 1..=5) are remembered: a retry gets the
    // original offset and writes nothing.
    for sequence in [1usize, 5] {
        let retry = produce_one(conn, "idempotent", 0, &batches[sequence]).await;
        cov.entry(PRODUCE, "a retry", &retry.status, 0);
        assert_eq!(
            retry.base_offset, sequence as i64,
            "a retry's original offset"
        );
    }
    assert_eq!(
        high_watermark(conn, "idempotent", 0).await,
        6,
        "retries are not written"
    );
    let cases = [
        ("a batch older than the last 5", batches[0].clone()),
        ("a gap in the sequence", stamped(7, 1)),
    ];
    for (case, b) in cases {
        let answer = produce_one(conn, "idempotent", 0, &b).await;
        cov.entry(PRODUCE, case, &answer.status, 45);
        assert_eq!(answer.base_offset, -1, "{case}");
    }
    let three = stamped(6, 3);
    let appended = produce_one(conn, "idempotent", 0, &three).await;
    cov.entry(
        PRODUCE,
        "three records from sequence 6",
        &appended.status,
        0,
    );
    let retried = produce_one(conn, "idempotent", 0, &three).await;
    assert_eq!(
        (retried.status.code, retried.base_offset),
        (0, appended.base_offset)
    );
    let next = produce_one(conn, "idempotent", 0, &stamped(9, 1)).await;
    assert_eq!(
        (next.status.code, next.base_offset),
        (0, 9),
        "sequence 9 follows 6..=8"
    );

    // A producer id's first batch on a partition starts at sequence 0.
    let fresh = init_producer_id(conn, None).await.producer_id;
    let late_start = Producer {
        id: fresh,
        epoch: 0,
        sequence: 3,
    };
    let b = batch::build(late_start, &[Record::new(T0, "k", "v")]);
    let answer = produce_one(conn, "idempotent", 0, &b).await;
    cov.entry(PRODUCE, "a first batch at sequence 3", &answer.status, 45);
    // Its epoch is the one InitProducerId issued (0).
    let wrong_epoch = Producer {
        id: fresh,
        epoch: 1,
        sequence: 0,
    };
    let b = batch::build(wrong_epoch, &[Record::new(T0, "k", "v")]);
    let answer = produce_one(conn, "idempotent", 0, &b).await;
    cov.entry(
        PRODUCE,
        "producer_epoch 1 where 0 was issued",
        &answer.status,
        47,
    );
    let right = Producer {
        id: fresh,
        epoch: 0,
        sequence: 0,
    };
    let b = batch::build(right, &[Record::new(T0, "k", "v")]);
    let answer = produce_one(conn, "idempotent", 0, &b).await;
    cov.entry(PRODUCE, "a first batch at sequence 0", &answer.status, 0);
    assert_eq!(answer.base_offset, 10);
    let fetched = fetch_one(conn, "idempotent", 0, 10).await;
    let parsed = batch::parse_all(&fetched.records);
    assert_eq!(parsed.len(), 1, "one batch at offset 10");
    assert_eq!(
        parsed[0].producer, right,
        "the producer fields are stored as sent"
    );
}
