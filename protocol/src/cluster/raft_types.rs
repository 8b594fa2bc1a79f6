//! The pieces every inter-broker Raft message is made of, and the layout a Raft
//! entry's payload has on disk as well as on the wire.
//!
//! These are Rill's own plain types, not openraft's: the codec stays free of the
//! consensus library, and the broker converts between the two.
//!
//! ```text
//! GroupId           topic string, partition int32
//! LogId             term int64 (>= 0), index int64 (>= 0)
//! OptionalLogId     present int8 (0 or 1), then LogId when 1
//! Vote              term int64 (>= 0), node_id int64 (>= 0), committed int8 (0 or 1)
//! ClusterNode       id int64 (>= 0), cluster_addr string
//! Membership        configs array<array<int64 node id>>, nodes array<ClusterNode>
//! StoredMembership  log_id OptionalLogId, membership Membership
//! EntryPayload      kind int8, then
//!                     0 blank       nothing
//!                     1 normal      data bytes
//!                     2 membership  Membership
//! Entry             log_id LogId, payload EntryPayload
//! ```

use bytes::Bytes;

use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// Which Raft group a message is for: the metadata group is topic `__cluster`,
/// partition 0; every other group is the partition it names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

/// A Raft log position: the term of the leader that wrote the entry, and its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LogId {
    /// Term of the leader that wrote the entry.
    pub term: u64,
    /// Position in the log.
    pub index: u64,
}

/// A vote: the term, the node voted for (or leading), and whether a quorum granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Vote {
    /// The term.
    pub term: u64,
    /// The candidate or leader.
    pub node_id: u64,
    /// `true` once a quorum granted it: the node is the term's leader.
    pub committed: bool,
}

/// One broker in a membership: its id and cluster listener.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClusterNode {
    /// The broker's node id.
    pub id: u64,
    /// `host:port` of its cluster listener.
    pub cluster_addr: String,
}

/// A group's membership: its voter configurations (two while a change is joint)
/// and the nodes they name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Membership {
    /// Each configuration's voter ids.
    pub configs: Vec<Vec<u64>>,
    /// Every node the configurations name (and learners).
    pub nodes: Vec<ClusterNode>,
}

/// A membership and the log position it was written at.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredMembership {
    /// Where the membership entry sits, if it came from the log.
    pub log_id: Option<LogId>,
    /// The membership.
    pub membership: Membership,
}

/// What a Raft entry carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryPayload {
    /// Nothing: a new leader's first entry.
    Blank,
    /// The group's own data (a metadata command, a record batch).
    Normal(Bytes),
    /// A membership change.
    Membership(Membership),
}

/// One Raft entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its position.
    pub log_id: LogId,
    /// What it carries.
    pub payload: EntryPayload,
}

/// Smallest encodings, to bound array counts before allocating.
pub(crate) const MIN_LOG_ID: usize = 16;
const MIN_NODE: usize = 8 + 2;
const MIN_ENTRY: usize = MIN_LOG_ID + 1;

fn id(r: &mut Reader<'_>, field: &'static str) -> Result<u64> {
    let v = r.i64(field)?;
    u64::try_from(v).map_err(|_| Error::Invalid {
        what: field,
        detail: format!("{v} is negative; it must be 0 or more"),
    })
}

/// A boolean: 0 or 1, anything else refused naming `field`.
pub(crate) fn flag(r: &mut Reader<'_>, field: &'static str) -> Result<bool> {
    match r.i8(field)? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(Error::Invalid {
            what: field,
            detail: format!("{other} is not 0 or 1"),
        }),
    }
}

/// Writes a non-negative id; ids above `i64::MAX` cannot be built by the broker.
fn put_id(w: &mut Writer<'_>, v: u64) {
    w.i64(i64::try_from(v).unwrap_or(i64::MAX));
}

impl GroupId {
    /// Appends the group id.
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.string(&self.topic).i32(self.partition);
    }

    /// Reads a group id.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(GroupId {
            topic: r.string("group topic")?,
            partition: r.i32("group partition")?,
        })
    }
}

impl LogId {
    /// Appends the log id.
    pub fn encode(&self, w: &mut Writer<'_>) {
        put_id(w, self.term);
        put_id(w, self.index);
    }

    /// Reads a log id.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(LogId {
            term: id(r, "log id term")?,
            index: id(r, "log id index")?,
        })
    }

    /// Appends an optional log id: a presence flag, then the id.
    pub fn encode_optional(id: Option<&LogId>, w: &mut Writer<'_>) {
        match id {
            Some(id) => {
                w.i8(1);
                id.encode(w);
            }
            None => {
                w.i8(0);
            }
        }
    }

    /// Reads an optional log id.
    pub fn decode_optional(r: &mut Reader<'_>) -> Result<Option<Self>> {
        if flag(r, "log id present")? {
            Ok(Some(LogId::decode(r)?))
        } else {
            Ok(None)
        }
    }
}

impl Vote {
    /// Appends the vote.
    pub fn encode(&self, w: &mut Writer<'_>) {
        put_id(w, self.term);
        put_id(w, self.node_id);
        w.i8(i8::from(self.committed));
    }

    /// Reads a vote.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Vote {
            term: id(r, "vote term")?,
            node_id: id(r, "vote node_id")?,
            committed: flag(r, "vote committed")?,
        })
    }
}

impl Membership {
    /// Appends the membership.
    pub fn encode(&self, w: &mut Writer<'_>) {
        w.array_of(&self.configs, |w, config| {
            w.array_of(config, |w, node| put_id(w, *node));
        })
        .array_of(&self.nodes, |w, node| {
            put_id(w, node.id);
            w.string(&node.cluster_addr);
        });
    }

    /// Reads a membership.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        let configs = r.array_of("configs", 4, |r| {
            r.array_of("voters", 8, |r| id(r, "voter"))
        })?;
        let nodes = r.array_of("nodes", MIN_NODE, |r| {
            Ok(ClusterNode {
                id: id(r, "node id")?,
                cluster_addr: r.string("cluster_addr")?,
            })
        })?;
        Ok(Membership { configs, nodes })
    }
}

impl StoredMembership {
    /// Appends the stored membership.
    pub fn encode(&self, w: &mut Writer<'_>) {
        LogId::encode_optional(self.log_id.as_ref(), w);
        self.membership.encode(w);
    }

    /// Reads a stored membership.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(StoredMembership {
            log_id: LogId::decode_optional(r)?,
            membership: Membership::decode(r)?,
        })
    }
}

impl EntryPayload {
    /// Appends the payload.
    pub fn encode(&self, w: &mut Writer<'_>) {
        match self {
            EntryPayload::Blank => {
                w.i8(0);
            }
            EntryPayload::Normal(data) => {
                w.i8(1).bytes(data);
            }
            EntryPayload::Membership(m) => {
                w.i8(2);
                m.encode(w);
            }
        }
    }

    /// Reads a payload; normal data is a slice of the source without a copy when
    /// the reader was made with [`Reader::within`].
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        match r.i8("entry payload kind")? {
            0 => Ok(EntryPayload::Blank),
            1 => Ok(EntryPayload::Normal(r.shared_bytes("entry data")?)),
            2 => Ok(EntryPayload::Membership(Membership::decode(r)?)),
            other => Err(Error::Invalid {
                what: "entry payload kind",
                detail: format!("{other} is not 0 (blank), 1 (normal) or 2 (membership)"),
            }),
        }
    }
}

impl Entry {
    /// Appends the entry.
    pub fn encode(&self, w: &mut Writer<'_>) {
        self.log_id.encode(w);
        self.payload.encode(w);
    }

    /// Reads an entry.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Entry {
            log_id: LogId::decode(r)?,
            payload: EntryPayload::decode(r)?,
        })
    }

    /// Reads an array of entries, bounded by the bytes left before allocating.
    pub fn decode_all(r: &mut Reader<'_>) -> Result<Vec<Self>> {
        r.array_of("entries", MIN_ENTRY, Entry::decode)
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;

    fn membership() -> Membership {
        Membership {
            configs: vec![vec![1, 2, 3], vec![1, 2]],
            nodes: (1..=3)
                .map(|id| ClusterNode {
                    id,
                    cluster_addr: format!("10.0.0.{id}:9500"),
                })
                .collect(),
        }
    }

    fn entries() -> Vec<Entry> {
        let log_id = |term, index| LogId { term, index };
        vec![
            Entry {
                log_id: log_id(0, 0),
                payload: EntryPayload::Membership(membership()),
            },
            Entry {
                log_id: log_id(1, 1),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(1, 2),
                payload: EntryPayload::Normal(Bytes::from_static(b"a record batch")),
            },
        ]
    }

    fn encoded(entries: &[Entry]) -> BytesMut {
        let mut buf = BytesMut::new();
        let mut w = Writer::new(&mut buf);
        w.array_of(entries, |w, e| e.encode(w));
        buf
    }

    #[test]
    fn entries_round_trip_and_normal_data_is_not_copied() {
        let entries = entries();
        let buf = encoded(&entries).freeze();
        let mut r = Reader::within(&buf, &buf[..], "entries");
        let decoded = Entry::decode_all(&mut r).expect("must succeed");
        r.finish().expect("must succeed");
        assert_eq!(decoded, entries);
        let EntryPayload::Normal(data) = &decoded[2].payload else {
            panic!("not normal")
        };
        let within = buf.as_ptr_range();
        assert!(within.contains(&data.as_ptr()), "normal data was copied");
    }

    #[test]
    fn every_prefix_fails() {
        let buf = encoded(&entries());
        for cut in 0..buf.len() {
            let mut r = Reader::new(&buf[..cut], "entries");
            let whole = Entry::decode_all(&mut r).and_then(|_| r.finish());
            assert!(
                whole.is_err(),
                "prefix of {cut}/{} bytes decoded",
                buf.len()
            );
        }
        let stored = StoredMembership {
            log_id: Some(LogId { term: 3, index: 9 }),
            membership: membership(),
        };
        let mut buf = BytesMut::new();
        stored.encode(&mut Writer::new(&mut buf));
        let mut r = Reader::new(&buf, "stored membership");
        assert_eq!(
            StoredMembership::decode(&mut r).expect("must succeed"),
            stored
        );
        for cut in 0..buf.len() {
            let mut r = Reader::new(&buf[..cut], "stored membership");
            let whole = StoredMembership::decode(&mut r).and_then(|_| r.finish());
            assert!(
                whole.is_err(),
                "prefix of {cut}/{} bytes decoded",
                buf.len()
            );
        }
    }

    #[test]
    fn bad_values_are_named_and_huge_counts_do_not_allocate() {
        let mut r = Reader::new(&[7], "payload");
        let err = EntryPayload::decode(&mut r)
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("7 is not 0 (blank)"), "{err}");
        let mut buf = BytesMut::new();
        Writer::new(&mut buf).i64(-1).i64(0).i8(0);
        let err = Vote::decode(&mut Reader::new(&buf, "vote"))
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("negative"), "{err}");
        let mut buf = BytesMut::new();
        Writer::new(&mut buf).i64(1).i64(2).i8(2);
        let err = Vote::decode(&mut Reader::new(&buf, "vote"))
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("2 is not 0 or 1"), "{err}");
        let mut buf = BytesMut::new();
        Writer::new(&mut buf).i32(i32::MAX);
        assert!(Entry::decode_all(&mut Reader::new(&buf, "entries")).is_err());
    }
}
