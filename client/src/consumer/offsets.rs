//! Offset requests the consumer and the admin share: committed offsets
//! (OffsetFetch), log offsets by time (ListOffsets) and commits (OffsetCommit).
//!
//! Each turns a partition list into one request grouped by topic and the answer
//! back into a map, turning per-partition error codes into [`Error`]s that name the
//! partition. An OffsetCommit is all or nothing on the broker (§5.10), so the first
//! refused partition is the error of the whole commit.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use rill_protocol::api::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use rill_protocol::api::offset_commit::{
    OffsetCommitPartition, OffsetCommitRequest, OffsetCommitResponse, OffsetCommitTopic,
};
use rill_protocol::api::offset_fetch::OffsetFetchRequest;
use rill_protocol::api::{TopicEntries, TopicPartitions};
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::ErrorCode;
use tokio::sync::oneshot;

use super::record::TopicPartition;
use crate::connection::{Connection, PendingResponse};
use crate::error::{Error, Result};
use crate::routing::Router;

/// Groups `(partition, value)` pairs by topic, in order.
pub(crate) fn by_topic<T>(
    items: impl IntoIterator<Item = (TopicPartition, T)>,
) -> BTreeMap<String, Vec<(i32, T)>> {
    let mut map: BTreeMap<String, Vec<(i32, T)>> = BTreeMap::new();
    for (tp, value) in items {
        map.entry(tp.topic).or_default().push((tp.partition, value));
    }
    map
}

/// `partitions` as the wire's topic list.
pub(crate) fn topic_partitions(partitions: &[TopicPartition]) -> Vec<TopicPartitions> {
    by_topic(partitions.iter().map(|tp| (tp.clone(), ())))
        .into_iter()
        .map(|(name, ps)| TopicPartitions {
            name,
            partitions: ps.into_iter().map(|(p, ())| p).collect(),
        })
        .collect()
}

/// The wire's topic list as partitions.
pub(crate) fn from_topic_partitions(topics: &[TopicPartitions]) -> Vec<TopicPartition> {
    topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(&t.name, *p))
        })
        .collect()
}

/// `group`'s committed offsets for `partitions` (`None`: nothing committed).
pub(crate) async fn committed(
    conn: &Connection,
    group: &str,
    partitions: &[TopicPartition],
) -> Result<HashMap<TopicPartition, Option<i64>>> {
    let response = conn
        .call(OffsetFetchRequest {
            group_id: group.to_string(),
            topics: Some(topic_partitions(partitions)),
        })
        .await?;
    if !response.error_code.is_ok() {
        return Err(Error::broker(response.error_code, response.error_message));
    }
    per_partition(response.topics, |p| {
        let answer = (p.partition, p.error_code, p.error_message);
        (answer, (p.offset >= 0).then_some(p.offset))
    })
}

/// The ListOffsets request for `partitions` at `timestamp` (-2 earliest, -1
/// latest, else ms since the epoch).
pub(crate) fn list_offsets_request(partitions: &[TopicPartition], timestamp: i64) -> RequestBody {
    RequestBody::ListOffsets(ListOffsetsRequest {
        topics: by_topic(partitions.iter().map(|tp| (tp.clone(), ())))
            .into_iter()
            .map(|(name, ps)| ListOffsetsTopic {
                name,
                partitions: ps
                    .into_iter()
                    .map(|(partition, ())| ListOffsetsPartition {
                        partition,
                        timestamp,
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// The offsets in a ListOffsets answer (-1 where no record is at or after a
/// queried time), or the first partition's error.
pub(crate) fn list_offsets_result(
    addr: &str,
    body: ResponseBody,
) -> Result<HashMap<TopicPartition, i64>> {
    let ResponseBody::ListOffsets(response) = body else {
        return Err(Error::Protocol {
            addr: addr.to_string(),
            detail: "expected a ListOffsets response".to_string(),
        });
    };
    per_partition(response.topics, |p| {
        ((p.partition, p.error_code, p.error_message), p.offset)
    })
}

/// Offsets of `partitions` at `timestamp` (see [`list_offsets_request`]), each
/// asked of its partition's leader.
pub(crate) async fn list_offsets(
    router: &Router,
    partitions: &[TopicPartition],
    timestamp: i64,
) -> Result<HashMap<TopicPartition, i64>> {
    let groups = router
        .by_leader(partitions.to_vec(), |tp| (tp.topic.as_str(), tp.partition))
        .await?;
    let mut found = HashMap::new();
    for (addr, partitions) in groups {
        let asked = async {
            let conn = router.connection(&addr).await?;
            let body = conn
                .request(list_offsets_request(&partitions, timestamp))
                .await?;
            list_offsets_result(conn.addr(), body)
        };
        match asked.await {
            Ok(offsets) => found.extend(offsets),
            Err(e) => {
                router.note_failure(&e, &addr);
                return Err(e);
            }
        }
    }
    Ok(found)
}

/// An OffsetCommit of `offsets` for `group` by `member_id` at `member_epoch`.
pub(crate) fn commit_request(
    group: &str,
    member_id: &str,
    member_epoch: i32,
    offsets: &[(TopicPartition, i64)],
) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: group.to_string(),
        member_id: member_id.to_string(),
        member_epoch,
        topics: by_topic(offsets.iter().cloned())
            .into_iter()
            .map(|(name, ps)| OffsetCommitTopic {
                name,
                partitions: ps
                    .into_iter()
                    .map(|(partition, offset)| OffsetCommitPartition {
                        partition,
                        offset,
                        metadata: None,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// `Ok` if every partition of a commit was stored, else the first refusal.
pub(crate) fn commit_result(response: OffsetCommitResponse) -> Result<()> {
    per_partition(response.topics, |p| {
        ((p.partition, p.error_code, p.error_message), ())
    })
    .map(|_| ())
}

/// A partition's index, error code and error message in an answer.
type PartitionAnswer = (i32, ErrorCode, Option<String>);

/// Collects a per-partition answer into a map, or fails with the first
/// partition's refusal. `split` takes each entry apart into its answer and value.
fn per_partition<P, T>(
    topics: Vec<TopicEntries<P>>,
    split: impl Fn(P) -> (PartitionAnswer, T),
) -> Result<HashMap<TopicPartition, T>> {
    let mut found = HashMap::new();
    for t in topics {
        for entry in t.partitions {
            let ((partition, code, message), value) = split(entry);
            if !code.is_ok() {
                return Err(Error::broker_at(code, message, &t.name, Some(partition)));
            }
            found.insert(TopicPartition::new(&t.name, partition), value);
        }
    }
    Ok(found)
}

/// A commit on its way: resolves when the broker has stored the offsets (or
/// refused them). The commit is sent whether or not this is awaited.
#[derive(Debug)]
#[must_use = "a PendingCommit tells whether the commit was stored; await it or drop it knowingly"]
pub struct PendingCommit {
    state: CommitState,
}

#[derive(Debug)]
enum CommitState {
    /// Nothing to send, or already answered.
    Done,
    /// Sent on a connection to `addr`; this future reads the answer itself.
    Sent {
        pending: PendingResponse,
        addr: String,
    },
    /// A background task reads the answer and passes it on.
    Watched(oneshot::Receiver<Result<()>>),
}

impl PendingCommit {
    /// A commit that had nothing to send.
    pub(crate) fn done() -> PendingCommit {
        PendingCommit {
            state: CommitState::Done,
        }
    }

    /// A commit sent on a connection to `addr`.
    pub(crate) fn sent(pending: PendingResponse, addr: &str) -> PendingCommit {
        PendingCommit {
            state: CommitState::Sent {
                pending,
                addr: addr.to_string(),
            },
        }
    }

    /// A commit whose answer a background task passes on through `answer`.
    pub(crate) fn watched(answer: oneshot::Receiver<Result<()>>) -> PendingCommit {
        PendingCommit {
            state: CommitState::Watched(answer),
        }
    }
}

impl Future for PendingCommit {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let result = match &mut self.state {
            CommitState::Done => return Poll::Ready(Ok(())),
            CommitState::Sent { pending, addr } => match Pin::new(pending).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(ResponseBody::OffsetCommit(response))) => commit_result(response),
                Poll::Ready(Ok(_)) => Err(Error::Protocol {
                    addr: addr.clone(),
                    detail: "expected an OffsetCommit response".to_string(),
                }),
                Poll::Ready(Err(e)) => Err(e),
            },
            CommitState::Watched(answer) => match Pin::new(answer).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(result)) => result,
                Poll::Ready(Err(_)) => Err(Error::Closed("consumer")),
            },
        };
        self.state = CommitState::Done;
        Poll::Ready(result)
    }
}
