//! Every inter-broker message: round trips, every strict prefix refused, and
//! bad values named.

use bytes::{Bytes, BytesMut};

use super::*;
use crate::api::produce::LINK_MIN_BYTES;
use crate::error_code::ErrorCode;

fn group() -> GroupId {
    GroupId {
        topic: "__cluster".into(),
        partition: 0,
    }
}

fn vote() -> Vote {
    Vote {
        term: 7,
        node_id: 2,
        committed: true,
    }
}

fn id(term: u64, index: u64) -> LogId {
    LogId { term, index }
}

fn membership() -> StoredMembership {
    StoredMembership {
        log_id: Some(id(1, 0)),
        membership: Membership {
            configs: vec![vec![1, 2, 3]],
            nodes: (1..=3)
                .map(|id| ClusterNode {
                    id,
                    cluster_addr: format!("b{id}:9500"),
                })
                .collect(),
        },
    }
}

/// Round-trips `value` and checks that every strict prefix fails to decode.
fn check<T: std::fmt::Debug + PartialEq>(
    value: &T,
    encode: impl Fn(&T, &mut BytesMut),
    decode: impl Fn(&[u8]) -> crate::Result<T>,
) {
    let mut buf = BytesMut::new();
    encode(value, &mut buf);
    assert_eq!(&decode(&buf).expect("decodes"), value);
    for cut in 0..buf.len() {
        assert!(
            decode(&buf[..cut]).is_err(),
            "{cut}/{} bytes decoded",
            buf.len()
        );
    }
}

#[test]
fn requests_round_trip_and_every_prefix_fails() {
    check(
        &RaftVoteRequest {
            group: group(),
            vote: vote(),
            last_log_id: Some(id(6, 41)),
            pre_vote: true,
            leadership_transfer: false,
        },
        RaftVoteRequest::encode,
        RaftVoteRequest::decode,
    );
    check(
        &RaftAppendRequest {
            group: group(),
            vote: vote(),
            prev_log_id: Some(id(6, 41)),
            leader_commit: None,
            entries: vec![
                Entry {
                    log_id: id(7, 42),
                    payload: EntryPayload::Blank,
                },
                Entry {
                    log_id: id(7, 43),
                    payload: EntryPayload::Normal(Bytes::from_static(b"batch")),
                },
                Entry {
                    log_id: id(7, 44),
                    payload: EntryPayload::Membership(membership().membership),
                },
            ],
        },
        RaftAppendRequest::encode,
        RaftAppendRequest::decode,
    );
    check(
        &MetaProposeRequest {
            command: Bytes::from_static(b"\x02\x00\x06orders"),
        },
        MetaProposeRequest::encode,
        MetaProposeRequest::decode,
    );
    check(
        &RaftSnapshotRequest {
            group: group(),
            vote: vote(),
            meta: SnapshotMeta {
                last_log_id: Some(id(7, 44)),
                last_membership: membership(),
            },
            data: Bytes::from_static(b"state"),
        },
        RaftSnapshotRequest::encode,
        RaftSnapshotRequest::decode,
    );
}

#[test]
fn responses_round_trip_and_every_prefix_fails() {
    let answers = [
        AppendResult::Success,
        AppendResult::PartialSuccess(Some(id(3, 9))),
        AppendResult::PartialSuccess(None),
        AppendResult::Conflict,
        AppendResult::HigherVote(vote()),
    ];
    for answer in answers {
        check(
            &Ok(answer),
            encode_response,
            decode_response::<AppendResult>,
        );
    }
    check(
        &Ok(VoteAnswer {
            vote: vote(),
            vote_granted: true,
            last_log_id: None,
        }),
        encode_response,
        decode_response::<VoteAnswer>,
    );
    check(
        &Ok(ProposeAnswer {
            reply: Bytes::from_static(b"\x00"),
        }),
        encode_response,
        decode_response::<ProposeAnswer>,
    );
    check(
        &Ok(SnapshotAnswer { vote: vote() }),
        encode_response,
        decode_response::<SnapshotAnswer>,
    );
    let refused: std::result::Result<VoteAnswer, Refusal> = Err(Refusal {
        code: ErrorCode::UnknownTopicOrPartition,
        message: "no such group".into(),
    });
    check(&refused, encode_response, decode_response::<VoteAnswer>);
}

#[test]
fn bad_values_are_named_and_change_nothing() {
    let mut buf = BytesMut::new();
    encode_response(&Ok(AppendResult::Conflict), &mut buf);
    let last = buf.len() - 1;
    buf[last] = 9;
    let err = decode_response::<AppendResult>(&buf).expect_err("kind 9");
    assert!(err.to_string().contains("9 is not 0 (success)"), "{err}");

    let request = RaftVoteRequest {
        group: group(),
        vote: vote(),
        last_log_id: None,
        pre_vote: false,
        leadership_transfer: false,
    };
    let mut buf = BytesMut::new();
    request.encode(&mut buf);
    let last = buf.len() - 1;
    buf[last] = 2;
    let err = RaftVoteRequest::decode(&buf).expect_err("flag 2");
    assert!(err.to_string().contains("2 is not 0 or 1"), "{err}");
    buf[last] = 0;
    buf.extend_from_slice(&[0]);
    assert!(
        RaftVoteRequest::decode(&buf).is_err(),
        "a trailing byte was taken"
    );
}

#[test]
fn a_huge_entry_count_in_a_short_frame_is_refused_before_allocating() {
    let mut buf = BytesMut::new();
    RaftAppendRequest {
        group: group(),
        vote: vote(),
        prev_log_id: None,
        leader_commit: None,
        entries: Vec::new(),
    }
    .encode(&mut buf);
    let count_at = buf.len() - 4;
    buf[count_at..].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(RaftAppendRequest::decode(&buf).is_err());
}

#[test]
fn append_entries_can_share_the_frame() {
    let request = RaftAppendRequest {
        group: group(),
        vote: vote(),
        prev_log_id: None,
        leader_commit: None,
        entries: vec![Entry {
            log_id: id(1, 1),
            payload: EntryPayload::Normal(Bytes::from_static(b"a record batch")),
        }],
    };
    let mut buf = BytesMut::new();
    request.encode(&mut buf);
    let frame = buf.freeze();
    let decoded = RaftAppendRequest::decode_shared(&frame, &frame).expect("decodes");
    assert_eq!(decoded, request);
    let EntryPayload::Normal(data) = &decoded.entries[0].payload else {
        panic!("not normal")
    };
    assert!(
        frame.as_ptr_range().contains(&data.as_ptr()),
        "entry data was copied"
    );
}

#[test]
fn linked_append_encoding_is_the_plain_encoding_with_large_entries_shared() {
    let payloads = [
        EntryPayload::Blank,
        EntryPayload::Normal(Bytes::from(vec![1; LINK_MIN_BYTES - 1])),
        EntryPayload::Normal(Bytes::from(vec![2; LINK_MIN_BYTES])),
        EntryPayload::Membership(membership().membership),
        EntryPayload::Normal(Bytes::from(vec![3; 3 * LINK_MIN_BYTES])),
        EntryPayload::Normal(Bytes::from_static(b"small")),
    ];
    let request = RaftAppendRequest {
        group: group(),
        vote: vote(),
        prev_log_id: Some(id(1, 4)),
        leader_commit: Some(id(1, 3)),
        entries: (0..)
            .zip(payloads)
            .map(|(index, payload)| Entry {
                log_id: id(2, 5 + index),
                payload,
            })
            .collect(),
    };
    let mut plain = BytesMut::from(&b"head"[..]);
    request.encode(&mut plain);
    let (mut buf, mut parts) = (BytesMut::from(&b"head"[..]), Vec::new());
    request.encode_linked(&mut buf, &mut parts);
    let mut joined = parts.concat();
    joined.extend_from_slice(&buf);
    assert_eq!(joined, plain);
    let large: Vec<&Bytes> = request
        .entries
        .iter()
        .filter_map(|e| match &e.payload {
            EntryPayload::Normal(data) if data.len() >= LINK_MIN_BYTES => Some(data),
            _ => None,
        })
        .collect();
    assert_eq!(large.len(), 2);
    for data in large {
        assert!(
            parts.iter().any(|part| part.as_ptr() == data.as_ptr()),
            "an entry of {} bytes was copied",
            data.len()
        );
    }
    let decoded = RaftAppendRequest::decode(&plain[4..]).expect("decodes");
    assert_eq!(decoded, request);
}
