//! Cases for §5.9–5.13: a group's life through ConsumerGroupHeartbeat (join, a
//! hand-over to a second member, leave), its commits, what OffsetFetch,
//! ListGroups and DescribeGroups say of it at each step, and each error code.

use crate::api_admin::create_topic;
use crate::api_data::{fetch_one, FETCH};
use crate::api_groups::{
    describe_groups, heartbeat, list_groups, offset_commit, offset_fetch, Committed, Heartbeat,
    HeartbeatAnswer, TopicPartitions, DESCRIBE_GROUPS, HEARTBEAT, LIST_GROUPS, OFFSET_COMMIT,
    OFFSET_FETCH,
};
use crate::batch;
use crate::conn::{Conn, CLIENT_ID};
use crate::coverage::Coverage;
use crate::wire::Status;

const GROUP: &str = "shop";
const TOPIC: &str = "group-topic";
const OTHER: &str = "group-other";

fn owned(partitions: &[i32]) -> Option<Vec<(String, Vec<i32>)>> {
    Some(vec![(TOPIC.to_string(), partitions.to_vec())])
}

/// A heartbeat of member `member_id` of `GROUP`, subscriptions unchanged.
fn of_member(member_id: &str, member_epoch: i32, owned: Option<TopicPartitions>) -> Heartbeat<'_> {
    Heartbeat {
        group_id: GROUP,
        member_id,
        member_epoch,
        subscribed: None,
        owned,
    }
}

fn partitions_of(answer: &HeartbeatAnswer) -> Vec<i32> {
    let assignment = answer.assignment.as_ref().expect("an assignment");
    assignment
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .collect()
}

async fn beat(
    conn: &mut Conn,
    cov: &mut Coverage,
    case: &str,
    hb: Heartbeat<'_>,
) -> HeartbeatAnswer {
    let answer = heartbeat(conn, &hb).await;
    cov.entry(HEARTBEAT, case, &answer.status, 0);
    answer
}

/// Joins `GROUP` subscribed to `TOPIC`; returns the member id and the answer.
async fn join(conn: &mut Conn, cov: &mut Coverage) -> (String, HeartbeatAnswer) {
    let join = Heartbeat {
        group_id: GROUP,
        subscribed: Some(&[TOPIC]),
        owned: Some(Vec::new()),
        ..Heartbeat::default()
    };
    let answer = beat(conn, cov, "a join", join).await;
    let id = answer
        .member_id
        .clone()
        .expect("a join is given a member_id");
    assert!(!id.is_empty() && answer.member_epoch > 0, "{answer:?}");
    assert_eq!(
        answer.heartbeat_interval_ms, 200,
        "the broker's heartbeat_interval_ms"
    );
    (id, answer)
}

/// Commits `offset` for `topic`/`partition` as (group, member_id, member_epoch)
/// and checks that the answer is `want`.
async fn commit_one(
    conn: &mut Conn,
    cov: &mut Coverage,
    case: &str,
    (group, member, epoch): (&str, &str, i32),
    (topic, partition, offset, want): (&str, i32, i64, i16),
) {
    let entries = [(topic, partition, offset, Some("meta"))];
    let answer = offset_commit(conn, &(group, member, epoch, &entries)).await;
    cov.entry(OFFSET_COMMIT, case, &answer[0].2, want);
}

async fn state_of(conn: &mut Conn, cov: &mut Coverage) -> (String, i32, usize) {
    let described = describe_groups(conn, &[GROUP]).await;
    let g = &described[0];
    cov.entry(DESCRIBE_GROUPS, "a known group", &g.status, 0);
    let (code, groups) = list_groups(conn).await;
    let listed = Status {
        code,
        message: None,
    };
    cov.entry(LIST_GROUPS, "ListGroups", &listed, 0);
    let mine = groups
        .iter()
        .find(|(id, _, _)| id == GROUP)
        .expect("ListGroups lists the group");
    assert_eq!(
        (&mine.1, usize::try_from(mine.2).ok()),
        (&g.state, Some(g.members.len()))
    );
    (g.state.clone(), g.group_epoch, g.members.len())
}

/// Heartbeat errors that need no member: 24, 25 and 42.
pub async fn heartbeat_errors(conn: &mut Conn, cov: &mut Coverage) {
    let no_topics = Heartbeat {
        group_id: GROUP,
        owned: Some(Vec::new()),
        ..Heartbeat::default()
    };
    let empty_topics = Heartbeat {
        subscribed: Some(&[]),
        ..no_topics.clone()
    };
    let no_group = Heartbeat {
        group_id: "",
        subscribed: Some(&[TOPIC]),
        ..no_topics.clone()
    };
    let ghost = Heartbeat {
        member_id: "ghost",
        member_epoch: 3,
        ..no_topics.clone()
    };
    let cases = [
        ("a join with null subscribed_topics", no_topics, 42),
        ("a join with no subscribed_topics", empty_topics, 42),
        ("an empty group_id", no_group, 24),
        ("an unknown member_id", ghost, 25),
    ];
    for (case, hb, want) in cases {
        let answer = heartbeat(conn, &hb).await;
        cov.entry(HEARTBEAT, case, &answer.status, want);
    }
}

/// The whole life of a group.
pub async fn group_cases(conn: &mut Conn, cov: &mut Coverage) {
    create_topic(conn, TOPIC, 2, &[]).await;
    create_topic(conn, OTHER, 1, &[]).await;
    heartbeat_errors(conn, cov).await;
    let (a, joined) = join(conn, cov).await;
    assert_eq!(
        partitions_of(&joined),
        [0, 1],
        "a lone member gets every partition"
    );
    let a_first = joined.member_epoch;
    let hb = of_member(&a, a_first, owned(&[0, 1]));
    let steady = beat(conn, cov, "a heartbeat", hb).await;
    assert_eq!(
        (steady.member_epoch, steady.assignment),
        (a_first, None),
        "nothing changed"
    );

    let described = describe_groups(conn, &[GROUP]).await;
    let g = &described[0];
    assert_eq!((g.state.as_str(), g.group_epoch), ("stable", a_first));
    assert_eq!(g.members.len(), 1);
    let m = &g.members[0];
    assert_eq!(
        (m.member_id.as_str(), m.client_id.as_deref()),
        (a.as_str(), Some(CLIENT_ID))
    );
    assert_eq!(
        (m.member_epoch, m.subscribed.clone()),
        (a_first, vec![TOPIC.to_string()])
    );
    assert_eq!(m.assignment, owned(&[0, 1]).unwrap_or_default());
    assert_eq!(
        state_of(conn, cov).await,
        ("stable".to_string(), a_first, 1)
    );

    let member = (GROUP, a.as_str(), a_first);
    commit_one(conn, cov, "a member's commit", member, (TOPIC, 0, 5, 0)).await;
    let refusals = [
        (
            "an unknown member",
            (GROUP, "ghost", a_first),
            (TOPIC, 0, 9, 25),
        ),
        (
            "no member_id while the group has members",
            (GROUP, "", -1),
            (TOPIC, 0, 9, 25),
        ),
        ("an empty group_id", ("", "", -1), (TOPIC, 0, 9, 24)),
        ("a missing topic", member, ("never-created", 0, 9, 3)),
        ("a missing partition", member, (TOPIC, 5, 9, 3)),
        ("a negative offset", member, (TOPIC, 1, -1, 42)),
    ];
    for (case, who, what) in refusals {
        commit_one(conn, cov, case, who, what).await;
    }
    // One refused partition: nothing of the request is stored (see OffsetFetch).
    let mixed = [(OTHER, 0, 8, None), (TOPIC, 1, -4, None)];
    offset_commit(conn, &(GROUP, a.as_str(), a_first, &mixed)).await;

    // A second member: the partition that moves leaves A before B gets it.
    let (b, b_joined) = join(conn, cov).await;
    assert_eq!(
        partitions_of(&b_joined),
        Vec::<i32>::new(),
        "A still owns both"
    );
    let hb = of_member(&a, a_first, None);
    let revoked = beat(conn, cov, "a heartbeat that revokes", hb).await;
    let keep = partitions_of(&revoked);
    assert_eq!(keep.len(), 1, "A keeps one partition: {revoked:?}");
    let a_second = revoked.member_epoch;
    assert!(
        a_second > a_first,
        "a new assignment comes with a new epoch"
    );
    assert_eq!(state_of(conn, cov).await.0, "reconciling");
    let hb = of_member(&b, b_joined.member_epoch, Some(Vec::new()));
    let waiting = beat(conn, cov, "B waits", hb.clone()).await;
    assert!(
        waiting
            .assignment
            .as_ref()
            .is_none_or(|a| a.iter().all(|(_, p)| p.is_empty())),
        "{waiting:?}"
    );
    let hb_a = of_member(&a, a_second, owned(&keep));
    beat(conn, cov, "A reports the revoke", hb_a).await;
    let handed = beat(conn, cov, "B gets the partition", hb).await;
    let moved = partitions_of(&handed);
    assert_eq!(moved.len(), 1);
    assert_ne!(moved, keep, "B gets the partition A gave up");
    assert_eq!(state_of(conn, cov).await.0, "stable");

    // B leaves; A gets both back with a third epoch, so its first is stale.
    let leave = of_member(&b, -1, None);
    let left = beat(conn, cov, "a leave", leave).await;
    assert_eq!(left.member_epoch, -1, "a leave is answered with epoch -1");
    let hb = of_member(&a, a_second, None);
    let back = beat(conn, cov, "A after B left", hb).await;
    assert_eq!(partitions_of(&back), [0, 1]);
    let a_third = back.member_epoch;
    assert!(a_third > a_second);
    let stale = of_member(&a, a_first, None);
    let fenced = heartbeat(conn, &stale).await;
    cov.entry(HEARTBEAT, "an epoch two behind", &fenced.status, 110);
    commit_one(conn, cov, "an epoch two behind", member, (TOPIC, 0, 9, 110)).await;
    commit_one(
        conn,
        cov,
        "the current epoch",
        (GROUP, &a, a_third),
        (TOPIC, 1, 7, 0),
    )
    .await;
    let leave = of_member(&a, -1, None);
    beat(conn, cov, "the last member leaves", leave).await;

    offsets_cases(conn, cov).await;
}

/// What OffsetFetch, DescribeGroups and ListGroups say once every member left,
/// and a commit from outside the group.
async fn offsets_cases(conn: &mut Conn, cov: &mut Coverage) {
    assert_eq!(state_of(conn, cov).await, ("empty".to_string(), 0, 0));
    let committed = |partition: i32, offset: i64| Committed {
        partition,
        offset,
        metadata: (offset >= 0).then(|| "meta".to_string()),
        status: Status {
            code: 0,
            message: None,
        },
    };
    let named = vec![
        (TOPIC.to_string(), vec![0, 1]),
        (OTHER.to_string(), vec![0]),
    ];
    let (status, topics) = offset_fetch(conn, GROUP, Some(named)).await;
    cov.entry(OFFSET_FETCH, "named partitions", &status, 0);
    let expected = vec![
        (TOPIC.to_string(), vec![committed(0, 5), committed(1, 7)]),
        (OTHER.to_string(), vec![committed(0, -1)]),
    ];
    assert_eq!(topics, expected, "committed offsets, -1 where none");
    let (_, all) = offset_fetch(conn, GROUP, None).await;
    assert_eq!(all, expected[..1], "null topics: every committed partition");
    let (status, unknown) =
        offset_fetch(conn, "nobody", Some(vec![(TOPIC.to_string(), vec![0])])).await;
    assert_eq!(status.code, 0, "a group with no commits is not an error");
    assert_eq!(unknown, [(TOPIC.to_string(), vec![committed(0, -1)])]);
    let (status, empty) = offset_fetch(conn, "", Some(vec![(TOPIC.to_string(), vec![0])])).await;
    cov.entry(OFFSET_FETCH, "an empty group_id", &status, 24);
    assert!(empty.is_empty(), "a refused OffsetFetch has no topics");
    let (_, none) = offset_fetch(conn, "nobody", None).await;
    assert!(none.is_empty(), "null topics of a group with no commits");

    commit_one(
        conn,
        cov,
        "no member, the group empty",
        (GROUP, "", -1),
        (OTHER, 0, 1, 0),
    )
    .await;
    let described = describe_groups(conn, &["nobody", GROUP]).await;
    cov.entry(
        DESCRIBE_GROUPS,
        "an unknown group",
        &described[0].status,
        69,
    );

    // The broker writes commits to __consumer_offsets as STORAGE.md batches.
    let stored = fetch_one(conn, "__consumer_offsets", 0, 0).await;
    cov.entry(FETCH, "the internal offsets topic", &stored.status, 0);
    let records: usize = batch::parse_all(&stored.records)
        .iter()
        .map(|b| b.records.len())
        .sum();
    assert!(
        records >= 3,
        "every answered commit is stored: {records} records"
    );
}
