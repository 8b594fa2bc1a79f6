//! A Raft group's state machine, written once for every kind of group: the
//! group's own state (`GroupState`, the metadata or a partition's commit point)
//! in memory, its last snapshot on disk, and a watch channel that publishes what
//! the rest of the broker sees after every change.
//!
//! Entries are applied in log order, exactly once per process lifetime; after a
//! restart openraft applies again every committed entry after the snapshot, so
//! the state is rebuilt from `snapshot` (the last one built or installed,
//! replaced atomically) plus the log.
//!
//! ```text
//! snapshot file: version int8 (1) | SnapshotMeta (docs/PROTOCOL.md §7) | state bytes
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::BytesMut;
use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::type_config::alias::{SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::EntryPayload;
use rill_protocol::cluster::SnapshotMeta;
use rill_protocol::wire::{Reader, Writer};
use tokio::sync::{watch, Mutex};

use super::entry_codec;
use super::types::{Applied, LogId, RaftTypes};

/// The file holding the last snapshot.
pub const SNAPSHOT_FILE: &str = "snapshot";

type Entry = <RaftTypes as openraft::RaftTypeConfig>::Entry;

/// What a kind of group keeps and how entries change it.
pub trait GroupState: Send + Sync + 'static {
    /// What the rest of the broker sees of the state, published after changes.
    type View: Clone + Send + Sync + 'static;

    /// Applies one committed entry (blank and membership entries included) and
    /// says what to answer its proposer. An error stops the group: it means the
    /// entry cannot be applied on any replica (the log is damaged).
    fn apply(&mut self, entry: &Entry) -> io::Result<Applied>;

    /// The state as a snapshot's bytes.
    fn encode(&self) -> Vec<u8>;

    /// Replaces the state with a snapshot's (from [`GroupState::encode`]).
    fn restore(&mut self, data: &[u8]) -> io::Result<()>;

    /// What to publish, given the last applied entry.
    fn view(&self, applied: Option<LogId>) -> Self::View;
}

/// The state machine of one group; cheap to clone (clones share it).
pub struct StateStore<S: GroupState> {
    inner: Arc<Mutex<Machine<S>>>,
    dir: PathBuf,
    view: watch::Sender<S::View>,
}

impl<S: GroupState> Clone for StateStore<S> {
    fn clone(&self) -> Self {
        StateStore {
            inner: Arc::clone(&self.inner),
            dir: self.dir.clone(),
            view: self.view.clone(),
        }
    }
}

struct Machine<S> {
    state: S,
    applied: Option<LogId>,
    membership: StoredMembershipOf<RaftTypes>,
    snapshot: Option<Stored>,
}

/// A snapshot as built or installed: its metadata and the encoded state.
#[derive(Clone)]
struct Stored {
    meta: SnapshotMetaOf<RaftTypes>,
    data: Vec<u8>,
}

impl<S: GroupState> StateStore<S> {
    /// Opens the state machine in `dir` (creating it): `initial`, replaced by the
    /// snapshot there if there is one.
    pub fn open(dir: &Path, initial: S) -> io::Result<StateStore<S>> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(SNAPSHOT_FILE);
        let damaged = |e: &dyn std::fmt::Display| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        };
        let mut machine = Machine {
            state: initial,
            applied: None,
            membership: Default::default(),
            snapshot: None,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let stored = Stored::decode(&bytes).map_err(|e| damaged(&e))?;
                machine
                    .state
                    .restore(&stored.data)
                    .map_err(|e| damaged(&e))?;
                machine.applied = stored.meta.last_log_id;
                machine.membership = stored.meta.last_membership.clone();
                machine.snapshot = Some(stored);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let (view, _) = watch::channel(machine.state.view(machine.applied));
        Ok(StateStore {
            inner: Arc::new(Mutex::new(machine)),
            dir: dir.to_path_buf(),
            view,
        })
    }

    /// A receiver that sees the state after every applied batch of entries.
    pub fn subscribe(&self) -> watch::Receiver<S::View> {
        self.view.subscribe()
    }

    fn save(&self, stored: &Stored) -> io::Result<()> {
        rill_storage::write_file_atomically(&self.dir, SNAPSHOT_FILE, &stored.encode())
            .map_err(io::Error::other)
    }
}

impl<S: GroupState> RaftStateMachine<RaftTypes> for StateStore<S> {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = StateStore<S>;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembershipOf<RaftTypes>), io::Error> {
        let m = self.inner.lock().await;
        Ok((m.applied, m.membership.clone()))
    }

    async fn apply<St>(&mut self, mut entries: St) -> Result<(), io::Error>
    where
        St: Stream<Item = Result<EntryResponder<RaftTypes>, io::Error>> + Unpin + Send,
    {
        let mut m = self.inner.lock().await;
        let mut result = Ok(());
        // Proposers are answered once the view shows their entries: a client
        // answered for a write then reads it (the committed offset covers it).
        let mut answers = Vec::new();
        while let Some(next) = entries.next().await {
            let (entry, responder) = match next {
                Ok(next) => next,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            if let EntryPayload::Membership(membership) = &entry.payload {
                m.membership =
                    StoredMembershipOf::<RaftTypes>::new(Some(entry.log_id), membership.clone());
            }
            let answer = match m.state.apply(&entry) {
                Ok(answer) => answer,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            m.applied = Some(entry.log_id);
            if let Some(responder) = responder {
                answers.push((responder, answer));
            }
        }
        self.view.send_replace(m.state.view(m.applied));
        for (responder, answer) in answers {
            responder.send(answer);
        }
        result
    }

    async fn get_snapshot_builder(&mut self) -> StateStore<S> {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<RaftTypes>,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        let mut m = self.inner.lock().await;
        m.state
            .restore(&snapshot)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("snapshot: {e}")))?;
        let stored = Stored {
            meta: meta.clone(),
            data: snapshot,
        };
        self.save(&stored)?;
        m.applied = meta.last_log_id;
        m.membership = meta.last_membership.clone();
        m.snapshot = Some(stored);
        self.view.send_replace(m.state.view(m.applied));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<RaftTypes, Vec<u8>>>, io::Error> {
        let m = self.inner.lock().await;
        Ok(m.snapshot
            .clone()
            .map(|s| SnapshotOf::<RaftTypes, Vec<u8>> {
                meta: s.meta,
                snapshot: s.data,
            }))
    }
}

impl<S: GroupState> RaftSnapshotBuilder<RaftTypes> for StateStore<S> {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<RaftTypes, Vec<u8>>, io::Error> {
        let mut m = self.inner.lock().await;
        let stored = Stored {
            meta: SnapshotMetaOf::<RaftTypes> {
                last_log_id: m.applied,
                last_membership: m.membership.clone(),
            },
            data: m.state.encode(),
        };
        self.save(&stored)?;
        m.snapshot = Some(stored.clone());
        Ok(SnapshotOf::<RaftTypes, Vec<u8>> {
            meta: stored.meta,
            snapshot: stored.data,
        })
    }
}

impl Stored {
    fn encode(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut w = Writer::new(&mut buf);
        w.i8(1);
        entry_codec::snapshot_meta_to_wire(&self.meta).encode(&mut w);
        w.bytes(&self.data);
        buf.to_vec()
    }

    fn decode(bytes: &[u8]) -> rill_protocol::Result<Stored> {
        let mut r = Reader::new(bytes, SNAPSHOT_FILE);
        let version = r.i8("version")?;
        if version != 1 {
            return Err(rill_protocol::Error::Invalid {
                what: "snapshot version",
                detail: format!("{version} is not 1"),
            });
        }
        let meta = entry_codec::snapshot_meta_from_wire(&SnapshotMeta::decode(&mut r)?)?;
        let data = r.bytes("state")?.to_vec();
        r.finish()?;
        Ok(Stored { meta, data })
    }
}
