//! Decoders against arbitrary input: no panic, ever.
//!
//! Runs 20,000 cases per property by default; set `RILL_FUZZ_CASES` to run more
//! (the issue asks for at least 1,000,000 per request type; run with
//! `RILL_FUZZ_CASES=1000000 cargo test --release -p rill-protocol --test decode_fuzz`).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rill_protocol::api::ApiKey;
use rill_protocol::message::{Request, RequestBody, Response, ResponseBody};

fn cases() -> u32 {
    std::env::var("RILL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Bytes that are mostly small (where parsers are densest) but sometimes longer.
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..48),
        1 => proptest::collection::vec(any::<u8>(), 0..600),
    ]
}

#[test]
fn every_request_and_response_body_decoder_survives_arbitrary_bytes() {
    for api in ApiKey::ALL {
        let mut runner = runner();
        runner
            .run(&input(), |bytes| {
                let _ = RequestBody::decode(api, 0, &bytes);
                let _ = ResponseBody::decode(api, 0, &bytes);
                let _ = Response::decode(api, 0, &bytes);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", api.name()));
    }
}

#[test]
fn whole_request_frames_survive_arbitrary_bodies_behind_a_valid_header() {
    for api in ApiKey::ALL {
        let mut runner = runner();
        runner
            .run(&input(), |body| {
                let mut frame = Vec::with_capacity(body.len() + 10);
                frame.extend_from_slice(&api.code().to_be_bytes());
                frame.extend_from_slice(&0i16.to_be_bytes());
                frame.extend_from_slice(&7i32.to_be_bytes());
                frame.extend_from_slice(&(-1i16).to_be_bytes());
                frame.extend_from_slice(&body);
                if let Err(failure) = Request::decode(&frame) {
                    prop_assert_eq!(failure.correlation_id, Some(7));
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", api.name()));
    }
}

#[test]
fn arbitrary_frames_never_panic() {
    runner()
        .run(&input(), |frame| {
            let _ = Request::decode(&frame);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
