//! Consumer groups and committed offsets, spoken over the wire against a real
//! broker: the broker side of what rill-client builds on.

use std::collections::BTreeSet;
use std::time::Duration;

use rill_broker::embedded::EmbeddedBroker;
use rill_broker::BrokerConfig;
use rill_protocol::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use rill_protocol::api::describe_groups::DescribeGroupsRequest;
use rill_protocol::api::list_groups::ListGroupsRequest;
use rill_protocol::api::offset_commit::{
    OffsetCommitPartition, OffsetCommitRequest, OffsetCommitTopic,
};
use rill_protocol::api::offset_fetch::OffsetFetchRequest;
use rill_protocol::api::TopicPartitions;
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo};
use rill_tests::client::TestClient;
use rill_tests::STOP_TIMEOUT;

async fn heartbeat(
    client: &mut TestClient,
    member_id: &str,
    member_epoch: i32,
    subscribed: Option<&[&str]>,
    owned: Option<&BTreeSet<(String, i32)>>,
) -> ConsumerGroupHeartbeatResponse {
    let request = RequestBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest {
        group_id: "payment".into(),
        member_id: member_id.into(),
        member_epoch,
        subscribed_topics: subscribed.map(|s| s.iter().map(|t| t.to_string()).collect()),
        owned_partitions: owned.map(|o| {
            o.iter()
                .map(|(t, p)| TopicPartitions {
                    name: t.clone(),
                    partitions: vec![*p],
                })
                .collect()
        }),
    });
    match client.call(request).await.expect("heartbeat") {
        ResponseBody::ConsumerGroupHeartbeat(r) => r,
        other => panic!("not a heartbeat response: {other:?}"),
    }
}

fn owned(response: &ConsumerGroupHeartbeatResponse) -> Option<BTreeSet<(String, i32)>> {
    response.assignment.as_ref().map(|a| {
        a.iter()
            .flat_map(|t| t.partitions.iter().map(|p| (t.name.clone(), *p)))
            .collect()
    })
}

async fn commit(client: &mut TestClient, member: &str, epoch: i32, offset: i64) -> ErrorCode {
    let request = RequestBody::OffsetCommit(OffsetCommitRequest {
        group_id: "payment".into(),
        member_id: member.into(),
        member_epoch: epoch,
        topics: vec![OffsetCommitTopic {
            name: "purchases".into(),
            partitions: vec![OffsetCommitPartition {
                partition: 0,
                offset,
                metadata: Some("m".into()),
            }],
        }],
    });
    match client.call(request).await.expect("commit") {
        ResponseBody::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
        other => panic!("not a commit response: {other:?}"),
    }
}

async fn committed(client: &mut TestClient) -> i64 {
    let request = RequestBody::OffsetFetch(OffsetFetchRequest {
        group_id: "payment".into(),
        topics: Some(vec![TopicPartitions {
            name: "purchases".into(),
            partitions: vec![0],
        }]),
    });
    match client.call(request).await.expect("offset fetch") {
        ResponseBody::OffsetFetch(r) => r.topics[0].partitions[0].offset,
        other => panic!("not an offset fetch response: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_share_partitions_and_commits_are_fenced_and_durable() {
    let mut config = BrokerConfig::default();
    config.groups.heartbeat_interval_ms = 50;
    config.groups.session_timeout_ms = 400;
    let mut broker = EmbeddedBroker::builder()
        .config(config)
        .stop_timeout(STOP_TIMEOUT)
        .start()
        .await
        .expect("start");
    let mut c = TestClient::connect(broker.addr()).await.expect("connect");
    c.create_topic("purchases", 4).await.expect("create");

    let a = heartbeat(&mut c, "", 0, Some(&["purchases"]), None).await;
    assert_eq!(a.error_code, ErrorCode::None, "{a:?}");
    let a_id = a.member_id.clone().expect("member id");
    let mut a_owned = owned(&a).expect("first assignment");
    assert_eq!(a_owned.len(), 4, "a lone member gets every partition");
    let b = heartbeat(&mut c, "", 0, Some(&["purchases"]), None).await;
    let b_id = b.member_id.clone().expect("member id");
    let mut b_owned = owned(&b).unwrap_or_default();
    assert!(b_owned.is_empty(), "nothing is free until a lets go");
    let (mut a_epoch, mut b_epoch) = (a.member_epoch, b.member_epoch);
    for _ in 0..3 {
        let r = heartbeat(&mut c, &a_id, a_epoch, None, Some(&a_owned)).await;
        a_epoch = r.member_epoch;
        a_owned = owned(&r).unwrap_or(a_owned);
        let r = heartbeat(&mut c, &b_id, b_epoch, None, Some(&b_owned)).await;
        b_epoch = r.member_epoch;
        b_owned = owned(&r).unwrap_or(b_owned);
        assert!(
            a_owned.is_disjoint(&b_owned),
            "{a_owned:?} and {b_owned:?} overlap"
        );
    }
    assert_eq!((a_owned.len(), b_owned.len()), (2, 2));

    // Commits: a member's current epoch works, a stale epoch and a stranger do not.
    assert_eq!(commit(&mut c, &a_id, a_epoch, 17).await, ErrorCode::None);
    assert_eq!(
        commit(&mut c, &a_id, a_epoch + 5, 99).await,
        ErrorCode::FencedMemberEpoch
    );
    assert_eq!(
        commit(&mut c, "ghost", 1, 99).await,
        ErrorCode::UnknownMemberId
    );
    assert_eq!(commit(&mut c, "", -1, 99).await, ErrorCode::UnknownMemberId);
    assert_eq!(committed(&mut c).await, 17);

    let ResponseBody::DescribeGroups(d) = c
        .call(RequestBody::DescribeGroups(DescribeGroupsRequest {
            groups: vec!["payment".into(), "nobody".into()],
        }))
        .await
        .expect("describe")
    else {
        panic!("not a describe response");
    };
    assert_eq!(d.groups[0].members.len(), 2);
    assert_eq!(d.groups[1].error_code, ErrorCode::GroupIdNotFound);

    // Both go silent past the session timeout: the group empties, and a commit
    // outside membership is accepted again.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(commit(&mut c, "", -1, 23).await, ErrorCode::None);
    let ResponseBody::ListGroups(l) = c
        .call(RequestBody::ListGroups(ListGroupsRequest))
        .await
        .expect("list")
    else {
        panic!("not a list response");
    };
    assert_eq!(l.groups.len(), 1);
    assert_eq!(
        (l.groups[0].group_id.as_str(), l.groups[0].state.as_str()),
        ("payment", "empty")
    );

    // Committed offsets survive a restart; the internal topic cannot be deleted.
    broker.restart().await.expect("restart");
    let mut c = TestClient::connect(broker.addr()).await.expect("connect");
    assert_eq!(committed(&mut c).await, 23);
    let refused = c.delete_topic("__consumer_offsets").await.expect("delete");
    assert_eq!(refused.error_code, ErrorCode::InvalidTopic, "{refused:?}");

    // Only the broker writes it (docs/PROTOCOL.md §5.5): a Produce is refused
    // with 17 and changes no committed offset.
    let mut forged = BatchBuilder::new(ProducerInfo::NONE);
    forged.push(
        1_900_000_000_000,
        Some(b"payment/purchases/0"),
        Some(b"0"),
        &[],
    );
    let forged = forged.finish();
    let refused = c
        .produce("__consumer_offsets", 0, &forged, 1)
        .await
        .expect("produce")
        .expect("acks 1 answers");
    assert_eq!(refused.error_code, ErrorCode::InvalidTopic, "{refused:?}");
    assert_eq!(committed(&mut c).await, 23);
}
