//! Hostile clients at the framing and connection level: garbage bytes, lying length
//! prefixes, cut-off frames and a connection flood.
//!
//! Every case runs against an in-process broker (see `hostile_support`) and ends
//! with the same checks: the hostile connection got the documented error or was
//! closed (never a hang: every read and write is under a timeout), the broker has
//! not panicked, the log of an existing topic reads back byte for byte as before,
//! and honest connections still produce and fetch. Unreadable headers, unknown APIs
//! and versions, undecodable bodies and random frames are in
//! `broker_hostile_headers.rs`; batch-level attacks in `broker_hostile_batches.rs`;
//! topic-level ones in `broker_hostile_requests.rs`.

mod hostile_support;

use std::time::{Duration, Instant};

use hostile_support::{body_bytes, framed, Fixture, Hostile, OrFail, MAX_FRAME};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rill_protocol::api::api_versions::ApiVersionsRequest;
use rill_protocol::api::metadata::MetadataRequest;
use rill_protocol::api::ApiKey;
use rill_protocol::header::ResponseHeader;
use rill_protocol::message::RequestBody;
use rill_protocol::ErrorCode;
use rill_tests::process::rss_bytes;
use rill_tests::requests::{encode_request, raw_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_close_the_connection() {
    let mut fx = Fixture::start().await;
    let mut garbage = vec![0u8; 64 * 1024];
    StdRng::seed_from_u64(0x6172_6261_6765).fill(&mut garbage[..]);
    let mut conn = fx.connect().await;
    // The broker may close before it has read everything; a failed write is fine.
    let _ = conn.write_raw(&garbage).await;
    let _ = conn.shutdown_write().await; // The broker may have closed first.
    let frames = conn
        .recv_until_closed()
        .await
        .or_fail("64 KiB of random bytes");
    for frame in &frames {
        ResponseHeader::decode(frame).expect("anything the broker sends is a response");
    }
    fx.assert_unharmed("64 KiB of random bytes").await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4_gib_length_prefix_closes_the_connection_without_allocating() {
    // No other test's broker runs while this one measures the process's memory.
    let mut fx = Fixture::start_alone().await;
    let rss_before = rss_bytes().expect("VmRSS");

    // The prefix alone: the broker must decide from the four bytes.
    let mut conn = fx.connect().await;
    conn.write_raw(&[0xff; 4]).await.expect("send the prefix");
    conn.expect_closed()
        .await
        .or_fail("length prefix 0xFFFFFFFF");

    // A good request first, then the prefix: the answer comes, then the close.
    let mut conn = fx.connect().await;
    let mut bytes = framed(&encode_request(
        77,
        RequestBody::ApiVersions(ApiVersionsRequest),
    ));
    bytes.extend_from_slice(&[0xff; 4]);
    conn.write_raw(&bytes).await.expect("send both");
    match conn
        .recv_frame_or_close()
        .await
        .or_fail("request before a 4 GiB prefix")
    {
        Some(f) => {
            let (header, _) = ResponseHeader::decode(&f).expect("response header");
            assert_eq!(header.correlation_id, 77, "the earlier request is answered");
            assert_eq!(header.error_code, ErrorCode::None);
        }
        None => panic!("the request before the bad prefix must be answered first"),
    }
    conn.expect_closed()
        .await
        .or_fail("4 GiB prefix after a good request");

    // The prefix, then as much body as the broker will take: a broker that
    // believed the prefix would buffer all of it.
    let mut conn = fx.connect().await;
    conn.write_raw(&[0xff; 4]).await.expect("send the prefix");
    let chunk = vec![0xab_u8; 1 << 20];
    let mut accepted_mib = 0;
    while accepted_mib < 96 {
        if conn.write_raw(&chunk).await.is_err() {
            break;
        }
        accepted_mib += 1;
    }
    let _ = conn
        .recv_until_closed()
        .await
        .or_fail("4 GiB prefix followed by a flood");
    assert!(
        accepted_mib < 64,
        "the broker kept reading the body of a 4 GiB frame ({accepted_mib} MiB accepted) instead of closing"
    );

    let growth = rss_bytes().expect("VmRSS").saturating_sub(rss_before);
    assert!(
        growth < 64 << 20,
        "RSS grew by {} MiB after 4 GiB length prefixes",
        growth >> 20
    );
    fx.assert_unharmed("4 GiB length prefixes").await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_frame_size_limit_is_exact() {
    let mut fx = Fixture::start().await;
    // A body of exactly max_frame_bytes is read (and refused as malformed: the
    // Metadata request has trailing padding); the connection stays open.
    let mut body = raw_request(
        ApiKey::Metadata.code(),
        0,
        5,
        &body_bytes(&RequestBody::Metadata(MetadataRequest::default())),
    );
    body.resize(MAX_FRAME, 0);
    let mut conn = fx.connect().await;
    conn.expect_refused(
        &body,
        ErrorCode::InvalidRequest,
        "frame of exactly max_frame_bytes",
    )
    .await;
    conn.assert_usable("after a frame of exactly max_frame_bytes")
        .await;

    // One byte more closes the connection, whether or not the body follows.
    body.push(0);
    let mut conn = fx.connect().await;
    let _ = conn.write_raw(&framed(&body)).await;
    conn.expect_closed()
        .await
        .or_fail("frame of max_frame_bytes + 1");
    let mut conn = fx.connect().await;
    conn.write_raw(&((MAX_FRAME + 1) as u32).to_be_bytes())
        .await
        .expect("send the prefix");
    conn.expect_closed()
        .await
        .or_fail("prefix of max_frame_bytes + 1");
    fx.assert_unharmed("frames at and over the size limit")
        .await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_frames_close_without_a_response() {
    let mut fx = Fixture::start().await;

    let mut conn = fx.connect().await;
    let mut bytes = 100u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&raw_request(ApiKey::ApiVersions.code(), 0, 3, &[])[..10]);
    conn.write_raw(&bytes).await.expect("send 4 + 10 bytes");
    let _ = conn.shutdown_write().await; // The broker may have closed first.
    conn.expect_closed()
        .await
        .or_fail("prefix 100, 10 bytes, EOF");

    let mut conn = fx.connect().await;
    conn.write_raw(&[0, 0]).await.expect("send half a prefix");
    let _ = conn.shutdown_write().await; // The broker may have closed first.
    conn.expect_closed()
        .await
        .or_fail("half a length prefix, EOF");

    // A complete request, then a cut-off one: the first is answered, then the close.
    let mut conn = fx.connect().await;
    let mut bytes = framed(&encode_request(
        8,
        RequestBody::ApiVersions(ApiVersionsRequest),
    ));
    bytes.extend_from_slice(&50u32.to_be_bytes());
    bytes.extend_from_slice(&[0; 20]);
    conn.write_raw(&bytes).await.expect("send");
    let _ = conn.shutdown_write().await; // The broker may have closed first.
    let frames = conn
        .recv_until_closed()
        .await
        .or_fail("good request then a cut-off frame");
    assert_eq!(frames.len(), 1, "exactly the complete request is answered");
    let (header, _) = ResponseHeader::decode(&frames[0]).expect("response header");
    assert_eq!(header.correlation_id, 8);

    fx.assert_unharmed("truncated frames").await;
    fx.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_closed_at_once() {
    const LIMIT: usize = 8;
    // The fixture's honest connection holds one of the 8 slots throughout.
    let mut fx = Fixture::start_with_limit(LIMIT).await;
    let mut conns = Vec::new();
    for _ in 0..40 {
        conns.push(fx.connect().await);
    }
    for (i, conn) in conns.iter_mut().enumerate().take(LIMIT - 1) {
        conn.assert_usable(&format!("connection {} of {LIMIT}", i + 2))
            .await;
    }
    let started = Instant::now();
    for (i, conn) in conns.iter_mut().enumerate().skip(LIMIT - 1) {
        conn.expect_closed()
            .await
            .or_fail(&format!("connection {} beyond the limit of {LIMIT}", i + 2));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the excess connections were closed only after {:?}",
        started.elapsed()
    );
    // The connections within the limit still work after the flood.
    for (i, conn) in conns.iter_mut().enumerate().take(LIMIT - 1) {
        conn.assert_usable(&format!("connection {} after the flood", i + 2))
            .await;
    }
    fx.honest
        .assert_usable("the first connection after the flood")
        .await;
    drop(conns);

    // Once they are closed, as many new connections are served again.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut fresh = Vec::new();
        for _ in 0..LIMIT - 1 {
            fresh.push(fx.connect().await);
        }
        let mut served = 0;
        for conn in &mut fresh {
            let request = encode_request(9, RequestBody::ApiVersions(ApiVersionsRequest));
            let what = "a new connection after closing";
            if conn.write_frame(&request).await.is_ok()
                && conn.recv_frame_or_close().await.or_fail(what).is_some()
            {
                served += 1;
            }
        }
        if served == LIMIT - 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "3 s after closing {} connections only {served} of {} new ones are served",
            LIMIT - 1,
            LIMIT - 1
        );
        drop(fresh);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fx.assert_unharmed("40 connections with a limit of 8").await;
    fx.finish().await;
}
