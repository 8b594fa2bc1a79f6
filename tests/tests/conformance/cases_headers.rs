//! Cases for §1 and §3, and §5.5's acks-0 rule: frames the broker closes the
//! connection on, requests refused whole (unknown api_key, unsupported version,
//! a body that does not decode, an over-long topic name), and Produce with acks 0,
//! which is never answered and has its connection closed when refused.

use std::net::SocketAddr;

use crate::api_admin::{create_topic, create_topics_body, API_VERSIONS, CREATE_TOPICS, METADATA};
use crate::api_data::{
    fetch_body, fetch_one, list_offsets_body, produce_body, FETCH, LIST_OFFSETS, PRODUCE,
};
use crate::api_groups::{
    heartbeat_body, offset_commit_body, offset_fetch_body, Heartbeat, HEARTBEAT, OFFSET_COMMIT,
    OFFSET_FETCH,
};
use crate::batch;
use crate::cases_produce::{high_watermark, T0};
use crate::conn::{Conn, CLIENT_ID};
use crate::coverage::Coverage;
use crate::spec::Spec;
use crate::wire::{frame, request, response_header};

/// Where the acks-0 cases write.
const SILENT: &str = "silent";
/// Where a Produce refused whole would write.
const REFUSED: &str = "refused-whole";

/// `body` as a v`version` request of `api` with correlation id `id`.
fn framed(api: i16, version: i16, body: &[u8]) -> impl FnOnce(i32) -> Vec<u8> + '_ {
    move |id| request(api, version, id, Some(CLIENT_ID), body)
}

/// A request of `api` that is valid but for naming the topic `name`.
fn naming(api: i16, name: &str) -> Vec<u8> {
    let topics = [name];
    match api {
        PRODUCE => produce_body(1, &[(name, vec![(0, batch::simple(T0, "k", "v"))])]),
        FETCH => fetch_body(0, 0, 1024, &[(name, vec![(0, 0, 1024)])]),
        LIST_OFFSETS => list_offsets_body(name, 0, -1),
        OFFSET_COMMIT => offset_commit_body(&("g", "", -1, &[(name, 0, 1, None)])),
        OFFSET_FETCH => offset_fetch_body("g", Some(&vec![(name.to_string(), vec![0])])),
        HEARTBEAT => heartbeat_body(&Heartbeat {
            group_id: "g",
            subscribed: Some(&topics),
            owned: Some(Vec::new()),
            ..Heartbeat::default()
        }),
        other => panic!("§3 names api_key {other}, which has no over-long-name case here"),
    }
}

/// Fails unless the connection still answers.
async fn still_open(conn: &mut Conn, case: &str) {
    let id = conn.next_id();
    conn.send(&request(API_VERSIONS, 0, id, None, &[])).await;
    let (header, _) = response_header(&conn.recv().await);
    assert_eq!(header.correlation_id, id, "after {case}: the next answer");
}

/// §1: frames the broker cannot answer close the connection.
pub async fn framing_cases(addr: SocketAddr, max_frame_bytes: usize) {
    let too_big = u32::try_from(max_frame_bytes + 1).expect("the limit fits a u32");
    let cases: [(&str, Vec<u8>); 3] = [
        (
            "a frame over max_frame_bytes",
            too_big.to_be_bytes().to_vec(),
        ),
        ("a 7-byte body", frame(&[0, 18, 0, 0, 0, 0, 0])),
        ("a frame cut short", vec![0, 0, 0, 20, 0, 18]),
    ];
    for (case, bytes) in cases {
        let mut conn = Conn::open(addr).await;
        conn.send(&bytes).await;
        if case == "a frame cut short" {
            // End our side: the broker sees EOF inside the frame.
            conn.shutdown_writes().await;
        }
        conn.expect_closed(case).await;
    }
}

/// §3: requests refused whole, each answered with the code and no body, the
/// connection kept open.
pub async fn refusal_cases(conn: &mut Conn, cov: &mut Coverage, spec: &Spec) {
    assert!(!spec.apis.contains_key(&99), "api_key 99 must be unknown");
    let header = conn.call_refused(framed(99, 0, &[])).await;
    cov.refused("an unknown api_key", &header, 42);
    still_open(conn, "an unknown api_key").await;

    for (&api, info) in &spec.apis {
        // A Produce body must show its acks (1) to be answered at all.
        let body = if api == PRODUCE {
            vec![0, 1]
        } else {
            Vec::new()
        };
        let case = format!("{} v{}", info.name, info.versions.1 + 1);
        let header = conn
            .call_refused(framed(api, info.versions.1 + 1, &body))
            .await;
        cov.refused(&case, &header, 35);
        still_open(conn, &case).await;
    }

    create_topic(conn, REFUSED, 1, &[]).await;
    let mut produce = produce_body(1, &[(REFUSED, vec![(0, batch::simple(T0, "k", "v"))])]);
    produce.push(0);
    let cases: [(&str, i16, Vec<u8>); 4] = [
        (
            "a Metadata body with a byte left over",
            METADATA,
            vec![0, 0, 0, 0, 0],
        ),
        (
            "a Metadata array longer than its bytes",
            METADATA,
            vec![0, 0, 0, 9, 0, 1],
        ),
        (
            "CreateTopics validate_only 2",
            CREATE_TOPICS,
            create_topics_body(&[("x", 1, &[])], 2),
        ),
        ("an acks-1 Produce with a byte left over", PRODUCE, produce),
    ];
    for (case, api, body) in cases {
        let header = conn.call_refused(framed(api, 0, &body)).await;
        cov.refused(case, &header, 42);
        if api == CREATE_TOPICS {
            let message = header.error_message.unwrap_or_default();
            assert!(
                message.contains("validate_only"),
                "{case}: the message names the field: {message}"
            );
        }
        still_open(conn, case).await;
    }
    assert_eq!(
        high_watermark(conn, REFUSED, 0).await,
        0,
        "a refused Produce writes nothing"
    );
}

/// §3: a topic name over the limit refuses the whole request in each API that
/// answers per partition; a name at the limit does not.
pub async fn long_name_cases(conn: &mut Conn, cov: &mut Coverage, spec: &Spec) {
    let long = "x".repeat(spec.name_limit + 1);
    for &api in &spec.long_name_apis {
        let case = format!("{} naming a {}-byte topic", spec.api_name(api), long.len());
        let header = conn.call_refused(framed(api, 0, &naming(api, &long))).await;
        cov.refused(&case, &header, spec.long_name_code);
        cov.long_name(api);
        still_open(conn, &case).await;
    }
    let at_limit = "x".repeat(spec.name_limit);
    let answer = fetch_one(conn, &at_limit, 0, 0).await;
    assert_eq!(
        answer.status.code, 3,
        "a name at the limit is answered per partition"
    );
}

/// §5.5: a Produce with acks 0 is never answered. One the broker takes whole
/// leaves the connection open; one refused in whole or in part closes it, after
/// writing the partitions it accepted (none when it is refused whole).
pub async fn acks_zero_cases(conn: &mut Conn, addr: SocketAddr, spec: &Spec) {
    create_topic(conn, SILENT, 1, &[]).await;
    let good = batch::simple(T0, "k", "v");
    // Pipelined behind it, a Metadata request's answer is the first to come back.
    let body = produce_body(0, &[(SILENT, vec![(0, good.clone())])]);
    let mut bytes = request(PRODUCE, 0, conn.next_id(), Some(CLIENT_ID), &body);
    let id = conn.next_id();
    bytes.extend(request(METADATA, 0, id, Some(CLIENT_ID), &[0, 0, 0, 0]));
    conn.send(&bytes).await;
    let (header, _) = response_header(&conn.recv().await);
    assert_eq!(
        header.correlation_id, id,
        "an acks-0 Produce is not answered"
    );
    assert_eq!(
        high_watermark(conn, SILENT, 0).await,
        1,
        "and it is written"
    );

    let mut trailing = produce_body(0, &[(SILENT, vec![(0, good.clone())])]);
    trailing.push(0);
    let long = "x".repeat(spec.name_limit + 1);
    let both = |other: &str| {
        produce_body(
            0,
            &[
                (SILENT, vec![(0, good.clone())]),
                (other, vec![(0, good.clone())]),
            ],
        )
    };
    // (case, api_version, body, records of SILENT written)
    let cases: [(&str, i16, Vec<u8>, i64); 5] = [
        ("a byte left over", 0, trailing, 0),
        (
            "version 1",
            1,
            produce_body(0, &[(SILENT, vec![(0, good.clone())])]),
            0,
        ),
        ("an unreadable acks field", 0, vec![0], 0),
        (
            "an over-long topic name beside a good partition",
            0,
            both(&long),
            0,
        ),
        (
            "a missing topic beside a good partition",
            0,
            both("never-created"),
            1,
        ),
    ];
    let mut written = 1;
    for (case, version, body, writes) in cases {
        let mut refused = Conn::open(addr).await;
        let id = refused.next_id();
        refused
            .send(&request(PRODUCE, version, id, Some(CLIENT_ID), &body))
            .await;
        refused
            .expect_closed(&format!("an acks-0 Produce with {case}"))
            .await;
        written += writes;
        let hw = high_watermark(conn, SILENT, 0).await;
        assert_eq!(hw, written, "{case}: the accepted partitions are written");
    }
}
