//! The metadata group's state machine: [`MetaState`] in memory, its snapshot on
//! disk, and a watch channel that tells the rest of the broker what changed.
//!
//! Entries are applied in log order, exactly once per process lifetime; after a
//! restart openraft applies again every committed entry after the snapshot, so the
//! state is rebuilt from `snapshot` (the last one built or installed, replaced
//! atomically) plus the log. A command that does not decode is answered with a
//! refusal and changes nothing, on every broker alike.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::BytesMut;
use futures_util::{Stream, StreamExt};
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::type_config::alias::{
    EntryPayloadOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf,
};
use openraft::EntryPayload;
use rill_protocol::cluster::SnapshotMeta;
use rill_protocol::wire::{Reader, Writer};
use tokio::sync::{watch, Mutex};

use super::entry_codec;
use super::metadata::{MetaCommand, MetaReply, MetaState};
use super::types::{Applied, LogId, RaftTypes};

/// The file holding the last snapshot.
pub const SNAPSHOT_FILE: &str = "snapshot";

/// What the rest of the broker sees of the metadata: the state after the last
/// applied entry, and that entry's index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaView {
    /// The metadata.
    pub state: MetaState,
    /// Index of the last entry applied, if any.
    pub applied_index: Option<u64>,
}

/// The state machine; cheap to clone (clones share it).
#[derive(Clone)]
pub struct MetaStore {
    inner: Arc<Mutex<Machine>>,
    dir: PathBuf,
    view: watch::Sender<Arc<MetaView>>,
}

struct Machine {
    state: MetaState,
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

impl MetaStore {
    /// Opens the state machine in `dir`, starting from the snapshot there if any.
    pub fn open(dir: &Path) -> io::Result<MetaStore> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(SNAPSHOT_FILE);
        let stored = match std::fs::read(&path) {
            Ok(bytes) => Some(Stored::decode(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let machine = match &stored {
            Some(s) => Machine {
                state: MetaState::decode(&s.data).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?,
                applied: s.meta.last_log_id,
                membership: s.meta.last_membership.clone(),
                snapshot: stored.clone(),
            },
            None => Machine {
                state: MetaState::default(),
                applied: None,
                membership: Default::default(),
                snapshot: None,
            },
        };
        let (view, _) = watch::channel(Arc::new(machine.view()));
        Ok(MetaStore {
            inner: Arc::new(Mutex::new(machine)),
            dir: dir.to_path_buf(),
            view,
        })
    }

    /// A receiver that sees the metadata after every applied batch of entries.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetaView>> {
        self.view.subscribe()
    }

    fn save(&self, stored: &Stored) -> io::Result<()> {
        rill_storage::write_file_atomically(&self.dir, SNAPSHOT_FILE, &stored.encode())
            .map_err(io::Error::other)
    }
}

impl Machine {
    fn view(&self) -> MetaView {
        MetaView {
            state: self.state.clone(),
            applied_index: self.applied.map(|id| id.index),
        }
    }

    fn apply_payload(&mut self, payload: &EntryPayloadOf<RaftTypes>) -> Applied {
        match payload {
            EntryPayload::Blank | EntryPayload::Membership(_) => Applied::Nothing,
            EntryPayload::Normal(data) => Applied::Metadata(match MetaCommand::decode(&data.0) {
                Ok(command) => self.state.apply(&command),
                Err(e) => MetaReply::Refused {
                    reason: format!("the command does not decode: {e}"),
                },
            }),
        }
    }
}

impl RaftStateMachine<RaftTypes> for MetaStore {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = MetaStore;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembershipOf<RaftTypes>), io::Error> {
        let m = self.inner.lock().await;
        Ok((m.applied, m.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> Result<(), io::Error>
    where
        S: Stream<Item = Result<EntryResponder<RaftTypes>, io::Error>> + Unpin + Send,
    {
        let mut m = self.inner.lock().await;
        while let Some(next) = entries.next().await {
            let (entry, responder) = next?;
            if let EntryPayload::Membership(membership) = &entry.payload {
                m.membership =
                    StoredMembershipOf::<RaftTypes>::new(Some(entry.log_id), membership.clone());
            }
            let answer = m.apply_payload(&entry.payload);
            m.applied = Some(entry.log_id);
            if let Some(responder) = responder {
                responder.send(answer);
            }
        }
        self.view.send_replace(Arc::new(m.view()));
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> MetaStore {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<RaftTypes>,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        let state = MetaState::decode(&snapshot)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("snapshot: {e}")))?;
        let stored = Stored {
            meta: meta.clone(),
            data: snapshot,
        };
        self.save(&stored)?;
        let mut m = self.inner.lock().await;
        m.state = state;
        m.applied = meta.last_log_id;
        m.membership = meta.last_membership.clone();
        m.snapshot = Some(stored);
        self.view.send_replace(Arc::new(m.view()));
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

impl RaftSnapshotBuilder<RaftTypes> for MetaStore {
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
    /// `snapshot` file layout: version int8 (1), the snapshot's metadata in the
    /// inter-broker encoding (docs/PROTOCOL.md), then the state as `bytes`.
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
