//! A Raft group's vote and purged mark on disk: the file `raft-state` in the
//! group's directory, replaced atomically (write, fsync, rename) whenever either
//! changes. A change is visible in memory only once it is durable, so a vote is
//! on disk before it is answered.
//!
//! ```text
//! version int8 (1)
//! vote    int8 present | term int64 | voted_for int64 | committed int8
//! purged  int8 present | term int64 | index int64
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::BytesMut;
use openraft::type_config::alias::VoteOf;
use rill_protocol::wire::{Reader, Writer};

use super::types::{LogId, RaftTypes};
use crate::locks::lock;

/// The file holding the vote and the purged mark.
pub const STATE_FILE: &str = "raft-state";

type Vote = VoteOf<RaftTypes>;

/// A group's vote and purged mark, as durable as the file that holds them.
pub struct RaftState {
    dir: PathBuf,
    state: Mutex<Persisted>,
}

/// What `raft-state` holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Persisted {
    vote: Option<Vote>,
    purged: Option<LogId>,
}

impl RaftState {
    /// Reads `raft-state` in `dir`; nothing voted or purged if there is none.
    pub fn open(dir: &Path) -> io::Result<RaftState> {
        let path = dir.join(STATE_FILE);
        let state = match std::fs::read(&path) {
            Ok(bytes) => Persisted::decode(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Persisted::default(),
            Err(e) => return Err(e),
        };
        Ok(RaftState {
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
        })
    }

    /// The last vote saved.
    pub fn vote(&self) -> Option<Vote> {
        lock(&self.state).vote
    }

    /// The last purged entry's id.
    pub fn purged(&self) -> Option<LogId> {
        lock(&self.state).purged
    }

    /// The index after the last purged entry (0 when nothing was purged).
    pub fn purged_to(&self) -> u64 {
        self.purged().map_or(0, |p| p.index + 1)
    }

    /// Saves `vote`, durably, before it is visible.
    pub fn save_vote(&self, vote: Vote) -> io::Result<()> {
        self.update(|state| state.vote = Some(vote))
    }

    /// Saves the purged mark, durably, before it is visible.
    pub fn save_purged(&self, purged: LogId) -> io::Result<()> {
        self.update(|state| state.purged = Some(purged))
    }

    fn update(&self, change: impl FnOnce(&mut Persisted)) -> io::Result<()> {
        let mut state = lock(&self.state);
        let mut next = state.clone();
        change(&mut next);
        rill_storage::write_file_atomically(&self.dir, STATE_FILE, &next.encode())
            .map_err(io::Error::other)?;
        *state = next;
        Ok(())
    }
}

impl Persisted {
    fn encode(&self) -> Vec<u8> {
        let mut buf = BytesMut::new();
        let mut w = Writer::new(&mut buf);
        w.i8(1);
        match &self.vote {
            Some(v) => {
                w.i8(1)
                    .i64(v.leader_id.term as i64)
                    .i64(v.leader_id.voted_for as i64)
                    .i8(i8::from(v.committed));
            }
            None => {
                w.i8(0);
            }
        }
        match &self.purged {
            Some(id) => {
                w.i8(1).i64(id.leader_id.term as i64).i64(id.index as i64);
            }
            None => {
                w.i8(0);
            }
        }
        buf.to_vec()
    }

    fn decode(bytes: &[u8]) -> rill_protocol::Result<Persisted> {
        let mut r = Reader::new(bytes, STATE_FILE);
        let version = r.i8("version")?;
        if version != 1 {
            return Err(rill_protocol::Error::Invalid {
                what: "raft-state version",
                detail: format!("{version} is not 1"),
            });
        }
        let vote = match r.i8("vote present")? {
            0 => None,
            _ => {
                let term = r.i64("vote term")? as u64;
                let node = r.i64("voted for")? as u64;
                let committed = r.i8("vote committed")? != 0;
                Some(if committed {
                    Vote::new_committed(term, node)
                } else {
                    Vote::new(term, node)
                })
            }
        };
        let purged = match r.i8("purged present")? {
            0 => None,
            _ => {
                let term = r.i64("purged term")? as u64;
                let index = r.i64("purged index")? as u64;
                Some(openraft::LogId::new_term_index(term, index))
            }
        };
        r.finish()?;
        Ok(Persisted { vote, purged })
    }
}
