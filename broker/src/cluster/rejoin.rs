//! Keeps a group member that started with an empty log from voting until it
//! has caught up, so a broker that lost its disk cannot help elect a leader
//! that lacks committed entries.
//!
//! Raft's safety rests on each voter remembering its log. A broker whose data
//! directory was wiped comes back with an empty log (and no memory of its
//! votes); were it to vote at once, a candidate missing an entry committed on
//! {itself before the wipe, one other} could win with its vote and overwrite
//! the entry. So a member that starts with an empty log is *rejoining*:
//! - until a leader has reached it, it grants votes only to candidates whose log
//!   is empty too, past the initial membership entry at index 0 (the first
//!   election of a new group, when every member starts empty);
//! - it notes the commit log id `c` that the first leader it hears from
//!   reports, and from then on grants votes only to candidates whose last log
//!   id is at least `c`. Such a candidate holds every entry committed up to `c`
//!   (its last entry came from a leader of term `c.term` or later, and every
//!   such leader holds them), and `c` covers every entry committed before this
//!   member lost its log;
//! - once its own log reaches `c`'s index it is a member again and votes as
//!   Raft says.
//!
//! A member that starts with entries in its log is a member from the start.
//! What this does not cover: a rejoining member whose first leader is a stale
//! one (cut off from the majority, its commit behind), together with a second
//! fault before the true leader reaches it. docs/REPLICATION.md says this under
//! "Disk wiped on one broker".

use std::sync::Mutex;

use super::types::LogId;
use crate::locks::lock;

/// Whether a member may vote yet.
#[derive(Debug)]
pub struct Rejoin {
    state: Mutex<State>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Votes as Raft says.
    Member,
    /// Started empty; catches up to `target` (once a leader named it) before
    /// voting as Raft says.
    Rejoining { target: Option<LogId> },
}

impl Rejoin {
    /// A member that started with an empty log (`empty`), or one that did not.
    pub fn new(empty: bool) -> Rejoin {
        let state = if empty {
            State::Rejoining { target: None }
        } else {
            State::Member
        };
        Rejoin {
            state: Mutex::new(state),
        }
    }

    /// Whether the member is still catching up.
    pub fn is_rejoining(&self) -> bool {
        *lock(&self.state) != State::Member
    }

    /// Whether the member may grant its vote to a candidate whose last log id
    /// is `candidate_last` (`None`: an empty log).
    pub fn may_vote(&self, candidate_last: Option<&LogId>) -> bool {
        match &*lock(&self.state) {
            State::Member => true,
            State::Rejoining { target: None } => candidate_last.is_none_or(|l| l.index == 0),
            State::Rejoining { target: Some(t) } => candidate_last.is_some_and(|l| l >= t),
        }
    }

    /// A leader's entries were accepted; it reported `leader_commit` as its
    /// commit log id (`None`: nothing committed yet).
    pub fn heard(&self, leader_commit: Option<LogId>) {
        let mut state = lock(&self.state);
        if let State::Rejoining { target: None } = *state {
            *state = State::Rejoining {
                target: Some(leader_commit.unwrap_or_else(|| LogId::new_term_index(0, 0))),
            };
        }
    }

    /// The member's log now ends at index `last_index`; returns `true` when
    /// that makes it a member again.
    pub fn progressed(&self, last_index: Option<u64>) -> bool {
        let mut state = lock(&self.state);
        match (&*state, last_index) {
            (State::Rejoining { target: Some(t) }, Some(last)) if last >= t.index => {
                *state = State::Member;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(term: u64, index: u64) -> LogId {
        LogId::new_term_index(term, index)
    }

    #[test]
    fn a_member_with_a_log_votes_from_the_start() {
        let r = Rejoin::new(false);
        assert!(!r.is_rejoining());
        assert!(r.may_vote(Some(&id(3, 40))));
        assert!(r.may_vote(None));
    }

    #[test]
    fn an_empty_member_votes_only_for_candidates_holding_the_commit() {
        let r = Rejoin::new(true);
        assert!(r.may_vote(None), "a new group's first election");
        assert!(
            r.may_vote(Some(&id(0, 0))),
            "only the initial membership entry"
        );
        assert!(
            !r.may_vote(Some(&id(4, 12))),
            "a candidate of an existing group"
        );
        // Entries before any leader named a target change nothing.
        assert!(!r.progressed(Some(3)));
        r.heard(Some(id(5, 20)));
        // A later leader's higher commit does not move the target.
        r.heard(Some(id(6, 90)));
        assert!(!r.may_vote(Some(&id(5, 19))), "behind the commit");
        assert!(
            !r.may_vote(Some(&id(4, 30))),
            "an older term, though longer"
        );
        assert!(!r.may_vote(None));
        assert!(r.may_vote(Some(&id(5, 20))));
        assert!(r.may_vote(Some(&id(7, 3))), "a later term holds the commit");
        assert!(!r.progressed(Some(19)));
        assert!(r.progressed(Some(20)));
        assert!(!r.is_rejoining());
        assert!(r.may_vote(Some(&id(4, 30))), "a member votes as Raft says");
        assert!(!r.progressed(Some(30)), "becomes a member once");
    }
}
