//! Consumer-group membership: joins, heartbeats, leaves, session expiry, fencing,
//! and the incremental hand-over of partitions between members.
//!
//! This is the broker side of ConsumerGroupHeartbeat (docs/PROTOCOL.md), in the
//! style of Kafka's KIP-848: the broker computes each group's target assignment
//! ([`super::assignor`]) and tells every member, in its heartbeat responses, which
//! partitions it may own *now*. A partition moving from A to B is first taken out
//! of A's assignment; B is given it only once no other member *claims* it. A member
//! claims every partition it was sent until it reports (in `owned_partitions`,
//! with its current epoch) that it let go. So no partition is consumed by two
//! members at once, and members whose partitions do not move are never paused.
//!
//! Epochs: the group epoch rises with every membership, subscription or topic
//! change; a member's epoch is the group epoch when it was last sent an
//! assignment. A request carrying neither the member's current nor its previous
//! epoch comes from a fenced (stale) member and is refused. All state is in memory:
//! after a broker restart members rejoin, and committed offsets (stored apart, in
//! `__consumer_offsets`) tell them where to resume.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rill_protocol::ErrorCode;

use super::assignor::{assign, MemberSpec, TopicPartition};
use crate::api_error::ApiError;
use crate::locks;

/// Timing of group membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTiming {
    /// How often members should heartbeat.
    pub heartbeat_interval: Duration,
    /// A member not heard from for this long is removed.
    pub session_timeout: Duration,
}

/// One heartbeat, as the handler decoded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The group.
    pub group_id: String,
    /// "" to join.
    pub member_id: String,
    /// 0 to join, -1 to leave, else the member's epoch.
    pub member_epoch: i32,
    /// The client id from the request header.
    pub client_id: Option<String>,
    /// New subscription, if it changed.
    pub subscribed: Option<BTreeSet<String>>,
    /// Partitions the member owns, if that changed.
    pub owned: Option<BTreeSet<TopicPartition>>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// The member's id.
    pub member_id: String,
    /// Its epoch (-1 after a leave).
    pub member_epoch: i32,
    /// The partitions it may own now, if that changed.
    pub assignment: Option<BTreeSet<TopicPartition>>,
}

/// A member, as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Client id it joined with.
    pub client_id: Option<String>,
    /// Its epoch.
    pub member_epoch: i32,
    /// Its subscription.
    pub subscribed: BTreeSet<String>,
    /// What it was last sent (may own now).
    pub assignment: BTreeSet<TopicPartition>,
}

/// A group, as DescribeGroups and ListGroups report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// "empty", "stable" (every member owns exactly its target) or "reconciling".
    pub state: &'static str,
    /// The group epoch.
    pub epoch: i32,
    /// Its members, by id.
    pub members: Vec<MemberDescription>,
}

#[derive(Debug)]
struct Member {
    client_id: Option<String>,
    epoch: i32,
    previous_epoch: i32,
    subscribed: BTreeSet<String>,
    /// Partitions the member may be consuming: everything sent to it that it has
    /// not reported giving up.
    claimed: BTreeSet<TopicPartition>,
    /// The last assignment sent; `None` before the first.
    sent: Option<BTreeSet<TopicPartition>>,
    last_seen: Instant,
}

#[derive(Debug, Default)]
struct Group {
    epoch: i32,
    members: BTreeMap<String, Member>,
    target: BTreeMap<String, BTreeSet<TopicPartition>>,
    /// Partition counts of the subscribed topics when `target` was computed.
    counts: BTreeMap<String, i32>,
    /// Membership changed (a session expired) since `target` was computed.
    dirty: bool,
}

/// Every group's membership.
#[derive(Debug)]
pub struct Coordinator {
    timing: GroupTiming,
    groups: Mutex<HashMap<String, Group>>,
    next_member: AtomicU64,
}

fn fail(code: ErrorCode, message: String) -> ApiError {
    ApiError::new(code, message)
}

impl Coordinator {
    /// A coordinator with no groups.
    pub fn new(timing: GroupTiming) -> Coordinator {
        Coordinator {
            timing,
            groups: Mutex::new(HashMap::new()),
            next_member: AtomicU64::new(1),
        }
    }

    /// The timing members are told to follow.
    pub fn timing(&self) -> GroupTiming {
        self.timing
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Group>> {
        locks::lock(&self.groups)
    }

    /// Handles a join, heartbeat or leave. `partitions` gives every topic's
    /// partition count now.
    pub fn heartbeat(
        &self,
        hb: Heartbeat,
        partitions: &BTreeMap<String, i32>,
        now: Instant,
    ) -> Result<HeartbeatReply, ApiError> {
        if hb.group_id.is_empty() {
            return Err(fail(
                ErrorCode::InvalidGroupId,
                "the group id is empty".into(),
            ));
        }
        let mut groups = self.lock();
        let group_id = hb.group_id.clone();
        let group = groups.entry(group_id.clone()).or_default();
        let reply = self.heartbeat_in(group, hb, partitions, now);
        // A group lives while it has members (its committed offsets live in the
        // offset store), so failed or last-leaving heartbeats leave nothing behind.
        if groups.get(&group_id).is_some_and(|g| g.members.is_empty()) {
            groups.remove(&group_id);
        }
        reply
    }

    fn heartbeat_in(
        &self,
        group: &mut Group,
        hb: Heartbeat,
        partitions: &BTreeMap<String, i32>,
        now: Instant,
    ) -> Result<HeartbeatReply, ApiError> {
        self.expire(group, now);
        let mut changed = false;
        let mut behind = false;
        let member_id = match (hb.member_id.as_str(), hb.member_epoch) {
            ("", 0) => {
                let subscribed =
                    hb.subscribed
                        .clone()
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| {
                            fail(
                                ErrorCode::InvalidRequest,
                                "a join must name the topics it subscribes to".into(),
                            )
                        })?;
                let n = self.next_member.fetch_add(1, Ordering::Relaxed);
                let id = format!("{}-{n}", hb.client_id.as_deref().unwrap_or("member"));
                group.members.insert(
                    id.clone(),
                    Member {
                        client_id: hb.client_id.clone(),
                        epoch: 0,
                        previous_epoch: 0,
                        subscribed,
                        claimed: BTreeSet::new(),
                        sent: None,
                        last_seen: now,
                    },
                );
                changed = true;
                id
            }
            (id, -1) => {
                group
                    .members
                    .remove(id)
                    .ok_or_else(|| unknown(id, &hb.group_id))?;
                self.retarget(group, partitions);
                return Ok(HeartbeatReply {
                    member_id: id.to_string(),
                    member_epoch: -1,
                    assignment: None,
                });
            }
            (id, epoch) => {
                let member = group
                    .members
                    .get_mut(id)
                    .ok_or_else(|| unknown(id, &hb.group_id))?;
                if epoch != member.epoch && epoch != member.previous_epoch {
                    return Err(fenced(id, epoch, member.epoch));
                }
                behind = epoch != member.epoch;
                member.last_seen = now;
                if let Some(subscribed) = hb.subscribed.clone() {
                    if subscribed != member.subscribed {
                        member.subscribed = subscribed;
                        changed = true;
                    }
                }
                if let Some(owned) = hb.owned.clone() {
                    // With its current epoch the member has seen its latest
                    // assignment, so what it reports is all it may be consuming.
                    member.claimed = if epoch == member.epoch {
                        owned
                    } else {
                        owned
                            .union(member.sent.as_ref().unwrap_or(&BTreeSet::new()))
                            .cloned()
                            .collect()
                    };
                }
                id.to_string()
            }
        };
        if changed || group.dirty || counts_changed(group, partitions) {
            self.retarget(group, partitions);
        }
        Ok(self.reply(group, &member_id, behind))
    }

    /// Recomputes the target and bumps the group epoch.
    fn retarget(&self, group: &mut Group, partitions: &BTreeMap<String, i32>) {
        let specs: BTreeMap<String, MemberSpec> = group
            .members
            .iter()
            .map(|(id, m)| {
                let spec = MemberSpec {
                    subscribed: m.subscribed.clone(),
                    current: group.target.get(id).cloned().unwrap_or_default(),
                };
                (id.clone(), spec)
            })
            .collect();
        group.target = assign(&specs, partitions);
        group.counts = subscribed_counts(group, partitions);
        group.epoch += 1;
        group.dirty = false;
    }

    /// What the member may own now: its target minus what others claim. Sent (and
    /// claimed) when it differs from what the member was last sent.
    /// `behind`: the member sent its previous epoch, so it may have missed the
    /// last response; its assignment is sent again.
    fn reply(&self, group: &mut Group, member_id: &str, behind: bool) -> HeartbeatReply {
        let others: BTreeSet<TopicPartition> = group
            .members
            .iter()
            .filter(|(id, _)| id.as_str() != member_id)
            .flat_map(|(_, m)| m.claimed.iter().cloned())
            .collect();
        let assignable: BTreeSet<TopicPartition> = group
            .target
            .get(member_id)
            .map(|t| t.difference(&others).cloned().collect())
            .unwrap_or_default();
        let epoch = group.epoch;
        let Some(member) = group.members.get_mut(member_id) else {
            return HeartbeatReply {
                member_id: member_id.to_string(),
                member_epoch: -1,
                assignment: None,
            };
        };
        let assignment = if behind || member.sent.as_ref() != Some(&assignable) {
            if member.epoch != epoch {
                member.previous_epoch = member.epoch;
                member.epoch = epoch;
            }
            member.claimed.extend(assignable.iter().cloned());
            member.sent = Some(assignable.clone());
            Some(assignable)
        } else {
            None
        };
        HeartbeatReply {
            member_id: member_id.to_string(),
            member_epoch: member.epoch,
            assignment,
        }
    }

    /// Removes members whose session expired (marking the target for
    /// recomputation); returns whether any was.
    fn expire(&self, group: &mut Group, now: Instant) -> bool {
        let before = group.members.len();
        let timeout = self.timing.session_timeout;
        group.members.retain(|id, m| {
            let alive = now.saturating_duration_since(m.last_seen) < timeout;
            if !alive {
                tracing::info!(member = %id, "consumer group member's session expired");
            }
            alive
        });
        let expired = group.members.len() != before;
        group.dirty |= expired;
        expired
    }

    /// Checks that an offset commit comes from a current member (or, with
    /// member id "" and epoch -1, that the group has no members).
    pub fn check_commit(
        &self,
        group_id: &str,
        member_id: &str,
        epoch: i32,
        now: Instant,
    ) -> Result<(), ApiError> {
        let mut groups = self.lock();
        if let Some(group) = groups.get_mut(group_id) {
            self.expire(group, now);
        }
        let group = groups.get(group_id);
        let members = group.map_or(0, |g| g.members.len());
        if member_id.is_empty() && epoch == -1 {
            return if members == 0 {
                Ok(())
            } else {
                Err(fail(
                    ErrorCode::UnknownMemberId,
                    format!("group {group_id:?} has {members} members: commit as one of them (member id and epoch)"),
                ))
            };
        }
        let member = group
            .and_then(|g| g.members.get(member_id))
            .ok_or_else(|| unknown(member_id, group_id))?;
        if epoch != member.epoch && epoch != member.previous_epoch {
            return Err(fenced(member_id, epoch, member.epoch));
        }
        Ok(())
    }

    /// Describes a group, after expiring stale members; `None` if unknown.
    pub fn describe(
        &self,
        group_id: &str,
        now: Instant,
        partitions: &BTreeMap<String, i32>,
    ) -> Option<GroupDescription> {
        let mut groups = self.lock();
        let group = groups.get_mut(group_id)?;
        self.expire(group, now);
        if group.dirty {
            self.retarget(group, partitions);
        }
        Some(describe(group))
    }

    /// Every group with a membership record, with its description.
    pub fn list(&self) -> Vec<(String, GroupDescription)> {
        let groups = self.lock();
        let mut all: Vec<(String, GroupDescription)> = groups
            .iter()
            .map(|(id, g)| (id.clone(), describe(g)))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }
}

fn describe(group: &Group) -> GroupDescription {
    let stable = group
        .members
        .iter()
        .all(|(id, m)| group.target.get(id).is_some_and(|t| *t == m.claimed));
    GroupDescription {
        state: match (group.members.is_empty(), stable) {
            (true, _) => "empty",
            (false, true) => "stable",
            (false, false) => "reconciling",
        },
        epoch: group.epoch,
        members: group
            .members
            .iter()
            .map(|(id, m)| MemberDescription {
                member_id: id.clone(),
                client_id: m.client_id.clone(),
                member_epoch: m.epoch,
                subscribed: m.subscribed.clone(),
                assignment: m.sent.clone().unwrap_or_default(),
            })
            .collect(),
    }
}

fn subscribed_counts(group: &Group, partitions: &BTreeMap<String, i32>) -> BTreeMap<String, i32> {
    group
        .members
        .values()
        .flat_map(|m| m.subscribed.iter())
        .filter_map(|t| partitions.get(t).map(|n| (t.clone(), *n)))
        .collect()
}

fn counts_changed(group: &Group, partitions: &BTreeMap<String, i32>) -> bool {
    subscribed_counts(group, partitions) != group.counts
}

fn unknown(member_id: &str, group_id: &str) -> ApiError {
    fail(
        ErrorCode::UnknownMemberId,
        format!(
            "member {member_id:?} is not in group {group_id:?} (left or session expired): rejoin"
        ),
    )
}

fn fenced(member_id: &str, epoch: i32, current: i32) -> ApiError {
    fail(
        ErrorCode::FencedMemberEpoch,
        format!("member {member_id:?} sent epoch {epoch}, but its epoch is {current}: it was fenced; rejoin"),
    )
}
