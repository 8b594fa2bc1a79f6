//! Hostile clients at the request-header and body level: frames too short for a
//! correlation id, unreadable client ids, unknown API keys, unsupported versions,
//! bodies that do not decode, and 200 random frames.
//!
//! Every case runs against an in-process broker (see `hostile_support`) and ends
//! with the same checks as in `broker_hostile.rs`: the documented error code (with
//! the connection kept open) or a close without a response, no broker panic, the
//! log of an existing topic unchanged, and honest connections still served.

mod hostile_support;

use hostile_support::{
    body_bytes, framed, honest_batch, Fixture, Hostile, OrFail, KEEP, MAX_PARTITIONS, SCRATCH,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_protocol::api::api_versions::ApiVersionsRequest;
use rill_protocol::api::list_offsets::ListOffsetsPartitionResponse;
use rill_protocol::api::metadata::MetadataRequest;
use rill_protocol::api::produce::{ProducePartition, ProduceRequest, ProduceTopic};
use rill_protocol::api::ApiKey;
use rill_protocol::header::{RequestHeader, ResponseHeader};
use rill_protocol::message::RequestBody;
use rill_protocol::ErrorCode;
use rill_tests::requests::{
    create_topics_request, encode_request, fetch_request, produce_request, raw_request,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_too_short_for_a_correlation_id_close_without_a_response() {
    // docs/PROTOCOL.md §1: a body under 8 bytes cannot be answered.
    let mut fx = Fixture::start().await;
    let cases: [(&str, Vec<u8>); 4] = [
        ("an empty frame", vec![]),
        ("a 3-byte frame", vec![0, 18, 0]),
        ("a 7-byte frame", vec![0, 18, 0, 0, 0, 0, 0]),
        ("a 4-byte frame after a good one", vec![0, 3, 0, 0]),
    ];
    for (case, body) in cases {
        let mut conn = fx.connect().await;
        if case.contains("after a good one") {
            conn.assert_usable(case).await;
        }
        conn.write_frame(&body).await.expect("send the frame");
        conn.expect_closed().await.or_fail(case);
        fx.assert_unharmed(case).await;
    }
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_client_ids_get_42_and_the_connection_stays_open() {
    // docs/PROTOCOL.md §1 and §3: a body that holds a correlation id but no readable
    // header is refused with 42, echoing the correlation id.
    let mut fx = Fixture::start().await;
    let cases: [(&str, Vec<u8>); 3] = [
        (
            "client_id length -2",
            vec![0, 18, 0, 0, 0, 0, 0, 9, 0xff, 0xfe],
        ),
        (
            "client_id longer than the frame",
            vec![0, 18, 0, 0, 0, 0, 0, 9, 0, 50, b'a', b'b', b'c'],
        ),
        (
            "client_id not UTF-8",
            vec![0, 18, 0, 0, 0, 0, 0, 9, 0, 2, 0xff, 0xfe],
        ),
    ];
    let mut conn = fx.connect().await;
    for (case, body) in cases {
        assert!(
            RequestHeader::decode(&body).is_err(),
            "test bug: {case} is a readable header"
        );
        conn.expect_refused(&body, ErrorCode::InvalidRequest, case)
            .await;
        conn.assert_usable(&format!("after {case}")).await;
        fx.assert_unharmed(case).await;
    }
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_keys_get_invalid_request_and_the_connection_stays_open() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    for key in [999, -1, 17, i16::MAX, i16::MIN] {
        let case = format!("api key {key}");
        let request = raw_request(key, 0, 1000 + i32::from(key), &[1, 2, 3]);
        conn.expect_refused(&request, ErrorCode::InvalidRequest, &case)
            .await;
        conn.assert_usable(&format!("after {case}")).await;
    }
    // Pipelined: the refusal and the next answer come back in request order.
    let mut bytes = framed(&raw_request(999, 0, 41, &[]));
    bytes.extend_from_slice(&framed(&encode_request(
        42,
        RequestBody::ApiVersions(ApiVersionsRequest),
    )));
    conn.write_raw(&bytes).await.expect("send two requests");
    for (expected_id, expected_code) in [(41, ErrorCode::InvalidRequest), (42, ErrorCode::None)] {
        match conn
            .recv_frame_or_close()
            .await
            .or_fail("pipelined after an unknown key")
        {
            Some(f) => {
                let (header, _) = ResponseHeader::decode(&f).expect("response header");
                assert_eq!(
                    (header.correlation_id, header.error_code),
                    (expected_id, expected_code),
                    "responses in request order"
                );
            }
            None => panic!("the connection was closed after an unknown api key"),
        }
    }
    fx.assert_unharmed("unknown api keys").await;
    fx.finish().await;
}

/// docs/PROTOCOL.md §5.5: a Produce with acks 0 is never answered. One the broker
/// cannot accept as a whole (a body that does not decode, an unsupported
/// version) closes the connection instead of getting an error response that the
/// client would pair with its next request; with acks 1 the same request gets
/// its error and the connection stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_acks_0_produce_closes_the_connection_instead_of_answering() {
    let mut fx = Fixture::start().await;
    for acks in [0, 1] {
        let produce = body_bytes(&produce_request(KEEP, 0, &honest_batch("a0", 1), acks));
        let mut trailing =
            encode_request(80, produce_request(KEEP, 0, &honest_batch("a0", 1), acks));
        trailing.push(0);
        let cases = [
            ("a trailing byte", trailing, ErrorCode::InvalidRequest),
            (
                "Produce v1",
                raw_request(ApiKey::Produce.code(), 1, 81, &produce),
                ErrorCode::UnsupportedVersion,
            ),
        ];
        for (case, request, code) in cases {
            let case = format!("{case}, acks {acks}");
            let mut conn = fx.connect().await;
            if acks == 0 {
                conn.write_frame(&request).await.or_fail(&case);
                let frames = conn.recv_until_closed().await.or_fail(&case);
                assert!(
                    frames.is_empty(),
                    "{case}: answered {} frames",
                    frames.len()
                );
            } else {
                conn.expect_refused(&request, code, &case).await;
                conn.assert_usable(&case).await;
            }
        }
    }
    fx.assert_unharmed("refused produce requests (nothing may be written)")
        .await;
    fx.finish().await;
}

/// docs/PROTOCOL.md §5.5: an acks-0 Produce in which any partition is refused
/// closes the connection after the accepted partitions are written; one that is
/// accepted whole leaves it open; an over-long topic name refuses it whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_0_produce_with_any_refused_partition_closes_the_connection() {
    let mut fx = Fixture::start().await;
    let mut watcher = fx.connect_usable("watcher").await;
    let scratch_end = |r: ListOffsetsPartitionResponse| r.offset;
    let before = scratch_end(watcher.latest(SCRATCH, 0, "before").await);

    // Accepted whole: written, unanswered, and the connection stays usable.
    let mut conn = fx.connect().await;
    let whole = encode_request(90, produce_request(SCRATCH, 0, &honest_batch("ok", 2), 0));
    conn.write_frame(&whole).await.or_fail("accepted acks 0");
    conn.assert_usable("after an accepted acks-0 produce").await;
    let after_whole = scratch_end(watcher.latest(SCRATCH, 0, "whole").await);
    assert_eq!(after_whole, before + 2, "the accepted batch is written");

    // One good partition and one missing: the good one is written, then close.
    let mut mixed = ProduceRequest {
        acks: 0,
        timeout_ms: 5000,
        topics: vec![ProduceTopic {
            name: SCRATCH.to_string(),
            partitions: Vec::new(),
        }],
    };
    for partition in [0, MAX_PARTITIONS + 1] {
        mixed.topics[0].partitions.push(ProducePartition {
            partition,
            records: honest_batch("mixed", 3).into(),
        });
    }
    let cases = [
        (
            "a missing partition",
            encode_request(91, RequestBody::Produce(mixed)),
            3,
        ),
        (
            "a missing topic",
            encode_request(92, produce_request("nowhere", 0, &honest_batch("x", 1), 0)),
            0,
        ),
        (
            "an over-long topic name",
            encode_request(
                93,
                produce_request(&"n".repeat(300), 0, &honest_batch("x", 1), 0),
            ),
            0,
        ),
    ];
    let mut expected = after_whole;
    for (case, request, written) in cases {
        let mut conn = fx.connect().await;
        conn.write_frame(&request).await.or_fail(case);
        let frames = conn.recv_until_closed().await.or_fail(case);
        assert!(
            frames.is_empty(),
            "{case}: answered {} frames",
            frames.len()
        );
        expected += written;
        let end = scratch_end(watcher.latest(SCRATCH, 0, case).await);
        assert_eq!(end, expected, "{case}: the accepted partitions are written");
    }
    fx.assert_unharmed("acks-0 produce requests with refused partitions")
        .await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_versions_get_35_and_the_connection_stays_open() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;
    let fetch = body_bytes(&fetch_request(KEEP, 0, 0, 0, 1));
    let produce = body_bytes(&produce_request(KEEP, 0, &honest_batch("v1", 1), 1));
    let cases = [
        ("Fetch v7", raw_request(ApiKey::Fetch.code(), 7, 70, &fetch)),
        (
            "Produce v1",
            raw_request(ApiKey::Produce.code(), 1, 71, &produce),
        ),
        (
            "Produce v-1",
            raw_request(ApiKey::Produce.code(), -1, 72, &produce),
        ),
        (
            "ApiVersions v3",
            raw_request(ApiKey::ApiVersions.code(), 3, 73, &[]),
        ),
    ];
    for (case, request) in cases {
        conn.expect_refused(&request, ErrorCode::UnsupportedVersion, case)
            .await;
        conn.assert_usable(&format!("after {case}")).await;
    }
    fx.assert_unharmed("unsupported versions (Produce v1 must write nothing)")
        .await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_bodies_get_42_and_change_nothing() {
    let mut fx = Fixture::start().await;
    let mut conn = fx.connect().await;

    let mut metadata_trailing = body_bytes(&RequestBody::Metadata(MetadataRequest::default()));
    metadata_trailing.push(0);
    let produce = body_bytes(&produce_request(KEEP, 0, &honest_batch("cut", 2), 1));
    let produce_cut = produce[..produce.len() / 2].to_vec();
    let mut produce_trailing = produce.clone();
    produce_trailing.push(7);
    // acks, timeout, 1 topic "keep", 1 partition 0, records length -5.
    let mut produce_negative_bytes = vec![0, 1, 0, 0, 0x13, 0x88, 0, 0, 0, 1, 0, 4];
    produce_negative_bytes.extend_from_slice(b"keep");
    produce_negative_bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xfb]);
    // max_wait, min_bytes, max_bytes, then a topic count of i32::MAX and nothing.
    let fetch_huge_count = [
        0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x10, 0, 0x7f, 0xff, 0xff, 0xff,
    ];
    let mut create_validate_2 =
        body_bytes(&create_topics_request(&[("made-by-bad-request", 1)], &[]));
    let last = create_validate_2.len() - 1;
    create_validate_2[last] = 2;
    let metadata_bad_utf8 = [0, 0, 0, 1, 0, 2, 0xc3, 0x28];

    let cases: [(&str, ApiKey, Vec<u8>); 8] = [
        (
            "Metadata with a trailing byte",
            ApiKey::Metadata,
            metadata_trailing,
        ),
        ("ApiVersions with a body", ApiKey::ApiVersions, vec![1]),
        ("Produce cut in half", ApiKey::Produce, produce_cut),
        (
            "Produce with a trailing byte",
            ApiKey::Produce,
            produce_trailing,
        ),
        (
            "Produce with records length -5",
            ApiKey::Produce,
            produce_negative_bytes,
        ),
        (
            "Fetch with i32::MAX topics",
            ApiKey::Fetch,
            fetch_huge_count.to_vec(),
        ),
        (
            "CreateTopics validate_only = 2",
            ApiKey::CreateTopics,
            create_validate_2,
        ),
        (
            "Metadata with a non-UTF-8 name",
            ApiKey::Metadata,
            metadata_bad_utf8.to_vec(),
        ),
    ];
    for (i, (case, api, body)) in cases.into_iter().enumerate() {
        let request = raw_request(api.code(), 0, 500 + i as i32, &body);
        conn.expect_refused(&request, ErrorCode::InvalidRequest, case)
            .await;
        conn.assert_usable(&format!("after {case}")).await;
        fx.assert_unharmed(case).await;
    }
    assert!(
        !conn
            .topic_exists("made-by-bad-request", "after a malformed CreateTopics")
            .await,
        "a CreateTopics that did not decode created its topic"
    );
    fx.finish().await;
}

/// One random frame body: pure noise, a valid header with a random tail, or an
/// honest request with a few bytes changed or cut off.
fn random_frame(rng: &mut StdRng) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0..=2 => {
            let mut body = vec![0u8; rng.gen_range(0..48)];
            rng.fill(&mut body[..]);
            body
        }
        3..=5 => {
            const KEYS: [i16; 7] = [0, 1, 2, 3, 18, 19, 20];
            let key = if rng.gen_bool(0.9) {
                KEYS[rng.gen_range(0..KEYS.len())]
            } else {
                rng.gen()
            };
            let version = if rng.gen_bool(0.9) { 0 } else { rng.gen() };
            let mut tail = vec![0u8; rng.gen_range(0..300)];
            rng.fill(&mut tail[..]);
            raw_request(key, version, rng.gen(), &tail)
        }
        _ => {
            let body = match rng.gen_range(0..6) {
                0 => produce_request("fuzzed", rng.gen_range(0..2), &honest_batch("fz", 3), 1),
                1 => fetch_request(KEEP, 0, rng.gen_range(0..8), 0, 1),
                2 => RequestBody::Metadata(MetadataRequest {
                    topics: vec![KEEP.to_string(), "fuzzed".to_string()],
                }),
                3 => create_topics_request(&[("fuzzed-new", 2)], &[]),
                4 => RequestBody::ApiVersions(ApiVersionsRequest),
                _ => produce_request("fuzzed", 0, &honest_batch("fz2", 1), -1),
            };
            let mut bytes = encode_request(rng.gen(), body);
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len());
                bytes[at] ^= 1 << rng.gen_range(0..8);
            }
            if rng.gen_bool(0.2) {
                bytes.truncate(rng.gen_range(0..bytes.len()));
            }
            bytes
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_random_frames_never_take_the_broker_down() {
    let mut fx = Fixture::start().await;
    let created = fx.honest.create_topic("fuzzed", 2).await.or_fail("setup");
    assert_eq!(created.error_code, ErrorCode::None, "create fuzzed");
    let mut rng = StdRng::seed_from_u64(0x0052_494c_4c00);
    for i in 0..200 {
        let body = random_frame(&mut rng);
        let case = format!(
            "random frame {i} ({} bytes: {:02x?}…)",
            body.len(),
            &body[..body.len().min(24)]
        );
        let mut conn = fx.connect().await;
        // A frame whose header is unreadable may be cut off by the close.
        let _ = conn.write_frame(&body).await;
        let _ = conn.shutdown_write().await; // The broker may have closed first.
        let frames = conn.recv_until_closed().await.or_fail(&case);
        match RequestHeader::decode(&body) {
            // docs/PROTOCOL.md §1: under 8 bytes, closed without a response;
            // otherwise refused with 42, echoing the correlation id.
            Err(_) if body.len() < 8 => assert!(
                frames.is_empty(),
                "{case}: a frame too short for a correlation id must be closed silently"
            ),
            // A Produce whose acks cannot be read is not answered: the
            // connection closes instead.
            Err(_) if body.get(..2) == Some(&[0, 0][..]) && frames.is_empty() => {}
            Err(_) => match frames.as_slice() {
                [frame] => {
                    let (response, rest) = ResponseHeader::decode(frame)
                        .unwrap_or_else(|e| panic!("{case}: undecodable response: {e}"));
                    assert_eq!(
                        Some(response.correlation_id),
                        RequestHeader::peek_correlation_id(&body),
                        "{case}: correlation id"
                    );
                    assert_eq!(response.error_code, ErrorCode::InvalidRequest, "{case}");
                    assert!(rest.is_empty(), "{case}: a refusal has no body");
                }
                _ => panic!("{case}: {} responses to one unreadable frame", frames.len()),
            },
            Ok((header, _)) => {
                if header.api_key == ApiKey::Produce.code() {
                    // acks = 0 gets no response.
                    assert!(frames.len() <= 1, "{case}: at most one response");
                } else {
                    assert_eq!(frames.len(), 1, "{case}: exactly one response");
                }
                for frame in &frames {
                    let (response, _) = ResponseHeader::decode(frame)
                        .unwrap_or_else(|e| panic!("{case}: undecodable response: {e}"));
                    assert_eq!(
                        response.correlation_id, header.correlation_id,
                        "{case}: correlation id"
                    );
                }
            }
        }
        assert!(fx.broker.is_serving(), "{case}: the broker stopped");
    }
    fx.assert_unharmed("200 random frames").await;
    fx.finish().await;
}
