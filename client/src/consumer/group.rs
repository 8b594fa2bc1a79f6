//! Group membership: the heartbeat task of a subscribed consumer.
//!
//! The broker coordinates the group (docs/PROTOCOL.md §5.9): it computes who owns
//! which partition and hands the answer out in ConsumerGroupHeartbeat responses.
//! [`Membership`] runs a task that joins, heartbeats every `heartbeat_interval_ms`
//! (the broker's figure) and publishes each new assignment. The task never touches
//! the consumer's partitions itself: the consumer reconciles inside `poll`, when the
//! application is done with the previous batch, so a revoked partition is never
//! being processed while another member starts on it.
//!
//! Invariants:
//! - Every heartbeat reports as owned everything the consumer may be consuming:
//!   the partitions it holds (including ones revoked but not yet released) plus the
//!   latest assignment (which it is about to take). The broker gives a partition to
//!   another member only once it is missing from that set, i.e. after the consumer
//!   released it.
//! - After a fence (25 `UNKNOWN_MEMBER_ID`, 110 `FENCED_MEMBER_EPOCH`) the task
//!   does not rejoin until the consumer has dropped all its partitions
//!   ([`Membership::ack_fence`]); the join then reports nothing owned.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rill_protocol::api::consumer_group_heartbeat::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, JOIN_EPOCH, LEAVE_EPOCH,
};
use rill_protocol::ErrorCode;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::link::Link;
use super::offsets::{from_topic_partitions, topic_partitions};
use super::record::TopicPartition;
use crate::error::{Error, Result};
use crate::locks;

/// Longest pause between retries of a heartbeat that could not be sent.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What the consumer sees of the membership at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// The partitions the member may own now (empty before the first assignment).
    pub assignment: BTreeSet<TopicPartition>,
    /// Raised with every new assignment.
    pub assignment_seq: u64,
    /// The member was fenced: drop every partition without committing, then
    /// [`Membership::ack_fence`].
    pub fenced: bool,
    /// The last heartbeat was answered. While not, the consumer hands out nothing:
    /// after losing contact the broker may have expired the member and given its
    /// partitions to others, and only a heartbeat can tell.
    pub confirmed: bool,
}

/// A consumer's membership in one group; dropping it stops heartbeating (the
/// broker then expires the member after its session timeout).
#[derive(Debug)]
pub(crate) struct Membership {
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// State shared by the consumer and the heartbeat task.
#[derive(Debug)]
pub(crate) struct Shared {
    group_id: String,
    topics: Vec<String>,
    link: Arc<Link>,
    request_timeout: Duration,
    backoff: Duration,
    state: Mutex<State>,
    /// Wakes the consumer: a new assignment, a fence or an error.
    pub(crate) changed: Notify,
    /// Wakes the task early: owned partitions changed, or a fence was acknowledged.
    wake: Notify,
}

#[derive(Debug)]
struct State {
    member_id: String,
    /// 0 until joined (and again after a fence).
    epoch: i32,
    interval: Duration,
    assignment: BTreeSet<TopicPartition>,
    assignment_seq: u64,
    owned: BTreeSet<TopicPartition>,
    fenced: bool,
    confirmed: bool,
    error: Option<Error>,
}

impl Membership {
    /// Starts joining `group_id` with a subscription to `topics`.
    pub(crate) fn start(
        group_id: String,
        topics: Vec<String>,
        link: Arc<Link>,
        request_timeout: Duration,
        backoff: Duration,
    ) -> Membership {
        let shared = Arc::new(Shared {
            group_id,
            topics,
            link,
            request_timeout,
            backoff,
            state: Mutex::new(State {
                member_id: String::new(),
                epoch: JOIN_EPOCH,
                interval: Duration::from_secs(1),
                assignment: BTreeSet::new(),
                assignment_seq: 0,
                owned: BTreeSet::new(),
                fenced: false,
                confirmed: false,
                error: None,
            }),
            changed: Notify::new(),
            wake: Notify::new(),
        });
        let task = tokio::spawn(run(shared.clone()));
        Membership {
            shared,
            task: Some(task),
        }
    }

    /// The group id.
    pub(crate) fn group_id(&self) -> &str {
        &self.shared.group_id
    }

    /// The shared state, for waiting on [`Shared::changed`].
    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// The current assignment and fence flag.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let st = self.shared.lock();
        Snapshot {
            assignment: st.assignment.clone(),
            assignment_seq: st.assignment_seq,
            fenced: st.fenced,
            confirmed: st.confirmed,
        }
    }

    /// An error the heartbeat task met that the application must see (a refused
    /// group id or subscription), taken once.
    pub(crate) fn take_error(&self) -> Option<Error> {
        self.shared.lock().error.take()
    }

    /// The member id and epoch to commit with, once joined.
    pub(crate) fn identity(&self) -> Option<(String, i32)> {
        let st = self.shared.lock();
        (!st.member_id.is_empty() && !st.fenced).then(|| (st.member_id.clone(), st.epoch))
    }

    /// The member id, once joined.
    pub(crate) fn member_id(&self) -> Option<String> {
        let st = self.shared.lock();
        (!st.member_id.is_empty()).then(|| st.member_id.clone())
    }

    /// Records what the consumer owns now; a change is reported at once.
    pub(crate) fn set_owned(&self, owned: BTreeSet<TopicPartition>) {
        let changed = {
            let mut st = self.shared.lock();
            let changed = st.owned != owned;
            st.owned = owned;
            changed
        };
        if changed {
            self.shared.wake.notify_one();
        }
    }

    /// The consumer lost a connection: stop handing out records until a heartbeat
    /// confirms the membership, and send that heartbeat now.
    pub(crate) fn suspect(&self) {
        self.shared.lock().confirmed = false;
        self.shared.wake.notify_one();
    }

    /// The consumer dropped every partition after a fence: rejoin.
    pub(crate) fn ack_fence(&self) {
        {
            let mut st = self.shared.lock();
            st.owned.clear();
            st.fenced = false;
        }
        self.shared.wake.notify_one();
    }

    /// Stops heartbeating and leaves the group, so the partitions move at once
    /// instead of after the session timeout.
    pub(crate) async fn leave(mut self) -> Result<()> {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        let (member_id, joined) = {
            let st = self.shared.lock();
            (st.member_id.clone(), !st.member_id.is_empty() && !st.fenced)
        };
        if !joined {
            return Ok(());
        }
        let request = ConsumerGroupHeartbeatRequest {
            group_id: self.shared.group_id.clone(),
            member_id,
            member_epoch: LEAVE_EPOCH,
            subscribed_topics: None,
            owned_partitions: None,
        };
        let response = self.shared.send(request).await?;
        match response.error_code {
            // Already gone (expired or the broker restarted): nothing to leave.
            ErrorCode::None | ErrorCode::UnknownMemberId | ErrorCode::FencedMemberEpoch => Ok(()),
            code => Err(Error::broker(code, response.error_message)),
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        locks::lock(&self.state)
    }

    /// Sends one heartbeat, bounded by a timeout; a timed-out connection is
    /// closed (requests sharing it, such as a commit, fail and are retried).
    async fn send(
        &self,
        request: ConsumerGroupHeartbeatRequest,
    ) -> Result<ConsumerGroupHeartbeatResponse> {
        let interval = self.lock().interval;
        let timeout = (interval * 3)
            .max(Duration::from_secs(2))
            .min(self.request_timeout);
        let conn = self.link.get().await?;
        match tokio::time::timeout(timeout, conn.call(request)).await {
            Ok(result) => result,
            Err(_) => {
                self.link.reset_if(&conn).await;
                Err(Error::Timeout {
                    what: format!("a heartbeat answer from {}", self.link.addr()),
                    after: timeout,
                })
            }
        }
    }

    /// The next heartbeat, or `None` while a fence awaits the consumer.
    fn next_request(&self) -> Option<ConsumerGroupHeartbeatRequest> {
        let st = self.lock();
        if st.fenced {
            return None;
        }
        if st.member_id.is_empty() {
            return Some(ConsumerGroupHeartbeatRequest {
                group_id: self.group_id.clone(),
                member_id: String::new(),
                member_epoch: JOIN_EPOCH,
                subscribed_topics: Some(self.topics.clone()),
                owned_partitions: Some(Vec::new()),
            });
        }
        let claimed: Vec<TopicPartition> = st.owned.union(&st.assignment).cloned().collect();
        Some(ConsumerGroupHeartbeatRequest {
            group_id: self.group_id.clone(),
            member_id: st.member_id.clone(),
            member_epoch: st.epoch,
            subscribed_topics: None,
            owned_partitions: Some(topic_partitions(&claimed)),
        })
    }

    /// Applies a heartbeat answer.
    fn absorb(&self, response: ConsumerGroupHeartbeatResponse) {
        let mut st = self.lock();
        match response.error_code {
            ErrorCode::None => {
                if let Some(id) = response.member_id.filter(|id| !id.is_empty()) {
                    if st.member_id != id {
                        tracing::debug!(group = %self.group_id, member = %id, "joined");
                    }
                    st.member_id = id;
                }
                st.epoch = response.member_epoch;
                let reconfirmed = !st.confirmed;
                st.confirmed = true;
                if let Ok(ms) = u64::try_from(response.heartbeat_interval_ms) {
                    st.interval = Duration::from_millis(ms.max(1));
                }
                let assigned = response.assignment.is_some();
                if let Some(assignment) = response.assignment {
                    st.assignment = from_topic_partitions(&assignment).into_iter().collect();
                    st.assignment_seq += 1;
                }
                drop(st);
                if assigned || reconfirmed {
                    self.changed.notify_one();
                }
            }
            ErrorCode::UnknownMemberId | ErrorCode::FencedMemberEpoch => {
                tracing::info!(
                    group = %self.group_id,
                    member = %st.member_id,
                    reason = response.error_message.as_deref().unwrap_or(""),
                    "fenced; dropping partitions and rejoining"
                );
                st.member_id.clear();
                st.epoch = JOIN_EPOCH;
                st.assignment.clear();
                st.assignment_seq += 1;
                st.fenced = true;
                drop(st);
                self.changed.notify_one();
            }
            code => {
                let error = Error::broker(code, response.error_message);
                tracing::warn!(group = %self.group_id, %error, "heartbeat refused");
                st.error = Some(error);
                drop(st);
                self.changed.notify_one();
            }
        }
    }
}

/// The heartbeat loop: beat, apply the answer, wait for the interval or a wake-up.
async fn run(shared: Arc<Shared>) {
    let mut backoff = shared.backoff;
    loop {
        let Some(request) = shared.next_request() else {
            shared.wake.notified().await;
            continue;
        };
        match shared.send(request).await {
            Ok(response) => {
                backoff = shared.backoff;
                shared.absorb(response);
            }
            Err(error) => {
                tracing::debug!(group = %shared.group_id, %error, "heartbeat failed; retrying");
                let interval = {
                    let mut st = shared.lock();
                    st.confirmed = false;
                    st.interval
                };
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF).min(interval);
                continue;
            }
        }
        let interval = shared.lock().interval;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shared.wake.notified() => {}
        }
    }
}
