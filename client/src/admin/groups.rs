//! Consumer-group administration on [`Admin`]: list the groups, and describe one
//! with its members and, per partition, the committed offset, the log end and the
//! lag between them.
//!
//! A description combines three requests on the admin's connection: DescribeGroups
//! (state, members, assignments) and OffsetFetch with a null topic list (every
//! committed offset of the group), pipelined, then ListOffsets at "latest" for every
//! partition that is committed or assigned. Lag is log end minus committed offset
//! (§5.11), never below zero; a partition assigned but never committed has no lag
//! figure. This is a second `impl Admin` block next to the topic calls of
//! `admin.rs`, built only on [`Admin::connection`].

use std::collections::BTreeMap;

use rill_protocol::api::describe_groups::DescribeGroupsRequest;
use rill_protocol::api::list_groups::ListGroupsRequest;
use rill_protocol::api::offset_fetch::OffsetFetchRequest;
use rill_protocol::message::{RequestBody, ResponseBody};

use crate::admin::Admin;
use crate::consumer::offsets::from_topic_partitions;
use crate::consumer::record::TopicPartition;
use crate::error::{Error, Result};

/// One group in [`Admin::list_groups`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// `empty`, `stable` or `reconciling` (a later broker may add others).
    pub state: String,
    /// Current number of members.
    pub members: i32,
}

/// A member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// The member id the broker gave it.
    pub member_id: String,
    /// The client id it joined with.
    pub client_id: Option<String>,
    /// Its epoch.
    pub member_epoch: i32,
    /// The topics it subscribes to.
    pub subscribed_topics: Vec<String>,
    /// The partitions it owns now.
    pub assignment: Vec<TopicPartition>,
}

/// A partition of a described group: where the group is and how far behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPartition {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset (next to consume), if any.
    pub committed: Option<i64>,
    /// The partition's log end (high watermark), if it could be read (`None` for a
    /// deleted topic).
    pub log_end: Option<i64>,
    /// `log_end - committed` (at least 0), when both are known.
    pub lag: Option<i64>,
    /// The member owning it now, if any.
    pub owner: Option<String>,
}

/// A consumer group, from [`Admin::describe_group`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// `empty`, `stable` or `reconciling`.
    pub state: String,
    /// The group epoch.
    pub epoch: i32,
    /// Its members, by id.
    pub members: Vec<GroupMember>,
    /// Every committed or assigned partition, by topic and partition.
    pub partitions: Vec<GroupPartition>,
}

impl GroupDescription {
    /// The total lag over partitions with a known lag.
    pub fn total_lag(&self) -> i64 {
        self.partitions.iter().filter_map(|p| p.lag).sum()
    }
}

impl Admin {
    /// Every group the broker knows (with members or committed offsets), sorted by
    /// id.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        let response = self.connection().call(ListGroupsRequest).await?;
        if !response.error_code.is_ok() {
            return Err(Error::broker(response.error_code, None));
        }
        let mut groups: Vec<GroupListing> = response
            .groups
            .into_iter()
            .map(|g| GroupListing {
                group_id: g.group_id,
                state: g.state,
                members: g.members,
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(groups)
    }

    /// Describes `group`: state, members and, per partition, committed offset, log
    /// end and lag. Fails with `GROUP_ID_NOT_FOUND` for a group with neither
    /// members nor committed offsets.
    pub async fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        let conn = self.connection();
        let described = conn.submit(RequestBody::DescribeGroups(DescribeGroupsRequest {
            groups: vec![group.to_string()],
        }))?;
        let fetched = conn.submit(RequestBody::OffsetFetch(OffsetFetchRequest {
            group_id: group.to_string(),
            topics: None,
        }))?;
        let (described, fetched) = (described.await?, fetched.await?);
        let unexpected = |what: &str| Error::Protocol {
            addr: conn.addr().to_string(),
            detail: format!("expected a {what} response"),
        };
        let ResponseBody::DescribeGroups(described) = described else {
            return Err(unexpected("DescribeGroups"));
        };
        let ResponseBody::OffsetFetch(fetched) = fetched else {
            return Err(unexpected("OffsetFetch"));
        };
        let info = described
            .groups
            .into_iter()
            .find(|g| g.group_id == group)
            .ok_or_else(|| unexpected("DescribeGroups (for this group)"))?;
        if !info.error_code.is_ok() {
            let message = info
                .error_message
                .unwrap_or_else(|| format!("no group {group:?}"));
            return Err(Error::broker(info.error_code, Some(message)));
        }
        if !fetched.error_code.is_ok() {
            return Err(Error::broker(fetched.error_code, fetched.error_message));
        }
        let mut rows: BTreeMap<TopicPartition, GroupPartition> = BTreeMap::new();
        for t in &fetched.topics {
            for p in &t.partitions {
                if p.error_code.is_ok() && p.offset >= 0 {
                    let tp = TopicPartition::new(&t.name, p.partition);
                    entry(&mut rows, tp).committed = Some(p.offset);
                }
            }
        }
        let members: Vec<GroupMember> = info
            .members
            .into_iter()
            .map(|m| GroupMember {
                assignment: from_topic_partitions(&m.assignment),
                member_id: m.member_id,
                client_id: m.client_id,
                member_epoch: m.member_epoch,
                subscribed_topics: m.subscribed_topics,
            })
            .collect();
        for m in &members {
            for tp in &m.assignment {
                entry(&mut rows, tp.clone()).owner = Some(m.member_id.clone());
            }
        }
        let partitions: Vec<(String, i32)> = rows
            .keys()
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect();
        for ((topic, partition), offsets) in self.offsets(partitions).await.0 {
            if let Ok((_, end)) = offsets {
                entry(&mut rows, TopicPartition::new(&topic, partition)).log_end = Some(end);
            }
        }
        let partitions = rows
            .into_values()
            .map(|mut row| {
                row.lag = match (row.log_end, row.committed) {
                    (Some(end), Some(committed)) => Some(end.saturating_sub(committed).max(0)),
                    _ => None,
                };
                row
            })
            .collect();
        Ok(GroupDescription {
            group_id: info.group_id,
            state: info.state,
            epoch: info.group_epoch,
            members,
            partitions,
        })
    }
}

/// The row for `tp`, created empty if missing.
fn entry(
    rows: &mut BTreeMap<TopicPartition, GroupPartition>,
    tp: TopicPartition,
) -> &mut GroupPartition {
    rows.entry(tp.clone()).or_insert(GroupPartition {
        partition: tp,
        committed: None,
        log_end: None,
        lag: None,
        owner: None,
    })
}
