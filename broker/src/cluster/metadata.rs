//! The cluster's metadata: what every broker must agree on, and the commands that
//! change it.
//!
//! The metadata Raft group replicates [`MetaCommand`]s; every broker applies the
//! committed ones in log order to its [`MetaState`], so after the same log prefix
//! every broker holds the same state. Applying is deterministic and never fails on
//! a command that decoded: a command that cannot take effect (creating a topic that
//! exists, deleting one that does not) is answered with [`MetaReply::Refused`] and
//! changes nothing. Whoever proposes a command checks it first (names, settings,
//! replica sets), so a refusal is the answer to a race between two proposers, not
//! to bad input.
//!
//! Commands and the whole state (a Raft snapshot) are encoded with the protocol
//! crate's primitives (docs/REPLICATION.md draws the layouts):
//!
//! ```text
//! MetaCommand  kind int8, then
//!   1 CreateTopic          name string, settings string (TOML of the topic's
//!                          settings), replicas array<array<int64 node id>>
//!   2 DeleteTopic          name string
//!   3 AllocateProducerIds  count int32 (1 ..= 1,000,000)
//!   4 RegisterBroker       id int64, addr string (host:port for clients)
//!   5 RecordLeader         topic string, partition int32, leader int64,
//!                          term int64 (the partition group's Raft term)
//!
//! MetaReply    kind int8, then
//!   0 Done
//!   1 Refused              reason string
//!   2 ProducerIds          first int64, count int32
//!
//! MetaState    next_producer_id int64,
//!              topics array< name string, settings string,
//!                            replicas array<array<int64>> >,
//!              brokers array< id int64, addr string >,
//!              leaders array< topic string, partition int32,
//!                             leader int64, term int64 >
//! ```

use std::collections::BTreeMap;

use bytes::BytesMut;
use rill_protocol::wire::{Reader, Writer};

/// The most producer ids one [`MetaCommand::AllocateProducerIds`] reserves.
pub const MAX_PRODUCER_ID_BLOCK: i32 = 1_000_000;

/// A topic as the cluster knows it: its settings and each partition's replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicAssignment {
    /// The topic's name.
    pub name: String,
    /// The topic's settings as TOML (the broker's `TopicSettings`), checked by the
    /// proposer; stored as given so every broker reads the same text.
    pub settings: String,
    /// For each partition, in order, the node ids of its replicas; the first is
    /// the preferred leader.
    pub replicas: Vec<Vec<u64>>,
}

/// A change to the cluster's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaCommand {
    /// Create a topic with these replica sets.
    CreateTopic(TopicAssignment),
    /// Delete the topic of this name.
    DeleteTopic {
        /// The topic's name.
        name: String,
    },
    /// Reserve a block of producer ids for one broker to hand out.
    AllocateProducerIds {
        /// How many ids (1 ..= [`MAX_PRODUCER_ID_BLOCK`]).
        count: i32,
    },
    /// Record that `leader` leads partition `partition` of `topic` in Raft term
    /// `term` of the partition's group (its leader proposes this once elected,
    /// so every broker can name it in Metadata). An older term than the one
    /// recorded is refused.
    RecordLeader {
        /// The topic.
        topic: String,
        /// The partition index.
        partition: i32,
        /// The leader's node id.
        leader: u64,
        /// The term it leads in.
        term: u64,
    },
    /// Record the address a broker advertises to clients (each broker registers
    /// itself whenever it starts; the last registration wins).
    RegisterBroker {
        /// The broker's node id.
        id: u64,
        /// `host:port` clients connect to.
        addr: String,
    },
}

/// What applying a [`MetaCommand`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaReply {
    /// The command took effect.
    Done,
    /// The command could not take effect and changed nothing.
    Refused {
        /// Why, for the client that asked.
        reason: String,
    },
    /// Producer ids `first .. first + count` are reserved for the proposer.
    ProducerIds {
        /// The first id of the block.
        first: i64,
        /// How many ids the block holds.
        count: i32,
    },
}

/// A partition's leader as last recorded: its node id and Raft term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedLeader {
    /// The leader's node id.
    pub node: u64,
    /// The partition group's term it was elected in.
    pub term: u64,
}

/// The metadata every broker holds: topics, the brokers' client addresses,
/// each partition's last recorded leader and the next unreserved producer id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaState {
    topics: BTreeMap<String, TopicAssignment>,
    brokers: BTreeMap<u64, String>,
    leaders: BTreeMap<(String, i32), RecordedLeader>,
    next_producer_id: i64,
}

impl MetaState {
    /// Applies one committed command and says what it did.
    pub fn apply(&mut self, command: &MetaCommand) -> MetaReply {
        match command {
            MetaCommand::CreateTopic(topic) => {
                if self.topics.contains_key(&topic.name) {
                    return refused(format!("topic {:?} already exists", topic.name));
                }
                self.topics.insert(topic.name.clone(), topic.clone());
                MetaReply::Done
            }
            MetaCommand::DeleteTopic { name } => match self.topics.remove(name) {
                Some(_) => {
                    self.leaders.retain(|(topic, _), _| topic != name);
                    MetaReply::Done
                }
                None => refused(format!("topic {name:?} does not exist")),
            },
            MetaCommand::RecordLeader {
                topic,
                partition,
                leader,
                term,
            } => self.record_leader(topic, *partition, *leader, *term),
            MetaCommand::AllocateProducerIds { count } => {
                let first = self.next_producer_id;
                match first.checked_add(i64::from(*count)) {
                    Some(next) if (1..=MAX_PRODUCER_ID_BLOCK).contains(count) => {
                        self.next_producer_id = next;
                        MetaReply::ProducerIds {
                            first,
                            count: *count,
                        }
                    }
                    Some(_) => refused(format!(
                        "a producer-id block holds 1 to {MAX_PRODUCER_ID_BLOCK} ids, not {count}"
                    )),
                    None => refused("the cluster has handed out every producer id".to_string()),
                }
            }
            MetaCommand::RegisterBroker { id, addr } => {
                self.brokers.insert(*id, addr.clone());
                MetaReply::Done
            }
        }
    }

    fn record_leader(&mut self, topic: &str, partition: i32, node: u64, term: u64) -> MetaReply {
        let Some(assigned) = self.topics.get(topic) else {
            return refused(format!("topic {topic:?} does not exist"));
        };
        let replicas = usize::try_from(partition)
            .ok()
            .and_then(|i| assigned.replicas.get(i));
        if !replicas.is_some_and(|r| r.contains(&node)) {
            return refused(format!(
                "broker {node} is not a replica of partition {topic}/{partition}"
            ));
        }
        let key = (topic.to_string(), partition);
        if let Some(recorded) = self.leaders.get(&key) {
            if recorded.term > term {
                return refused(format!(
                    "partition {topic}/{partition} has a leader of term {} recorded, newer than {term}",
                    recorded.term
                ));
            }
        }
        self.leaders.insert(key, RecordedLeader { node, term });
        MetaReply::Done
    }

    /// The last recorded leader of a partition, if any.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<RecordedLeader> {
        self.leaders.get(&(topic.to_string(), partition)).copied()
    }

    /// The registered brokers: node id and client address, by id.
    pub fn brokers(&self) -> &BTreeMap<u64, String> {
        &self.brokers
    }

    /// The topic of this name, if the cluster has it.
    pub fn topic(&self, name: &str) -> Option<&TopicAssignment> {
        self.topics.get(name)
    }

    /// Every topic, by name.
    pub fn topics(&self) -> impl Iterator<Item = &TopicAssignment> {
        self.topics.values()
    }

    /// The first producer id no broker has been given yet.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// The whole state as bytes (a Raft snapshot's data).
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let topics: Vec<&TopicAssignment> = self.topics.values().collect();
        let brokers: Vec<(&u64, &String)> = self.brokers.iter().collect();
        let leaders: Vec<(&(String, i32), &RecordedLeader)> = self.leaders.iter().collect();
        Writer::new(&mut buf)
            .i64(self.next_producer_id)
            .array_of(&topics, |w, t| encode_topic(w, t))
            .array_of(&brokers, |w, (id, addr)| {
                w.i64(**id as i64).string(addr);
            })
            .array_of(&leaders, |w, ((topic, partition), leader)| {
                w.string(topic)
                    .i32(*partition)
                    .i64(leader.node as i64)
                    .i64(leader.term as i64);
            });
        buf.to_vec()
    }

    /// Reads a state written by [`MetaState::encode`].
    pub fn decode(bytes: &[u8]) -> rill_protocol::Result<MetaState> {
        let mut r = Reader::new(bytes, "metadata snapshot");
        let next_producer_id = r.i64("next_producer_id")?;
        let topics = r.array_of("topics", 10, decode_topic)?;
        let brokers = r.array_of("brokers", 10, |r| Ok((node_id(r)?, r.string("addr")?)))?;
        let leaders = r.array_of("leaders", 22, |r| {
            let key = (r.string("topic")?, r.i32("partition")?);
            let node = node_id(r)?;
            let term = term(r)?;
            Ok((key, RecordedLeader { node, term }))
        })?;
        r.finish()?;
        Ok(MetaState {
            topics: topics.into_iter().map(|t| (t.name.clone(), t)).collect(),
            brokers: brokers.into_iter().collect(),
            leaders: leaders.into_iter().collect(),
            next_producer_id,
        })
    }
}

impl MetaCommand {
    /// The command as bytes (a Raft entry's payload).
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut w = Writer::new(&mut buf);
        match self {
            MetaCommand::CreateTopic(topic) => {
                w.i8(1);
                encode_topic(&mut w, topic);
            }
            MetaCommand::DeleteTopic { name } => {
                w.i8(2).string(name);
            }
            MetaCommand::AllocateProducerIds { count } => {
                w.i8(3).i32(*count);
            }
            MetaCommand::RegisterBroker { id, addr } => {
                w.i8(4).i64(*id as i64).string(addr);
            }
            MetaCommand::RecordLeader {
                topic,
                partition,
                leader,
                term,
            } => {
                w.i8(5)
                    .string(topic)
                    .i32(*partition)
                    .i64(*leader as i64)
                    .i64(*term as i64);
            }
        }
        buf.to_vec()
    }

    /// Reads a command written by [`MetaCommand::encode`].
    pub fn decode(bytes: &[u8]) -> rill_protocol::Result<MetaCommand> {
        let mut r = Reader::new(bytes, "metadata command");
        let command = match r.i8("kind")? {
            1 => MetaCommand::CreateTopic(decode_topic(&mut r)?),
            2 => MetaCommand::DeleteTopic {
                name: r.string("name")?,
            },
            3 => MetaCommand::AllocateProducerIds {
                count: r.i32("count")?,
            },
            4 => MetaCommand::RegisterBroker {
                id: node_id(&mut r)?,
                addr: r.string("addr")?,
            },
            5 => MetaCommand::RecordLeader {
                topic: r.string("topic")?,
                partition: r.i32("partition")?,
                leader: node_id(&mut r)?,
                term: term(&mut r)?,
            },
            other => {
                return Err(rill_protocol::Error::Invalid {
                    what: "metadata command kind",
                    detail: format!("{other} is not 1 (create topic), 2 (delete topic), 3 (allocate producer ids), 4 (register broker) or 5 (record leader)"),
                })
            }
        };
        r.finish()?;
        Ok(command)
    }
}

/// A node id: an int64 that must not be negative.
fn node_id(r: &mut Reader<'_>) -> rill_protocol::Result<u64> {
    let id = r.i64("node id")?;
    u64::try_from(id).map_err(|_| rill_protocol::Error::Invalid {
        what: "node id",
        detail: format!("node id {id} is negative"),
    })
}

/// A Raft term: an int64 that must not be negative.
fn term(r: &mut Reader<'_>) -> rill_protocol::Result<u64> {
    let term = r.i64("term")?;
    u64::try_from(term).map_err(|_| rill_protocol::Error::Invalid {
        what: "term",
        detail: format!("term {term} is negative"),
    })
}

impl MetaReply {
    /// The reply as bytes (the answer to a forwarded proposal).
    pub fn encode(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut w = Writer::new(&mut buf);
        match self {
            MetaReply::Done => {
                w.i8(0);
            }
            MetaReply::Refused { reason } => {
                w.i8(1).string(reason);
            }
            MetaReply::ProducerIds { first, count } => {
                w.i8(2).i64(*first).i32(*count);
            }
        }
        buf.to_vec()
    }

    /// Reads a reply written by [`MetaReply::encode`].
    pub fn decode(bytes: &[u8]) -> rill_protocol::Result<MetaReply> {
        let mut r = Reader::new(bytes, "metadata reply");
        let reply = match r.i8("kind")? {
            0 => MetaReply::Done,
            1 => MetaReply::Refused {
                reason: r.string("reason")?,
            },
            2 => MetaReply::ProducerIds {
                first: r.i64("first")?,
                count: r.i32("count")?,
            },
            other => {
                return Err(rill_protocol::Error::Invalid {
                    what: "metadata reply kind",
                    detail: format!("{other} is not 0 (done), 1 (refused) or 2 (producer ids)"),
                })
            }
        };
        r.finish()?;
        Ok(reply)
    }
}

fn refused(reason: String) -> MetaReply {
    MetaReply::Refused { reason }
}

fn encode_topic(w: &mut Writer<'_>, topic: &TopicAssignment) {
    w.string(&topic.name)
        .string(&topic.settings)
        .array_of(&topic.replicas, |w, replicas| {
            w.array_of(replicas, |w, node| {
                w.i64(*node as i64);
            });
        });
}

fn decode_topic(r: &mut Reader<'_>) -> rill_protocol::Result<TopicAssignment> {
    let name = r.string("topic name")?;
    let settings = r.string("topic settings")?;
    let replicas = r.array_of("partitions", 4, |r| r.array_of("replicas", 8, node_id))?;
    Ok(TopicAssignment {
        name,
        settings,
        replicas,
    })
}

#[cfg(test)]
mod tests;
