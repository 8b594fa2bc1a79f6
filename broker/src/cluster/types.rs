//! The type configuration every Raft group of a Rill cluster shares.
//!
//! One configuration serves the metadata group and (later) every partition group:
//! an entry's application data is opaque bytes ([`Payload`]) whose meaning belongs
//! to the group (a metadata command, a record batch), so the network and the log
//! store are written once. Leader ids are openraft's "standard" ones: at most one
//! leader per term, so a log id is `(term, index)` and the term alone names the
//! leader that wrote an entry; it fits the batch header's leader-epoch field.

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rill_protocol::cluster::GroupId;

use tokio::sync::oneshot;

use super::metadata::MetaReply;
use crate::locks::lock;

/// The metadata group's name on the wire: topic `__cluster`, partition 0.
pub const METADATA_TOPIC: &str = "__cluster";

/// The metadata group's id.
pub fn metadata_group() -> GroupId {
    GroupId {
        topic: METADATA_TOPIC.to_string(),
        partition: 0,
    }
}

/// Where a group member is reached: its broker's cluster listener. (The address
/// a broker advertises to clients is registered in the metadata instead, so the
/// membership every broker writes at start is the same everywhere.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeAddr {
    /// `host:port` of the broker's cluster listener.
    pub cluster: String,
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster listener {}", self.cluster)
    }
}

/// The application data of one Raft entry: bytes whose meaning is the group's,
/// and on the member that proposed it, who to tell once its own log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload(pub Bytes, pub AppendNotice);

impl Payload {
    /// `bytes`, with no one to tell.
    pub fn new(bytes: Bytes) -> Payload {
        Payload(bytes, AppendNotice::default())
    }
}

/// Who to tell the base offset an entry got once this member's log holds it
/// (as durably as its fsync policy asks): a leader's `acks=1` answer. Only
/// the member that proposed the entry holds one; it is never sent or stored,
/// and any two are equal, since it is not part of the entry's data.
#[derive(Clone, Default)]
pub struct AppendNotice(Option<Arc<Mutex<Option<oneshot::Sender<i64>>>>>);

impl AppendNotice {
    /// A notice and where its base offset arrives (an error if the entry was
    /// dropped before this member's log took it).
    pub fn new() -> (AppendNotice, oneshot::Receiver<i64>) {
        let (tx, rx) = oneshot::channel();
        (AppendNotice(Some(Arc::new(Mutex::new(Some(tx))))), rx)
    }

    /// Tells the proposer its entry is in this member's log at `base_offset`;
    /// later calls do nothing.
    pub fn tell(&self, base_offset: i64) {
        if let Some(tx) = self.0.as_ref().and_then(|tx| lock(tx).take()) {
            let _ = tx.send(base_offset);
        }
    }
}

impl PartialEq for AppendNotice {
    fn eq(&self, _: &AppendNotice) -> bool {
        true
    }
}

impl Eq for AppendNotice {}

impl fmt::Debug for AppendNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "AppendNotice(waiting)"
        } else {
            "AppendNotice(none)"
        })
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0.len())
    }
}

/// What applying one entry produced, handed back to whoever proposed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The entry had nothing to answer (a blank or membership entry).
    Nothing,
    /// The metadata group's answer to a command.
    Metadata(MetaReply),
    /// A partition group's answer to a produced batch: the offset of its first
    /// record.
    Appended {
        /// The batch's base offset in the partition.
        base_offset: i64,
    },
}

openraft::declare_raft_types!(
    /// The Raft types of every group in a Rill cluster.
    pub RaftTypes:
        D = Payload,
        R = Applied,
        NodeId = u64,
        Node = NodeAddr,
        Term = u64,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
);

/// A Raft node of a Rill group.
pub type Raft<SM> = openraft::Raft<RaftTypes, SM>;
/// A log id: term and index.
pub type LogId = openraft::type_config::alias::LogIdOf<RaftTypes>;
