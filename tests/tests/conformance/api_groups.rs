//! docs/PROTOCOL.md §5.9–5.13 by hand: ConsumerGroupHeartbeat, OffsetCommit,
//! OffsetFetch, ListGroups and DescribeGroups, each request laid out and each
//! response read field by field.

use crate::conn::Conn;
use crate::wire::{Reader, Status, Writer};

/// ConsumerGroupHeartbeat's api_key.
pub const HEARTBEAT: i16 = 68;
/// OffsetCommit's api_key.
pub const OFFSET_COMMIT: i16 = 8;
/// OffsetFetch's api_key.
pub const OFFSET_FETCH: i16 = 9;
/// ListGroups' api_key.
pub const LIST_GROUPS: i16 = 16;
/// DescribeGroups' api_key.
pub const DESCRIBE_GROUPS: i16 = 15;

/// Topics with partitions, as in `owned_partitions` and `assignment`.
pub type TopicPartitions = Vec<(String, Vec<i32>)>;

/// A ConsumerGroupHeartbeatRequest.
#[derive(Debug, Clone, Default)]
pub struct Heartbeat<'a> {
    /// group_id.
    pub group_id: &'a str,
    /// member_id.
    pub member_id: &'a str,
    /// member_epoch.
    pub member_epoch: i32,
    /// subscribed_topics (null = unchanged).
    pub subscribed: Option<&'a [&'a str]>,
    /// owned_partitions (null = unchanged).
    pub owned: Option<TopicPartitions>,
}

/// A ConsumerGroupHeartbeatResponse.
#[derive(Debug, Clone)]
pub struct HeartbeatAnswer {
    /// error_code and error_message.
    pub status: Status,
    /// member_id.
    pub member_id: Option<String>,
    /// member_epoch.
    pub member_epoch: i32,
    /// heartbeat_interval_ms.
    pub heartbeat_interval_ms: i32,
    /// assignment (null = unchanged).
    pub assignment: Option<TopicPartitions>,
}

fn write_topic_partitions(w: &mut Writer, list: Option<&TopicPartitions>) {
    w.nullable_array(list.map(Vec::as_slice), |w, (name, partitions)| {
        w.string(name).array(partitions, |w, p| {
            w.i32(*p);
        });
    });
}

fn read_topic_partitions(r: &mut Reader<'_>, field: &str) -> Option<TopicPartitions> {
    r.nullable_array(field, |r| {
        (
            r.string("name"),
            r.array("partitions", |r| r.i32("partition")),
        )
    })
}

/// ConsumerGroupHeartbeatRequest v0's body.
pub fn heartbeat_body(hb: &Heartbeat<'_>) -> Vec<u8> {
    let mut w = Writer::new();
    w.string(hb.group_id)
        .string(hb.member_id)
        .i32(hb.member_epoch)
        .nullable_array(hb.subscribed, |w, t| {
            w.string(t);
        });
    write_topic_partitions(&mut w, hb.owned.as_ref());
    w.finish()
}

/// Sends a heartbeat (or a join or leave).
pub async fn heartbeat(conn: &mut Conn, hb: &Heartbeat<'_>) -> HeartbeatAnswer {
    let answer = conn.call(HEARTBEAT, &heartbeat_body(hb)).await;
    let mut r = Reader::new(&answer, "ConsumerGroupHeartbeatResponse");
    let out = HeartbeatAnswer {
        status: r.status(),
        member_id: r.nullable_string("member_id"),
        member_epoch: r.i32("member_epoch"),
        heartbeat_interval_ms: r.i32("heartbeat_interval_ms"),
        assignment: read_topic_partitions(&mut r, "assignment"),
    };
    r.end();
    out
}

/// An OffsetCommitRequest: group_id, member_id, member_epoch, and
/// (topic, partition, offset, metadata) entries, each topic its own entry.
pub type Commit<'a> = (
    &'a str,
    &'a str,
    i32,
    &'a [(&'a str, i32, i64, Option<&'a str>)],
);

/// OffsetCommitRequest v0's body.
pub fn offset_commit_body(commit: &Commit<'_>) -> Vec<u8> {
    let (group, member, epoch, offsets) = commit;
    Writer::new()
        .string(group)
        .string(member)
        .i32(*epoch)
        .array(offsets, |w, (topic, partition, offset, metadata)| {
            w.string(topic).array(&[()], |w, ()| {
                w.i32(*partition).i64(*offset).nullable_string(*metadata);
            });
        })
        .finish()
}

/// Commits offsets; returns each (topic, partition, status) in answer order.
pub async fn offset_commit(conn: &mut Conn, commit: &Commit<'_>) -> Vec<(String, i32, Status)> {
    let answer = conn.call(OFFSET_COMMIT, &offset_commit_body(commit)).await;
    let mut r = Reader::new(&answer, "OffsetCommitResponse");
    let topics = r.array("topics", |r| {
        let name = r.string("name");
        r.array("partitions", |r| {
            (name.clone(), r.i32("partition"), r.status())
        })
    });
    r.end();
    let out: Vec<_> = topics.into_iter().flatten().collect();
    let asked: Vec<(&str, i32)> = commit.3.iter().map(|(t, p, _, _)| (*t, *p)).collect();
    let got: Vec<(&str, i32)> = out.iter().map(|(t, p, _)| (t.as_str(), *p)).collect();
    assert_eq!(
        got, asked,
        "OffsetCommit answers every partition it was given"
    );
    out
}

/// An OffsetFetchResponse partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// partition.
    pub partition: i32,
    /// offset.
    pub offset: i64,
    /// metadata.
    pub metadata: Option<String>,
    /// error_code and error_message.
    pub status: Status,
}

/// OffsetFetchRequest v0's body.
pub fn offset_fetch_body(group: &str, topics: Option<&TopicPartitions>) -> Vec<u8> {
    let mut w = Writer::new();
    w.string(group);
    write_topic_partitions(&mut w, topics);
    w.finish()
}

/// OffsetFetch; returns the response's status and topics.
pub async fn offset_fetch(
    conn: &mut Conn,
    group: &str,
    topics: Option<TopicPartitions>,
) -> (Status, Vec<(String, Vec<Committed>)>) {
    let body = offset_fetch_body(group, topics.as_ref());
    let answer = conn.call(OFFSET_FETCH, &body).await;
    let mut r = Reader::new(&answer, "OffsetFetchResponse");
    let status = r.status();
    let topics = r.array("topics", |r| {
        let name = r.string("name");
        let partitions = r.array("partitions", |r| Committed {
            partition: r.i32("partition"),
            offset: r.i64("offset"),
            metadata: r.nullable_string("metadata"),
            status: r.status(),
        });
        (name, partitions)
    });
    r.end();
    (status, topics)
}

/// ListGroups: error_code and (group_id, state, members).
pub async fn list_groups(conn: &mut Conn) -> (i16, Vec<(String, String, i32)>) {
    let answer = conn.call(LIST_GROUPS, &[]).await;
    let mut r = Reader::new(&answer, "ListGroupsResponse");
    let code = r.i16("error_code");
    let groups = r.array("groups", |r| {
        (r.string("group_id"), r.string("state"), r.i32("members"))
    });
    r.end();
    (code, groups)
}

/// A DescribeGroupsResponse member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// member_id.
    pub member_id: String,
    /// client_id.
    pub client_id: Option<String>,
    /// member_epoch.
    pub member_epoch: i32,
    /// subscribed_topics.
    pub subscribed: Vec<String>,
    /// assignment.
    pub assignment: TopicPartitions,
}

/// A DescribeGroupsResponse group.
#[derive(Debug, Clone)]
pub struct Described {
    /// group_id.
    pub group_id: String,
    /// error_code and error_message.
    pub status: Status,
    /// state.
    pub state: String,
    /// group_epoch.
    pub group_epoch: i32,
    /// members.
    pub members: Vec<Member>,
}

/// DescribeGroups for `groups`.
pub async fn describe_groups(conn: &mut Conn, groups: &[&str]) -> Vec<Described> {
    let request = Writer::new()
        .array(groups, |w, g| {
            w.string(g);
        })
        .finish();
    let answer = conn.call(DESCRIBE_GROUPS, &request).await;
    let mut r = Reader::new(&answer, "DescribeGroupsResponse");
    let out = r.array("groups", |r| Described {
        group_id: r.string("group_id"),
        status: r.status(),
        state: r.string("state"),
        group_epoch: r.i32("group_epoch"),
        members: r.array("members", |r| Member {
            member_id: r.string("member_id"),
            client_id: r.nullable_string("client_id"),
            member_epoch: r.i32("member_epoch"),
            subscribed: r.array("subscribed_topics", |r| r.string("topic")),
            assignment: r.array("assignment", |r| {
                (
                    r.string("name"),
                    r.array("partitions", |r| r.i32("partition")),
                )
            }),
        }),
    });
    r.end();
    let ids: Vec<&str> = out.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(ids, groups, "DescribeGroups answers in request order");
    out
}
