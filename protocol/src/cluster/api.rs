//! The inter-broker api keys. They are valid only on the cluster listener; the
//! client listener does not know them (`crate::api::ApiKey::from_code` refuses
//! them), so a client cannot reach a Raft group.

use crate::{Error, Result};

/// An inter-broker API. Every one is at version 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClusterApiKey {
    /// A vote or pre-vote request of a candidate.
    RaftVote,
    /// Entries (or a heartbeat) from a group's leader.
    RaftAppend,
    /// A whole snapshot from a group's leader to a follower too far behind.
    RaftSnapshot,
    /// A metadata command for the metadata group's leader to propose.
    MetaPropose,
}

impl ClusterApiKey {
    /// Every inter-broker API.
    pub const ALL: [ClusterApiKey; 4] = [
        ClusterApiKey::RaftVote,
        ClusterApiKey::RaftAppend,
        ClusterApiKey::RaftSnapshot,
        ClusterApiKey::MetaPropose,
    ];

    /// The number in request headers.
    pub fn code(self) -> i16 {
        match self {
            ClusterApiKey::RaftVote => 1000,
            ClusterApiKey::RaftAppend => 1001,
            ClusterApiKey::RaftSnapshot => 1002,
            ClusterApiKey::MetaPropose => 1003,
        }
    }

    /// The API a request header names, or [`Error::UnknownApiKey`].
    pub fn from_code(code: i16) -> Result<ClusterApiKey> {
        ClusterApiKey::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .ok_or(Error::UnknownApiKey { key: code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiKey;

    #[test]
    fn keys_round_trip_and_the_client_listener_does_not_know_them() {
        for key in ClusterApiKey::ALL {
            assert_eq!(ClusterApiKey::from_code(key.code()).ok(), Some(key));
            assert!(
                ApiKey::from_code(key.code()).is_err(),
                "{key:?} is a client api"
            );
        }
        assert!(ClusterApiKey::from_code(0).is_err());
    }
}
