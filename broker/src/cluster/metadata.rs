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
//!
//! MetaReply    kind int8, then
//!   0 Done
//!   1 Refused              reason string
//!   2 ProducerIds          first int64, count int32
//!
//! MetaState    next_producer_id int64,
//!              topics array< name string, settings string,
//!                            replicas array<array<int64>> >,
//!              brokers array< id int64, addr string >
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

/// The metadata every broker holds: topics, the brokers' client addresses and
/// the next unreserved producer id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaState {
    topics: BTreeMap<String, TopicAssignment>,
    brokers: BTreeMap<u64, String>,
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
                Some(_) => MetaReply::Done,
                None => refused(format!("topic {name:?} does not exist")),
            },
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
        Writer::new(&mut buf)
            .i64(self.next_producer_id)
            .array_of(&topics, |w, t| encode_topic(w, t))
            .array_of(&brokers, |w, (id, addr)| {
                w.i64(**id as i64).string(addr);
            });
        buf.to_vec()
    }

    /// Reads a state written by [`MetaState::encode`].
    pub fn decode(bytes: &[u8]) -> rill_protocol::Result<MetaState> {
        let mut r = Reader::new(bytes, "metadata snapshot");
        let next_producer_id = r.i64("next_producer_id")?;
        let topics = r.array_of("topics", 10, decode_topic)?;
        let brokers = r.array_of("brokers", 10, |r| Ok((node_id(r)?, r.string("addr")?)))?;
        r.finish()?;
        Ok(MetaState {
            topics: topics.into_iter().map(|t| (t.name.clone(), t)).collect(),
            brokers: brokers.into_iter().collect(),
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
            other => {
                return Err(rill_protocol::Error::Invalid {
                    what: "metadata command kind",
                    detail: format!("{other} is not 1 (create topic), 2 (delete topic), 3 (allocate producer ids) or 4 (register broker)"),
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
mod tests {
    use super::*;

    fn topic(name: &str) -> TopicAssignment {
        TopicAssignment {
            name: name.to_string(),
            settings: "retention_ms = 1000\n".to_string(),
            replicas: vec![vec![1, 2, 3], vec![2, 3, 1]],
        }
    }

    #[test]
    fn create_delete_and_refusals_change_nothing() {
        let mut state = MetaState::default();
        assert_eq!(
            state.apply(&MetaCommand::CreateTopic(topic("a"))),
            MetaReply::Done
        );
        let before = state.clone();
        let again = state.apply(&MetaCommand::CreateTopic(topic("a")));
        assert!(
            matches!(again, MetaReply::Refused { ref reason } if reason.contains("already exists"))
        );
        assert_eq!(state, before);
        let missing = state.apply(&MetaCommand::DeleteTopic { name: "b".into() });
        assert!(matches!(missing, MetaReply::Refused { .. }));
        assert_eq!(state, before);
        assert_eq!(
            state.apply(&MetaCommand::DeleteTopic { name: "a".into() }),
            MetaReply::Done
        );
        assert!(state.topic("a").is_none());
    }

    #[test]
    fn producer_id_blocks_never_overlap() {
        let mut state = MetaState::default();
        let a = state.apply(&MetaCommand::AllocateProducerIds { count: 1000 });
        let b = state.apply(&MetaCommand::AllocateProducerIds { count: 10 });
        assert_eq!(
            a,
            MetaReply::ProducerIds {
                first: 0,
                count: 1000
            }
        );
        assert_eq!(
            b,
            MetaReply::ProducerIds {
                first: 1000,
                count: 10
            }
        );
        for bad in [0, -1, MAX_PRODUCER_ID_BLOCK + 1] {
            let before = state.clone();
            let reply = state.apply(&MetaCommand::AllocateProducerIds { count: bad });
            assert!(
                matches!(reply, MetaReply::Refused { .. }),
                "{bad}: {reply:?}"
            );
            assert_eq!(state, before);
        }
    }

    #[test]
    fn a_broker_registering_again_replaces_its_address() {
        let mut state = MetaState::default();
        for addr in ["a:1", "b:2"] {
            let command = MetaCommand::RegisterBroker {
                id: 3,
                addr: addr.into(),
            };
            assert_eq!(state.apply(&command), MetaReply::Done);
        }
        assert_eq!(state.brokers().get(&3).map(String::as_str), Some("b:2"));
        assert_eq!(state.brokers().len(), 1);
    }

    #[test]
    fn commands_and_state_round_trip_and_every_prefix_fails() {
        let commands = [
            MetaCommand::CreateTopic(topic("orders")),
            MetaCommand::DeleteTopic {
                name: "orders".into(),
            },
            MetaCommand::AllocateProducerIds { count: 7 },
            MetaCommand::RegisterBroker {
                id: 2,
                addr: "rill-2:9400".into(),
            },
        ];
        let mut state = MetaState::default();
        for command in &commands {
            let bytes = command.encode();
            assert_eq!(&MetaCommand::decode(&bytes).expect("must succeed"), command);
            for cut in 0..bytes.len() {
                assert!(
                    MetaCommand::decode(&bytes[..cut]).is_err(),
                    "{command:?} cut at {cut}"
                );
            }
            state.apply(command);
        }
        for reply in [
            MetaReply::Done,
            refused("no".into()),
            MetaReply::ProducerIds { first: 9, count: 3 },
        ] {
            let bytes = reply.encode();
            assert_eq!(MetaReply::decode(&bytes).expect("decodes"), reply);
            for cut in 0..bytes.len() {
                assert!(
                    MetaReply::decode(&bytes[..cut]).is_err(),
                    "{reply:?} cut at {cut}"
                );
            }
        }
        state.apply(&MetaCommand::CreateTopic(topic("payments")));
        let bytes = state.encode();
        assert_eq!(MetaState::decode(&bytes).expect("must succeed"), state);
        for cut in 0..bytes.len() {
            assert!(
                MetaState::decode(&bytes[..cut]).is_err(),
                "state cut at {cut}"
            );
        }
    }

    #[test]
    fn unknown_kinds_and_negative_nodes_are_named() {
        let err = MetaCommand::decode(&[9])
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("9 is not 1"), "{err}");
        let mut bad = topic("t");
        bad.replicas = vec![vec![u64::MAX]];
        let err = MetaCommand::decode(&MetaCommand::CreateTopic(bad).encode())
            .expect_err("must fail")
            .to_string();
        assert!(err.contains("negative"), "{err}");
    }
}
