//! Cases for §5.6 Fetch and §5.7 ListOffsets: what is returned from where, the
//! byte caps, the long poll, and each per-partition error.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::api_admin::create_topic;
use crate::api_data::{
    fetch, fetch_body, fetch_one, list_offset, produce_one, FETCH, LIST_OFFSETS,
};
use crate::batch::{self, Record};
use crate::cases_produce::T0;
use crate::conn::Conn;
use crate::coverage::Coverage;

const TOPIC: &str = "reads";

/// Writes two batches to `reads`/0: offsets 0..=1 (timestamps T0, T0+10) and 2
/// (T0+20). Returns them as stored (base offsets stamped).
async fn seed(conn: &mut Conn) -> Vec<Vec<u8>> {
    create_topic(conn, TOPIC, 2, &[]).await;
    let first = batch::build(
        batch::NOT_IDEMPOTENT,
        &[Record::new(T0, "a", "0"), Record::new(T0 + 10, "b", "1")],
    );
    let second = batch::simple(T0 + 20, "c", "2");
    let mut stored = Vec::new();
    for b in [first, second] {
        let answer = produce_one(conn, TOPIC, 0, &b).await;
        assert_eq!(answer.status.code, 0, "seeding {TOPIC}");
        let mut s = b.clone();
        s[..8].copy_from_slice(&answer.base_offset.to_be_bytes());
        stored.push(s);
    }
    stored
}

/// Fetch: whole stored batches from the one holding `fetch_offset`, at least one
/// batch whatever the caps, a long poll woken by an append, and errors 1, 3, 42.
pub async fn fetch_cases(conn: &mut Conn, cov: &mut Coverage, addr: SocketAddr) {
    let stored = seed(conn).await;
    let all = fetch_one(conn, TOPIC, 0, 0).await;
    cov.entry(FETCH, "from offset 0", &all.status, 0);
    assert_eq!((all.high_watermark, all.log_start_offset), (3, 0));
    assert_eq!(all.records, stored.concat(), "every batch, as stored");
    let parsed = batch::parse_all(&all.records);
    let offsets: Vec<i64> = parsed
        .iter()
        .flat_map(|b| b.records.iter().map(|r| r.0))
        .collect();
    assert_eq!(offsets, [0, 1, 2], "record offsets");
    let mid = fetch_one(conn, TOPIC, 0, 1).await;
    assert_eq!(
        mid.records,
        stored.concat(),
        "starts with the batch holding offset 1"
    );
    let end = fetch_one(conn, TOPIC, 0, 3).await;
    cov.entry(FETCH, "at the high watermark", &end.status, 0);
    assert!(end.records.is_empty(), "nothing at the high watermark");
    let empty = fetch_one(conn, TOPIC, 1, 0).await;
    assert_eq!(
        (empty.status.code, empty.high_watermark),
        (0, 0),
        "an empty partition"
    );

    // Caps of 1 byte still return one whole batch, and only one.
    let body = fetch_body(0, 0, 1, &[(TOPIC, vec![(0, 0, 1)])]);
    let capped = fetch(conn, &body).await;
    assert_eq!(capped[0].records, stored[0], "exactly the first batch");

    let entries = [
        (TOPIC, vec![(0, 4, 1024), (1, -1, 1024), (7, 0, 1024)]),
        ("never-created", vec![(0, 0, 1024)]),
    ];
    let answers = fetch(conn, &fetch_body(0, 0, 1 << 20, &entries)).await;
    let got: Vec<(&str, i32)> = answers
        .iter()
        .map(|a| (a.topic.as_str(), a.partition))
        .collect();
    assert_eq!(
        got,
        [(TOPIC, 0), (TOPIC, 1), (TOPIC, 7), ("never-created", 0)]
    );
    let cases = [
        ("an offset above the high watermark", 1),
        ("a negative offset", 1),
        ("a missing partition", 3),
        ("a missing topic", 3),
    ];
    for (answer, (case, want)) in answers.iter().zip(cases) {
        cov.entry(FETCH, case, &answer.status, want);
    }
    let twice = [(TOPIC, vec![(0, 0, 1024)]), (TOPIC, vec![(0, 0, 1024)])];
    let answers = fetch(conn, &fetch_body(0, 0, 1 << 20, &twice)).await;
    assert_eq!(answers.len(), 2, "both listings are answered");
    cov.entry(FETCH, "a partition's first listing", &answers[0].status, 0);
    assert_eq!(
        answers[0].records,
        stored.concat(),
        "the first listing is read"
    );
    cov.entry(
        FETCH,
        "a partition listed a second time",
        &answers[1].status,
        42,
    );
    assert!(answers[1].records.is_empty(), "the second is not");

    // A long poll at the log end answers when an append brings enough bytes.
    let mut waiting = Conn::open(addr).await;
    let body = fetch_body(5_000, 1, 1 << 20, &[(TOPIC, vec![(1, 0, 1 << 20)])]);
    let started = Instant::now();
    let poll = tokio::spawn(async move { fetch(&mut waiting, &body).await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let appended = batch::simple(T0 + 30, "d", "3");
    produce_one(conn, TOPIC, 1, &appended).await;
    let woken = poll.await.expect("the long poll's task");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the append ended the wait"
    );
    assert_eq!(woken[0].records, appended, "the append's batch");
    // With no data and min_bytes 1, max_wait_ms passes and the answer is empty.
    let body = fetch_body(200, 1, 1 << 20, &[(TOPIC, vec![(1, 1, 1 << 20)])]);
    let started = Instant::now();
    let idle = fetch(conn, &body).await;
    assert!(
        started.elapsed() >= Duration::from_millis(180),
        "max_wait_ms is waited"
    );
    assert_eq!((idle[0].status.code, idle[0].records.len()), (0, 0));
}

/// ListOffsets: earliest, latest, and by time (the first record at or after it).
pub async fn list_offsets_cases(conn: &mut Conn, cov: &mut Coverage) {
    let queries = [
        ("earliest", -2, -1, 0),
        ("latest", -1, -1, 3),
        ("a time between records", T0 + 5, T0 + 10, 1),
        ("a record's own time", T0 + 20, T0 + 20, 2),
        ("a time after every record", T0 + 1_000, -1, -1),
    ];
    for (case, query, timestamp, offset) in queries {
        let answer = list_offset(conn, TOPIC, 0, query).await;
        cov.entry(LIST_OFFSETS, case, &answer.status, 0);
        assert_eq!(
            (answer.timestamp, answer.offset),
            (timestamp, offset),
            "{case}"
        );
    }
    let errors = [
        ("a missing partition", TOPIC, 9, -1, 3),
        ("a missing topic", "never-created", 0, -1, 3),
        ("timestamp -3", TOPIC, 0, -3, 42),
    ];
    for (case, topic, partition, query, want) in errors {
        let answer = list_offset(conn, topic, partition, query).await;
        cov.entry(LIST_OFFSETS, case, &answer.status, want);
    }
}
