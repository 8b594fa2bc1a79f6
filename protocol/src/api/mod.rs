//! The APIs of the Rill wire protocol: keys, versions and one module per request
//! type, each with its request and response and a pure `encode`/`decode`.
//!
//! Api keys use Apache Kafka's numbers for the same operations, so traces read
//! familiarly; the bodies are Rill's own (see `docs/PROTOCOL.md`).

pub mod api_versions;
pub mod create_topics;
pub mod delete_topics;
pub mod fetch;
pub mod list_offsets;
pub mod metadata;
pub mod produce;

use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// One partition's entry in a message keyed by topic and partition (Produce, Fetch,
/// ListOffsets and their responses).
pub trait PartitionEntry: Sized {
    /// Smallest encoding of one entry, used to bound array counts before allocating.
    const MIN_BYTES: usize;
    /// Appends the entry.
    fn encode(&self, w: &mut Writer<'_>);
    /// Decodes one entry.
    fn decode(r: &mut Reader<'_>) -> Result<Self>;
}

/// Entries grouped by topic:
///
/// ```text
/// array< name string, partitions array<P> >
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicEntries<P> {
    /// Topic name.
    pub name: String,
    /// One entry per partition.
    pub partitions: Vec<P>,
}

impl<P: PartitionEntry> TopicEntries<P> {
    /// Appends `topics` as an array.
    pub fn encode_all(topics: &[Self], w: &mut Writer<'_>) {
        w.array_of(topics, |w, t| {
            w.string(&t.name)
                .array_of(&t.partitions, |w, p| p.encode(w));
        });
    }

    /// Decodes an array of topics.
    pub fn decode_all(r: &mut Reader<'_>) -> Result<Vec<Self>> {
        r.array_of("topics", 6, |r| {
            Ok(TopicEntries {
                name: r.string("topic name")?,
                partitions: r.array_of("partitions", P::MIN_BYTES, P::decode)?,
            })
        })
    }
}

/// Identifies an API in a request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKey {
    /// Append record batches to partitions.
    Produce,
    /// Read record batches from partitions (long-poll).
    Fetch,
    /// Look up offsets: earliest, latest, or by timestamp.
    ListOffsets,
    /// Describe topics and their partitions.
    Metadata,
    /// List the APIs and versions the broker supports.
    ApiVersions,
    /// Create topics.
    CreateTopics,
    /// Delete topics.
    DeleteTopics,
}

impl ApiKey {
    /// Every API, in key order.
    pub const ALL: [ApiKey; 7] = [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::Metadata,
        ApiKey::ApiVersions,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
    ];

    /// The number on the wire.
    pub fn code(self) -> i16 {
        match self {
            ApiKey::Produce => 0,
            ApiKey::Fetch => 1,
            ApiKey::ListOffsets => 2,
            ApiKey::Metadata => 3,
            ApiKey::ApiVersions => 18,
            ApiKey::CreateTopics => 19,
            ApiKey::DeleteTopics => 20,
        }
    }

    /// The API for a wire number.
    pub fn from_code(code: i16) -> Result<ApiKey> {
        ApiKey::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .ok_or(Error::UnknownApiKey { key: code })
    }

    /// The API's name, as in docs and errors.
    pub fn name(self) -> &'static str {
        match self {
            ApiKey::Produce => "Produce",
            ApiKey::Fetch => "Fetch",
            ApiKey::ListOffsets => "ListOffsets",
            ApiKey::Metadata => "Metadata",
            ApiKey::ApiVersions => "ApiVersions",
            ApiKey::CreateTopics => "CreateTopics",
            ApiKey::DeleteTopics => "DeleteTopics",
        }
    }

    /// Oldest and newest supported versions.
    pub fn versions(self) -> (i16, i16) {
        (0, 0)
    }

    /// Fails unless `version` is supported for this API.
    pub fn check_version(self, version: i16) -> Result<()> {
        let (min, max) = self.versions();
        if (min..=max).contains(&version) {
            Ok(())
        } else {
            Err(Error::UnsupportedVersion {
                api: self.name(),
                version,
                min,
                max,
            })
        }
    }
}
