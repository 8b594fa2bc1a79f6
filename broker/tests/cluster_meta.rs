//! Three brokers' metadata group members on 127.0.0.1, in one process, talking
//! through their real cluster listeners: they elect a leader, apply the same
//! commands, carry on without a stopped member, and a member that comes back
//! catches up from its own log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::BytesMut;
use rill_broker::cluster::metadata::{MetaCommand, MetaReply, TopicAssignment};
use rill_broker::cluster::raft_node::{ProposeFailure, RaftTiming};
use rill_broker::cluster::runtime::{Cluster, ClusterStart};
use rill_broker::cluster::types::NodeAddr;
use rill_protocol::cluster::{
    decode_response, ClusterApiKey, GroupId, RaftVoteRequest, Vote, VoteAnswer,
};
use rill_protocol::header::{RequestHeader, ResponseHeader};
use rill_protocol::ErrorCode;
use tokio::net::TcpListener;

const TIMING: RaftTiming = RaftTiming {
    heartbeat_ms: 50,
    election_min_ms: 200,
    election_max_ms: 400,
};

async fn start(
    id: u64,
    addr: SocketAddr,
    members: &BTreeMap<u64, NodeAddr>,
    data: &Path,
) -> Cluster {
    let listener = TcpListener::bind(addr)
        .await
        .expect("bind cluster listener");
    Cluster::start(ClusterStart {
        node_id: id,
        listener,
        members: members.clone(),
        routes: Default::default(),
        dir: data.join(format!("node-{id}")),
        timing: TIMING,
        max_frame_bytes: 8 << 20,
    })
    .await
    .expect("start cluster member")
}

fn create(name: &str) -> MetaCommand {
    MetaCommand::CreateTopic(TopicAssignment {
        name: name.to_string(),
        settings: String::new(),
        replicas: vec![vec![1, 2, 3]],
    })
}

/// Proposes on whichever member leads, following NotLeader answers.
async fn propose(members: &[Option<Cluster>], command: &MetaCommand) -> MetaReply {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for member in members.iter().flatten() {
            match member.meta().propose(command).await {
                Ok(reply) => return reply,
                Err(ProposeFailure::NotLeader { .. }) => continue,
                Err(ProposeFailure::Unavailable { reason }) => {
                    eprintln!("proposal not taken yet: {reason}");
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no member took the proposal"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `member` has applied a topic named `name`.
async fn sees(member: &Cluster, name: &str) {
    let mut view = member.meta().view();
    let found = tokio::time::timeout(
        Duration::from_secs(20),
        view.wait_for(|v| v.state.topic(name).is_some()),
    )
    .await;
    assert!(matches!(found, Ok(Ok(_))), "topic {name} never applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_agree_survive_a_stop_and_catch_up() {
    let data = tempfile::tempdir().expect("tempdir");
    let mut addrs = BTreeMap::new();
    for id in 1..=3u64 {
        // Reserve a port for each member's listener; rebound at once below.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        addrs.insert(id, probe.local_addr().expect("addr"));
    }
    let members: BTreeMap<u64, NodeAddr> = addrs
        .iter()
        .map(|(id, addr)| {
            (
                *id,
                NodeAddr {
                    cluster: addr.to_string(),
                },
            )
        })
        .collect();
    let mut nodes = Vec::new();
    for (id, addr) in &addrs {
        nodes.push(Some(start(*id, *addr, &members, data.path()).await));
    }

    assert_eq!(propose(&nodes, &create("orders")).await, MetaReply::Done);
    for node in nodes.iter().flatten() {
        sees(node, "orders").await;
    }
    // The same command again is refused everywhere alike.
    assert!(matches!(
        propose(&nodes, &create("orders")).await,
        MetaReply::Refused { .. }
    ));

    let leader = nodes[0]
        .as_ref()
        .expect("running")
        .meta()
        .wait_for_leader(Duration::from_secs(10))
        .await
        .expect("a leader is known");
    // A follower forwards a command to the leader over the cluster listener.
    let follower = nodes
        .iter()
        .flatten()
        .find(|n| n.meta().node_id() != leader)
        .expect("a follower");
    let forwarded = follower
        .meta()
        .propose_anywhere(&create("forwarded"), Duration::from_secs(10))
        .await;
    assert_eq!(forwarded, Ok(MetaReply::Done));
    let refused = follower
        .meta()
        .propose_anywhere(&create("forwarded"), Duration::from_secs(10))
        .await;
    assert!(
        matches!(refused, Ok(MetaReply::Refused { .. })),
        "{refused:?}"
    );
    for node in nodes.iter().flatten() {
        sees(node, "forwarded").await;
    }

    // Stop the leader: the other two elect one and carry on.
    let stopped = usize::try_from(leader - 1).expect("index");
    nodes[stopped].take().expect("running").shutdown().await;
    assert_eq!(propose(&nodes, &create("payments")).await, MetaReply::Done);
    for node in nodes.iter().flatten() {
        sees(node, "payments").await;
    }
    let blocks = propose(&nodes, &MetaCommand::AllocateProducerIds { count: 100 }).await;
    assert_eq!(
        blocks,
        MetaReply::ProducerIds {
            first: 0,
            count: 100
        }
    );

    // The stopped member restarts from its own directory and catches up.
    nodes[stopped] = Some(start(leader, addrs[&leader], &members, data.path()).await);
    let back = nodes[stopped].as_ref().expect("restarted");
    sees(back, "orders").await;
    sees(back, "payments").await;
    let mut view = back.meta().view();
    let caught_up = tokio::time::timeout(
        Duration::from_secs(20),
        view.wait_for(|v| v.state.next_producer_id() == 100),
    )
    .await;
    assert!(
        matches!(caught_up, Ok(Ok(_))),
        "producer-id block not applied after restart"
    );

    for node in nodes.into_iter().flatten() {
        node.shutdown().await;
    }
}

/// Sends one frame (header + `body`) and reads the answer's header and body.
async fn exchange(
    stream: &mut tokio::net::TcpStream,
    api_key: i16,
    body: &[u8],
) -> (ResponseHeader, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut frame = BytesMut::new();
    RequestHeader {
        api_key,
        api_version: 0,
        correlation_id: 7,
        client_id: None,
    }
    .encode(&mut frame);
    frame.extend_from_slice(body);
    let mut out = (frame.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&frame);
    stream.write_all(&out).await.expect("write");
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await.expect("read length");
    let mut answer = vec![0u8; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut answer).await.expect("read answer");
    let (header, rest) = ResponseHeader::decode(&answer).expect("header");
    (header, rest.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cluster_requests_are_refused_and_the_group_carries_on() {
    let data = tempfile::tempdir().expect("tempdir");
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = probe.local_addr().expect("addr");
    drop(probe);
    let members = BTreeMap::from([(
        1,
        NodeAddr {
            cluster: addr.to_string(),
        },
    )]);
    let node = start(1, addr, &members, data.path()).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");

    let (header, _) = exchange(&mut stream, ClusterApiKey::RaftVote.code(), b"\x00\x01").await;
    assert_eq!(header.error_code, ErrorCode::InvalidRequest);
    let message = header.error_message.unwrap_or_default();
    assert!(message.contains("group topic"), "{message}");

    let (header, _) = exchange(&mut stream, 18, b"").await;
    assert_eq!(
        header.error_code,
        ErrorCode::InvalidRequest,
        "a client api on the cluster listener"
    );

    let mut body = BytesMut::new();
    RaftVoteRequest {
        group: GroupId {
            topic: "nope".into(),
            partition: 0,
        },
        vote: Vote {
            term: 99,
            node_id: 5,
            committed: false,
        },
        last_log_id: None,
        pre_vote: false,
        leadership_transfer: false,
    }
    .encode(&mut body);
    let (header, answer) = exchange(&mut stream, ClusterApiKey::RaftVote.code(), &body).await;
    assert!(header.error_code.is_ok());
    let refused = decode_response::<VoteAnswer>(&answer).expect("decodes");
    assert!(
        matches!(&refused, Err(r) if r.code == ErrorCode::UnknownTopicOrPartition),
        "{refused:?}"
    );

    // The same connection and the group still work.
    let nodes = vec![Some(node)];
    assert_eq!(propose(&nodes, &create("after")).await, MetaReply::Done);
    for node in nodes.into_iter().flatten() {
        node.shutdown().await;
    }
}
