//! Cases for §5.1–5.4 and §5.14 on a healthy broker: what ApiVersions lists, what
//! Metadata and DescribeCluster describe, and each code CreateTopics and
//! DeleteTopics answer per topic (storage failures and the topic limit are in
//! `cases_faults`).

use std::net::SocketAddr;

use crate::api_admin::{
    api_versions, create_topic, create_topic_v1, create_topics, delete_topics, describe_cluster,
    metadata, metadata_v1, ClusterPartition, API_VERSIONS, CREATE_TOPICS, DELETE_TOPICS,
    DESCRIBE_CLUSTER, METADATA,
};
use crate::conn::Conn;
use crate::coverage::Coverage;
use crate::spec::Spec;
use crate::wire::Status;

/// The topic §5.3's success case creates; other cases use it too.
pub const ORDERS: &str = "orders";
/// Its partition count.
pub const ORDERS_PARTITIONS: i32 = 3;

/// ApiVersions lists exactly §5's table, with its versions.
pub async fn api_versions_cases(conn: &mut Conn, cov: &mut Coverage, spec: &Spec) {
    let (code, keys) = api_versions(conn).await;
    let status = Status {
        code,
        message: None,
    };
    cov.entry(API_VERSIONS, "ApiVersions", &status, 0);
    let listed: Vec<(i16, i16, i16)> = spec
        .apis
        .iter()
        .map(|(key, api)| (*key, api.versions.0, api.versions.1))
        .collect();
    let mut got = keys;
    got.sort_unstable();
    assert_eq!(
        got, listed,
        "ApiVersions lists §5's table, versions included"
    );
}

/// CreateTopics: one success, one validate-only success, and each per-topic error
/// of one request, answered on its own.
pub async fn create_topics_cases(conn: &mut Conn, cov: &mut Coverage) {
    let long = "n".repeat(250);
    let results = create_topics(
        conn,
        &[
            (
                ORDERS,
                ORDERS_PARTITIONS,
                &[("retention_ms", Some("-1")), ("segment_bytes", None)],
            ),
            ("bad/name", 1, &[]),
            (".", 1, &[]),
            (&long, 1, &[]),
            ("no-partitions", 0, &[]),
            ("too-many-partitions", 1025, &[]),
            ("unknown-setting", 1, &[("colour", Some("red"))]),
            ("bad-value", 1, &[("segment_bytes", Some("10"))]),
        ],
        false,
    )
    .await;
    let expected = [0, 17, 17, 17, 37, 37, 40, 40];
    for (result, want) in results.iter().zip(expected) {
        cov.entry(CREATE_TOPICS, &result.name, &result.status, want);
    }
    let again = create_topics(conn, &[(ORDERS, 1, &[])], false).await;
    cov.entry(CREATE_TOPICS, "an existing topic", &again[0].status, 36);

    let checked = create_topics(conn, &[("only-checked", 2, &[])], true).await;
    cov.entry(CREATE_TOPICS, "validate_only", &checked[0].status, 0);
    let meta = metadata(conn, &["only-checked", "no-partitions"]).await;
    for topic in &meta.topics {
        cov.entry(METADATA, "a topic never created", &topic.status, 3);
    }

    // v1: a broker outside a cluster is the only replica: factor 1 or -1.
    for (name, factor, want) in [
        ("one-replica", 1, 0),
        ("default-replicas", -1, 0),
        ("two-replicas", 2, 38),
        ("no-replicas", 0, 38),
    ] {
        let result = create_topic_v1(conn, name, 2, factor).await;
        assert_eq!(result.name, name);
        cov.entry(CREATE_TOPICS, name, &result.status, want);
    }
    let meta = metadata(conn, &["two-replicas"]).await;
    cov.entry(
        METADATA,
        "a refused factor created nothing",
        &meta.topics[0].status,
        3,
    );
}

/// Metadata: the one broker, every topic (the internal one too), a named topic's
/// partitions 0..N−1 led by that broker, and 3 for a missing topic.
pub async fn metadata_cases(conn: &mut Conn, cov: &mut Coverage, addr: SocketAddr) {
    let all = metadata(conn, &[]).await;
    assert_eq!(all.brokers.len(), 1, "a single broker lists itself");
    let (node_id, host, port) = all.brokers[0].clone();
    assert_eq!(host, addr.ip().to_string(), "the broker's host");
    assert_eq!(port, i32::from(addr.port()), "the broker's port");
    let names: Vec<&str> = all.topics.iter().map(|t| t.name.as_str()).collect();
    for expected in [ORDERS, "__consumer_offsets"] {
        assert!(names.contains(&expected), "all topics: {names:?}");
    }
    let named = metadata(conn, &[ORDERS, "never-created"]).await;
    let orders = &named.topics[0];
    assert_eq!(orders.name, ORDERS);
    cov.entry(METADATA, "an existing topic", &orders.status, 0);
    let partitions: Vec<(i32, i16, i32)> =
        (0..ORDERS_PARTITIONS).map(|p| (p, 0, node_id)).collect();
    assert_eq!(
        orders.partitions, partitions,
        "partitions 0..N−1, led by the broker"
    );
    assert_eq!(named.topics[1].name, "never-created");
    cov.entry(METADATA, "a missing topic", &named.topics[1].status, 3);

    // v1 adds each partition's leader epoch (0 outside a cluster) and replicas
    // (the broker alone).
    let v1 = metadata_v1(conn, ORDERS).await;
    let want: Vec<_> = partitions.iter().map(|p| (*p, 0, vec![node_id])).collect();
    assert_eq!(
        v1, want,
        "Metadata v1: epoch 0, the broker the only replica"
    );
}

/// DescribeCluster on a broker without cluster settings: a one-node cluster,
/// itself the metadata leader and the serving leader of every partition, the
/// only replica, with no followers.
pub async fn describe_cluster_cases(conn: &mut Conn, cov: &mut Coverage, addr: SocketAddr) {
    let view = describe_cluster(conn).await;
    cov.entry(DESCRIBE_CLUSTER, "one broker", &view.status, 0);
    let (node_id, metadata_leader) = view.ids;
    assert_eq!(metadata_leader, node_id, "a one-node cluster leads itself");
    assert_eq!(
        view.brokers,
        vec![(node_id, addr.ip().to_string(), i32::from(addr.port()))],
        "the brokers, as Metadata lists them"
    );
    let orders: Vec<&ClusterPartition> = view
        .partitions
        .iter()
        .filter(|p| p.at.0 == ORDERS)
        .collect();
    assert_eq!(orders.len(), ORDERS_PARTITIONS as usize, "{view:?}");
    for (i, p) in orders.iter().enumerate() {
        let want = ClusterPartition {
            at: (ORDERS.to_string(), i as i32),
            role: ("leader".to_string(), 1),
            term_leader: (0, node_id),
            replicas: vec![node_id],
            followers: Vec::new(),
        };
        assert_eq!(**p, want, "partitions in order, served here");
    }
}

/// DeleteTopics: a deleted topic is gone; a missing one gets 3; the internal
/// offsets topic gets 17.
pub async fn delete_topics_cases(conn: &mut Conn, cov: &mut Coverage) {
    create_topic(conn, "doomed", 2, &[]).await;
    let results = delete_topics(conn, &["doomed", "never-was", "__consumer_offsets"]).await;
    for (result, want) in results.iter().zip([0, 3, 17]) {
        cov.entry(DELETE_TOPICS, &result.name, &result.status, want);
    }
    let gone = metadata(conn, &["doomed"]).await;
    assert_eq!(gone.topics[0].status.code, 3, "a deleted topic is gone");
    let kept = metadata(conn, &["__consumer_offsets"]).await;
    assert_eq!(kept.topics[0].status.code, 0, "the offsets topic stays");
}
