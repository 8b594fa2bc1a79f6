//! One partition replicated on three brokers' cluster members in one process,
//! over their real cluster listeners: a batch appended on the leader is
//! answered once committed, lands at the same offsets in every replica's log,
//! a follower refuses appends and names the leader, the group carries on
//! without a stopped leader, and the stopped replica catches up from its own
//! log when it returns. A leader cut off from the majority answers a batch
//! with `acks=1` durability from its own log, and loses it when it rejoins.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rill_broker::cluster::partition_group::{Durability, PartitionGroup};
use rill_broker::cluster::raft_node::{ProposeFailure, RaftTiming};
use rill_broker::cluster::runtime::{Cluster, ClusterStart};
use rill_broker::cluster::types::NodeAddr;
use rill_protocol::cluster::GroupId;
use rill_protocol::{BatchBuilder, ProducerInfo, RecordBatch};
use rill_storage::{Log, LogOptions};
use rill_tests::proxy::FaultProxy;
use tokio::net::TcpListener;

const TIMING: RaftTiming = RaftTiming {
    heartbeat_ms: 50,
    election_min_ms: 200,
    election_max_ms: 400,
};

struct Member {
    cluster: Cluster,
    group: Arc<PartitionGroup>,
}

fn group() -> GroupId {
    GroupId {
        topic: "orders".to_string(),
        partition: 0,
    }
}

async fn start(
    id: u64,
    addr: SocketAddr,
    members: &BTreeMap<u64, NodeAddr>,
    data: &Path,
) -> Member {
    start_routed(id, addr, members, HashMap::new(), data).await
}

/// Starts member `id`, which reaches the peers in `routes` there instead.
async fn start_routed(
    id: u64,
    addr: SocketAddr,
    members: &BTreeMap<u64, NodeAddr>,
    routes: HashMap<u64, String>,
    data: &Path,
) -> Member {
    let listener = TcpListener::bind(addr)
        .await
        .expect("bind cluster listener");
    let dir = data.join(format!("node-{id}"));
    let cluster = Cluster::start(ClusterStart {
        node_id: id,
        listener,
        members: members.clone(),
        routes,
        dir: dir.join("__cluster"),
        timing: TIMING,
        max_frame_bytes: 8 << 20,
    })
    .await
    .expect("start cluster member");
    let log = Log::open(dir.join("orders").join("0"), LogOptions::default()).expect("open log");
    let group = cluster
        .start_partition(group(), &[1, 2, 3], Arc::new(log))
        .await
        .expect("start partition member");
    Member { cluster, group }
}

fn batch(records: usize, tag: &str) -> Bytes {
    let mut builder = BatchBuilder::new(ProducerInfo::NONE);
    for i in 0..records {
        builder.push(1_000, None, Some(format!("{tag}-{i}").as_bytes()), &[]);
    }
    Bytes::from(builder.finish())
}

/// The running members.
fn running(members: &[Option<Member>]) -> Vec<&Member> {
    members.iter().flatten().collect()
}

/// Appends on whichever of `members` leads; returns the base offset.
async fn append(members: &[&Member], records: usize, tag: &str) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        for member in members {
            match member.group.append(batch(records, tag)).await {
                Ok(offset) => return offset,
                Err(ProposeFailure::NotLeader { .. }) => continue,
                Err(ProposeFailure::Unavailable { reason }) => {
                    eprintln!("append not taken yet: {reason}");
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no member took the append"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `member` has committed up to `offset`.
async fn committed(member: &Member, offset: i64) {
    let mut view = member.group.committed();
    let reached = tokio::time::timeout(
        Duration::from_secs(20),
        view.wait_for(|v| v.committed_offset >= offset),
    )
    .await;
    assert!(
        matches!(reached, Ok(Ok(_))),
        "committed offset {} never reached {offset}",
        member.group.committed_offset()
    );
}

/// Every record value in `member`'s log below `end`.
fn values(member: &Member, end: i64) -> Vec<Vec<u8>> {
    records(member, end).into_iter().map(|r| r.1).collect()
}

/// Every record in `member`'s log below `end`: (offset, value, control batch?).
fn records(member: &Member, end: i64) -> Vec<(i64, Vec<u8>, bool)> {
    let log = member.group.log();
    let mut out = Vec::new();
    let mut next = 0;
    while next < end {
        let read = log.read(next, 1 << 20).expect("read");
        let mut rest = read.bytes.as_slice();
        assert!(!rest.is_empty(), "offset {next} is missing");
        while !rest.is_empty() {
            let (batch, after) = RecordBatch::split_first(rest).expect("batch");
            for r in batch.records() {
                let r = r.expect("record");
                if r.offset < end {
                    let value = r.value.expect("value").to_vec();
                    out.push((r.offset, value, batch.header().is_control()));
                }
            }
            next = batch.next_offset();
            rest = after;
        }
    }
    out
}

/// A free port on 127.0.0.1 for each of brokers 1, 2 and 3 (bound at start).
fn reserve_listeners() -> BTreeMap<u64, SocketAddr> {
    (1..=3u64)
        .map(|id| {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            (id, probe.local_addr().expect("addr"))
        })
        .collect()
}

/// The membership: each broker at its cluster listener.
fn peers(listeners: &BTreeMap<u64, SocketAddr>) -> BTreeMap<u64, NodeAddr> {
    listeners
        .iter()
        .map(|(id, addr)| {
            let cluster = addr.to_string();
            (*id, NodeAddr { cluster })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_replicates_fails_over_and_catches_up() {
    let data = tempfile::tempdir().expect("tempdir");
    let addrs = reserve_listeners();
    let peers = peers(&addrs);
    let mut members = Vec::new();
    for (id, addr) in &addrs {
        members.push(Some(start(*id, *addr, &peers, data.path()).await));
    }

    let first = append(&running(&members), 3, "a").await;
    let second = append(&running(&members), 2, "b").await;
    assert!(second >= first + 3, "batches overlap: {first}, {second}");
    for member in members.iter().flatten() {
        committed(member, second + 2).await;
    }
    let reference = records(members[0].as_ref().expect("running"), second + 2);
    let produced: Vec<_> = reference.iter().filter(|r| !r.2).collect();
    assert_eq!(produced.len(), 5, "{reference:?}");
    for member in members.iter().flatten() {
        assert_eq!(records(member, second + 2), reference, "replicas differ");
    }

    // A follower refuses and names the leader.
    let leader = members[0]
        .as_ref()
        .expect("running")
        .group
        .wait_for_leader(Duration::from_secs(10))
        .await
        .expect("a leader");
    let follower = members
        .iter()
        .flatten()
        .find(|m| m.cluster.meta().node_id() != leader)
        .expect("a follower");
    match follower.group.append(batch(1, "refused")).await {
        Err(ProposeFailure::NotLeader {
            leader: Some((id, _)),
        }) => assert_eq!(id, leader),
        other => panic!("a follower took an append: {other:?}"),
    }

    // Stop the leader: the other two elect one and go on appending.
    let stopped = usize::try_from(leader - 1).expect("index");
    let gone = members[stopped].take().expect("running");
    gone.cluster.shutdown().await;
    gone.group.log().close().expect("close log");
    drop(gone);
    let third = append(&running(&members), 4, "c").await;
    assert!(third >= second + 2);
    for member in members.iter().flatten() {
        committed(member, third + 4).await;
    }

    // The stopped replica restarts from its own log and catches up.
    members[stopped] = Some(start(leader, addrs[&leader], &peers, data.path()).await);
    let back = members[stopped].as_ref().expect("restarted");
    committed(back, third + 4).await;
    let survivor = members
        .iter()
        .flatten()
        .find(|m| m.cluster.meta().node_id() != leader);
    let survivor = survivor.expect("a survivor");
    assert_eq!(records(back, third + 4), records(survivor, third + 4));

    for member in members.into_iter().flatten() {
        member.cluster.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_the_majority_loses_its_uncommitted_tail() {
    let data = tempfile::tempdir().expect("tempdir");
    let listeners = reserve_listeners();
    // Every link i -> j runs through its own proxy in front of j's listener.
    let mut links = BTreeMap::new();
    for from in 1..=3u64 {
        for to in (1..=3u64).filter(|to| *to != from) {
            let proxy = FaultProxy::start(listeners[&to]).await.expect("proxy");
            links.insert((from, to), proxy);
        }
    }
    let peers = peers(&listeners);
    let mut members = Vec::new();
    for (id, addr) in &listeners {
        let routes = links
            .iter()
            .filter(|((from, _), _)| from == id)
            .map(|((_, to), proxy)| (*to, proxy.addr().to_string()))
            .collect();
        members.push(Some(
            start_routed(*id, *addr, &peers, routes, data.path()).await,
        ));
    }
    let first = append(&running(&members), 2, "before").await;
    let all = running(&members);
    let old = all[0]
        .group
        .wait_for_leader(Duration::from_secs(10))
        .await
        .expect("a leader");
    let old_leader = *all
        .iter()
        .find(|m| m.cluster.meta().node_id() == old)
        .expect("the leader is a member");
    let majority: Vec<&Member> = all
        .iter()
        .copied()
        .filter(|m| m.cluster.meta().node_id() != old)
        .collect();

    // Cut the leader off both ways; it still takes an append it cannot commit.
    for ((from, to), proxy) in &links {
        if *from == old || *to == old {
            proxy.partition(true);
        }
    }
    // Once no frame can still be in flight, the batch can reach no one else.
    tokio::time::sleep(Duration::from_millis(100)).await;
    // acks=1: the leader's own log is enough for an answer, so a leader cut
    // off from the majority answers, with an offset that is not committed.
    let leader_only = old_leader
        .group
        .submit(batch(1, "leader-only"), Durability::Leader)
        .await
        .expect("the leader takes the batch");
    let leader_only = tokio::time::timeout(Duration::from_secs(2), leader_only.base_offset())
        .await
        .expect("answered without a majority")
        .expect("in the leader's log");
    assert!(
        old_leader.group.committed_offset() <= leader_only,
        "committed without a majority"
    );
    let stranded = old_leader.group.append(batch(3, "stranded"));
    let stranded = tokio::time::timeout(Duration::from_secs(3), stranded);
    // The majority elects a new leader and commits without it.
    let (stranded, after) = tokio::join!(stranded, append(&majority, 2, "after"));
    assert!(
        !matches!(stranded, Ok(Ok(_))),
        "a leader cut off from the majority acknowledged an append: {stranded:?}"
    );
    assert!(after >= first + 2);

    // The old leader wrote the stranded batch to its own log.
    let own = values(old_leader, old_leader.group.log().log_end_offset());
    assert!(
        own.iter().any(|v| v.starts_with(b"stranded")),
        "the stranded batch never reached the old leader's log: {own:?}"
    );

    // Healed, the old leader drops its uncommitted tail and follows.
    for proxy in links.values() {
        proxy.partition(false);
    }
    let end = after + 2;
    committed(old_leader, end).await;
    let kept = values(majority[0], end);
    assert_eq!(values(old_leader, end), kept, "the logs forked");
    assert!(
        !kept.iter().any(|v| v.starts_with(b"stranded")),
        "an unacknowledged record was kept: {kept:?}"
    );
    // What acks=1 gives up: the record acknowledged by the cut-off leader alone
    // is gone, its offset now another record's.
    assert!(
        !kept.iter().any(|v| v.starts_with(b"leader-only")),
        "a record only the deposed leader had survived: {kept:?}"
    );
    let tail = old_leader.group.log().log_end_offset();
    assert_eq!(tail, majority[0].group.log().log_end_offset());

    drop(all);
    for member in members.into_iter().flatten() {
        member.cluster.shutdown().await;
    }
}
