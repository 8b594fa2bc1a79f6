//! MetaPropose (cluster key 1003): a broker that does not lead the metadata
//! group hands a command to the broker that does, which proposes it and answers
//! once it is committed and applied.
//!
//! ```text
//! MetaProposeRequest v0
//!   command        bytes    a metadata command (docs/REPLICATION.md)
//!
//! MetaProposeResponse v0
//!   error_code, error_message        (outcome.rs): 5 LEADER_NOT_AVAILABLE when
//!                                    the receiver does not lead the group (ask
//!                                    again, of the leader); 2 CORRUPT_MESSAGE
//!                                    when the command does not decode
//!   reply          bytes    what applying the command answered
//! ```

use bytes::{Bytes, BytesMut};

use super::outcome::Answer;
use crate::wire::{Reader, Writer};
use crate::Result;

/// A command for the metadata group's leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProposeRequest {
    /// The encoded command.
    pub command: Bytes,
}

/// The encoded answer of the applied command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposeAnswer {
    /// What applying the command answered, encoded.
    pub reply: Bytes,
}

impl MetaProposeRequest {
    /// Appends the body.
    pub fn encode(&self, buf: &mut BytesMut) {
        Writer::new(buf).bytes(&self.command);
    }

    /// Decodes a body.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body, "MetaPropose request");
        let command = Bytes::copy_from_slice(r.bytes("command")?);
        r.finish()?;
        Ok(MetaProposeRequest { command })
    }
}

impl Answer for ProposeAnswer {
    const NAME: &'static str = "MetaPropose response";

    fn encode(&self, w: &mut Writer<'_>) {
        w.bytes(&self.reply);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(ProposeAnswer {
            reply: Bytes::copy_from_slice(r.bytes("reply")?),
        })
    }
}
