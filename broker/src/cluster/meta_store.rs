//! The metadata group's state machine: a [`StateStore`] over [`MetaState`].
//!
//! A command that does not decode is answered with a refusal and changes
//! nothing, on every broker alike; the rest of the broker watches [`MetaView`].

use std::io;
use std::sync::Arc;

use openraft::EntryPayload;

use super::metadata::{MetaCommand, MetaReply, MetaState};
use super::state_store::{GroupState, StateStore};
use super::types::{Applied, LogId, RaftTypes};

/// The metadata group's state machine.
pub type MetaStore = StateStore<MetaState>;

/// What the rest of the broker sees of the metadata: the state after the last
/// applied entry, and that entry's index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetaView {
    /// The metadata.
    pub state: MetaState,
    /// Index of the last entry applied, if any.
    pub applied_index: Option<u64>,
}

impl GroupState for MetaState {
    type View = Arc<MetaView>;

    fn apply(
        &mut self,
        entry: &<RaftTypes as openraft::RaftTypeConfig>::Entry,
    ) -> io::Result<Applied> {
        Ok(match &entry.payload {
            EntryPayload::Blank | EntryPayload::Membership(_) => Applied::Nothing,
            EntryPayload::Normal(data) => Applied::Metadata(match MetaCommand::decode(&data.0) {
                Ok(command) => MetaState::apply(self, &command),
                Err(e) => MetaReply::Refused {
                    reason: format!("the command does not decode: {e}"),
                },
            }),
        })
    }

    fn encode(&self) -> Vec<u8> {
        MetaState::encode(self)
    }

    fn restore(&mut self, data: &[u8]) -> io::Result<()> {
        *self = MetaState::decode(data)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(())
    }

    fn view(&self, applied: Option<LogId>) -> Arc<MetaView> {
        Arc::new(MetaView {
            state: self.clone(),
            applied_index: applied.map(|id| id.index),
        })
    }
}
