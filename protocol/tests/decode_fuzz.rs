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
                let (min, max) = api.versions();
                for version in min..=max {
                    let _ = RequestBody::decode(api, version, &bytes);
                    let _ = ResponseBody::decode(api, version, &bytes);
                    let _ = Response::decode(api, version, &bytes);
                }
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

/// One valid request of every API, encoded as a whole frame body (header + body).
fn valid_requests() -> Vec<Vec<u8>> {
    use bytes::{Bytes, BytesMut};
    use rill_protocol::api::api_versions::ApiVersionsRequest;
    use rill_protocol::api::consumer_group_heartbeat::ConsumerGroupHeartbeatRequest;
    use rill_protocol::api::create_topics::{CreatableTopic, CreateTopicsRequest, TopicConfig};
    use rill_protocol::api::delete_topics::DeleteTopicsRequest;
    use rill_protocol::api::describe_cluster::DescribeClusterRequest;
    use rill_protocol::api::describe_groups::DescribeGroupsRequest;
    use rill_protocol::api::fetch::{FetchPartition, FetchRequest, FetchTopic};
    use rill_protocol::api::init_producer_id::InitProducerIdRequest;
    use rill_protocol::api::list_groups::ListGroupsRequest;
    use rill_protocol::api::list_offsets::{
        ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
    };
    use rill_protocol::api::metadata::MetadataRequest;
    use rill_protocol::api::offset_commit::{
        OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
    };
    use rill_protocol::api::offset_fetch::OffsetFetchRequest;
    use rill_protocol::api::produce::{ProducePartition, ProduceRequest, ProduceTopic};
    use rill_protocol::api::TopicPartitions;
    use rill_protocol::{BatchBuilder, ProducerInfo};

    let mut batch = BatchBuilder::new(ProducerInfo::NONE);
    batch.push(1_700_000_000_000, Some(b"k"), Some(b"value"), &[]);
    let bodies = vec![
        RequestBody::Produce(ProduceRequest {
            acks: -1,
            timeout_ms: 1000,
            topics: vec![ProduceTopic {
                name: "purchases".into(),
                partitions: vec![ProducePartition {
                    partition: 2,
                    records: Bytes::from(batch.finish()),
                }],
            }],
        }),
        RequestBody::Fetch(FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 1 << 20,
            topics: vec![FetchTopic {
                name: "purchases".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 42,
                    partition_max_bytes: 1 << 20,
                }],
            }],
        }),
        RequestBody::ListOffsets(ListOffsetsRequest {
            topics: vec![ListOffsetsTopic {
                name: "purchases".into(),
                partitions: vec![ListOffsetsPartition {
                    partition: 1,
                    timestamp: -2,
                }],
            }],
        }),
        RequestBody::Metadata(MetadataRequest {
            topics: vec!["purchases".into(), "audit".into()],
        }),
        RequestBody::ApiVersions(ApiVersionsRequest),
        RequestBody::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "purchases".into(),
                partitions: 6,
                replication_factor: 3,
                configs: vec![TopicConfig {
                    key: "fsync".into(),
                    value: Some("always".into()),
                }],
            }],
            timeout_ms: 1000,
            validate_only: false,
        }),
        RequestBody::DeleteTopics(DeleteTopicsRequest {
            topics: vec!["audit".into()],
            timeout_ms: 1000,
        }),
        RequestBody::OffsetCommit(OffsetCommitRequest {
            group_id: "payment".into(),
            member_id: "m-1".into(),
            member_epoch: 3,
            topics: vec![OffsetCommitTopic {
                name: "purchases".into(),
                partitions: vec![OffsetCommitPartition {
                    partition: 1,
                    offset: 1042,
                    metadata: Some("host-a".into()),
                }],
            }],
        }),
        RequestBody::OffsetFetch(OffsetFetchRequest {
            group_id: "payment".into(),
            topics: Some(vec![TopicPartitions {
                name: "purchases".into(),
                partitions: vec![0, 1],
            }]),
        }),
        RequestBody::DescribeGroups(DescribeGroupsRequest {
            groups: vec!["payment".into(), "inventory".into()],
        }),
        RequestBody::ListGroups(ListGroupsRequest),
        RequestBody::InitProducerId(InitProducerIdRequest {
            transactional_id: None,
            timeout_ms: 60_000,
        }),
        RequestBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest {
            group_id: "payment".into(),
            member_id: "m-1".into(),
            member_epoch: 3,
            subscribed_topics: Some(vec!["purchases".into()]),
            owned_partitions: Some(vec![TopicPartitions {
                name: "purchases".into(),
                partitions: vec![0, 2],
            }]),
        }),
        RequestBody::DescribeCluster(DescribeClusterRequest),
    ];
    bodies
        .into_iter()
        .map(|body| {
            let mut buf = BytesMut::new();
            Request::new(7, Some("fuzz".into()), body).encode(&mut buf);
            buf.to_vec()
        })
        .collect()
}

/// Valid requests of every API with bytes overwritten, inserted, removed or cut
/// off: these get past the first fields, where purely random bytes rarely do.
#[test]
fn mutated_valid_requests_never_panic() {
    let valid = valid_requests();
    assert_eq!(valid.len(), ApiKey::ALL.len());
    for (index, original) in valid.iter().enumerate() {
        let mutation = (
            proptest::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 1..6),
            any::<u16>(),
        );
        runner()
            .run(&mutation, |(edits, cut)| {
                let mut frame = original.clone();
                for (at, byte, kind) in edits {
                    let at = usize::from(at) % (frame.len() + 1);
                    match kind {
                        0 if at < frame.len() => frame[at] = byte,
                        1 => frame.insert(at, byte),
                        _ if at < frame.len() => {
                            frame.remove(at);
                        }
                        _ => {}
                    }
                }
                frame.truncate(frame.len().min(usize::from(cut)));
                if let Ok(request) = Request::decode(&frame) {
                    // Whatever decodes re-encodes to a frame that decodes the same.
                    let mut again = bytes::BytesMut::new();
                    request.encode(&mut again);
                    prop_assert_eq!(Request::decode(&again), Ok(request));
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("request {index}: {e}"));
    }
}
