//! docs/PROTOCOL.md §5.1–5.4 and §5.14 by hand: ApiVersions, Metadata,
//! CreateTopics, DeleteTopics and DescribeCluster, each request laid out and each
//! response read field by field.

use crate::conn::Conn;
use crate::wire::{Reader, Status, Writer};

/// §5's api_keys of these APIs.
pub const API_VERSIONS: i16 = 18;
/// Metadata's api_key.
pub const METADATA: i16 = 3;
/// CreateTopics' api_key.
pub const CREATE_TOPICS: i16 = 19;
/// DeleteTopics' api_key.
pub const DELETE_TOPICS: i16 = 20;
/// DescribeCluster's api_key.
pub const DESCRIBE_CLUSTER: i16 = 60;

/// A DescribeClusterResponse partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterPartition {
    /// topic and partition.
    pub at: (String, i32),
    /// role and serving.
    pub role: (String, i8),
    /// term and leader.
    pub term_leader: (i64, i32),
    /// replicas.
    pub replicas: Vec<i32>,
    /// (node_id, lag_entries, in_sync).
    pub followers: Vec<(i32, i64, i8)>,
}

/// DescribeClusterResponse v0.
#[derive(Debug, Clone)]
pub struct ClusterView {
    /// error_code and error_message.
    pub status: Status,
    /// node_id and metadata_leader.
    pub ids: (i32, i32),
    /// (node_id, host, port).
    pub brokers: Vec<(i32, String, i32)>,
    /// The partitions.
    pub partitions: Vec<ClusterPartition>,
}

/// DescribeCluster (empty request body).
pub async fn describe_cluster(conn: &mut Conn) -> ClusterView {
    let body = conn.call(DESCRIBE_CLUSTER, &[]).await;
    let mut r = Reader::new(&body, "DescribeClusterResponse");
    let status = r.status();
    let ids = (r.i32("node_id"), r.i32("metadata_leader"));
    let brokers = r.array("brokers", |r| {
        (r.i32("node_id"), r.string("host"), r.i32("port"))
    });
    let partitions = r.array("partitions", |r| ClusterPartition {
        at: (r.string("topic"), r.i32("partition")),
        role: (r.string("role"), r.i8("serving")),
        term_leader: (r.i64("term"), r.i32("leader")),
        replicas: r.array("replicas", |r| r.i32("replica")),
        followers: r.array("followers", |r| {
            (r.i32("node_id"), r.i64("lag_entries"), r.i8("in_sync"))
        }),
    });
    r.end();
    ClusterView {
        status,
        ids,
        brokers,
        partitions,
    }
}

/// ApiVersionsResponse v0: error_code, then (api_key, min_version, max_version)s.
pub async fn api_versions(conn: &mut Conn) -> (i16, Vec<(i16, i16, i16)>) {
    let body = conn.call(API_VERSIONS, &[]).await;
    let mut r = Reader::new(&body, "ApiVersionsResponse");
    let code = r.i16("error_code");
    let keys = r.array("api_keys", |r| {
        (r.i16("api_key"), r.i16("min_version"), r.i16("max_version"))
    });
    r.end();
    (code, keys)
}

/// A MetadataResponse topic.
#[derive(Debug, Clone)]
pub struct MetaTopic {
    /// error_code and error_message.
    pub status: Status,
    /// name.
    pub name: String,
    /// (partition, error_code, leader_id).
    pub partitions: Vec<(i32, i16, i32)>,
}

/// MetadataResponse v0.
#[derive(Debug, Clone)]
pub struct Metadata {
    /// (node_id, host, port).
    pub brokers: Vec<(i32, String, i32)>,
    /// The topics.
    pub topics: Vec<MetaTopic>,
}

/// Metadata for `topics` (empty: all topics).
pub async fn metadata(conn: &mut Conn, topics: &[&str]) -> Metadata {
    let request = Writer::new()
        .array(topics, |w, t| {
            w.string(t);
        })
        .finish();
    let body = conn.call(METADATA, &request).await;
    let mut r = Reader::new(&body, "MetadataResponse");
    let brokers = r.array("brokers", |r| {
        (r.i32("node_id"), r.string("host"), r.i32("port"))
    });
    let topics = r.array("topics", |r| MetaTopic {
        status: r.status(),
        name: r.string("name"),
        partitions: r.array("partitions", |r| {
            (r.i32("partition"), r.i16("error_code"), r.i32("leader_id"))
        }),
    });
    r.end();
    Metadata { brokers, topics }
}

/// A MetadataResponse v1 partition: (partition, error_code, leader_id),
/// leader_epoch and replicas.
pub type MetaPartitionV1 = ((i32, i16, i32), i32, Vec<i32>);

/// Metadata v1 for `topic`: its partitions, each with its epoch and replicas.
pub async fn metadata_v1(conn: &mut Conn, topic: &str) -> Vec<MetaPartitionV1> {
    let request = Writer::new()
        .array(&[topic], |w, t| {
            w.string(t);
        })
        .finish();
    let body = conn.call_at(METADATA, 1, &request).await;
    let mut r = Reader::new(&body, "MetadataResponse v1");
    r.array("brokers", |r| {
        (r.i32("node_id"), r.string("host"), r.i32("port"))
    });
    let mut topics = r.array("topics", |r| {
        (r.status(), r.string("name"), {
            r.array("partitions", |r| {
                let first = (r.i32("partition"), r.i16("error_code"), r.i32("leader_id"));
                let epoch = r.i32("leader_epoch");
                (first, epoch, r.array("replicas", |r| r.i32("replica")))
            })
        })
    });
    r.end();
    assert_eq!(
        topics.len(),
        1,
        "Metadata v1 answers the one topic asked for"
    );
    topics.remove(0).2
}

/// CreateTopics v1 of one topic with `replication_factor`; its result.
pub async fn create_topic_v1(
    conn: &mut Conn,
    name: &str,
    partitions: i32,
    replication_factor: i16,
) -> TopicResult {
    let body = Writer::new()
        .array(&[name], |w, name| {
            w.string(name)
                .i32(partitions)
                .i16(replication_factor)
                .array(&[] as &[(&str, Option<&str>)], |w, (k, v)| {
                    w.string(k).nullable_string(*v);
                });
        })
        .i32(5000)
        .i8(0)
        .finish();
    let answer = conn.call_at(CREATE_TOPICS, 1, &body).await;
    let mut results = topic_results(&answer, "CreateTopicsResponse v1");
    assert_eq!(results.len(), 1, "CreateTopics v1 answers the one topic");
    results.remove(0)
}

/// A topic to create: name, partitions, configs (key, value or null).
pub type NewTopic<'a> = (&'a str, i32, &'a [(&'a str, Option<&'a str>)]);

/// CreateTopicsRequest v0's body; `validate_only` is written as it is given.
pub fn create_topics_body(topics: &[NewTopic<'_>], validate_only: i8) -> Vec<u8> {
    Writer::new()
        .array(topics, |w, (name, partitions, configs)| {
            w.string(name).i32(*partitions).array(configs, |w, (k, v)| {
                w.string(k).nullable_string(*v);
            });
        })
        .i32(5000)
        .i8(validate_only)
        .finish()
}

/// A CreateTopicsResponse / DeleteTopicsResponse entry.
#[derive(Debug, Clone)]
pub struct TopicResult {
    /// name.
    pub name: String,
    /// error_code and error_message.
    pub status: Status,
}

fn topic_results(body: &[u8], what: &'static str) -> Vec<TopicResult> {
    let mut r = Reader::new(body, what);
    let topics = r.array("topics", |r| TopicResult {
        name: r.string("name"),
        status: r.status(),
    });
    r.end();
    topics
}

/// CreateTopics; answers in request order.
pub async fn create_topics(
    conn: &mut Conn,
    topics: &[NewTopic<'_>],
    validate_only: bool,
) -> Vec<TopicResult> {
    let body = create_topics_body(topics, i8::from(validate_only));
    let answer = conn.call(CREATE_TOPICS, &body).await;
    let results = topic_results(&answer, "CreateTopicsResponse");
    let names: Vec<&str> = results.iter().map(|t| t.name.as_str()).collect();
    let asked: Vec<&str> = topics.iter().map(|t| t.0).collect();
    assert_eq!(names, asked, "CreateTopics answers each topic by name");
    results
}

/// Creates one topic, which must succeed.
pub async fn create_topic(
    conn: &mut Conn,
    name: &str,
    partitions: i32,
    configs: &[(&str, Option<&str>)],
) {
    let results = create_topics(conn, &[(name, partitions, configs)], false).await;
    assert_eq!(
        results[0].status,
        Status {
            code: 0,
            message: None
        },
        "creating {name}"
    );
}

/// DeleteTopics; answers in request order.
pub async fn delete_topics(conn: &mut Conn, names: &[&str]) -> Vec<TopicResult> {
    let request = Writer::new()
        .array(names, |w, n| {
            w.string(n);
        })
        .i32(5000)
        .finish();
    let answer = conn.call(DELETE_TOPICS, &request).await;
    let results = topic_results(&answer, "DeleteTopicsResponse");
    let got: Vec<&str> = results.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(got, names, "DeleteTopics answers each topic by name");
    results
}
