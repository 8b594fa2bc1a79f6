//! The one error type of `rill-protocol`.
//!
//! Every variant names what was wrong with the input and, where there is one, what is
//! allowed, so a broker can hand the message straight back to a client.

/// Why a piece of wire data was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input ended before a field was complete.
    #[error("truncated {what}: needed {needed} bytes, only {available} available")]
    Truncated {
        /// The field or structure being read.
        what: &'static str,
        /// Bytes required to finish it.
        needed: usize,
        /// Bytes that were available.
        available: usize,
    },
    /// The batch's length field disagrees with the bytes it came in.
    #[error("batch length field says {declared} bytes follow it, but {actual} do")]
    LengthMismatch {
        /// Value of the length field.
        declared: i64,
        /// Bytes that actually follow the length field.
        actual: usize,
    },
    /// The magic (format version) byte is not Rill's.
    #[error("unsupported batch magic {found}: only {expected} (Rill batch format v1) is allowed")]
    BadMagic {
        /// The magic byte found.
        found: i8,
        /// The magic byte this crate speaks.
        expected: i8,
    },
    /// The stored CRC does not match the bytes it covers.
    #[error("batch CRC mismatch: header says {stored:#010x}, content hashes to {computed:#010x}")]
    CrcMismatch {
        /// CRC carried in the header.
        stored: u32,
        /// CRC computed over the batch.
        computed: u32,
    },
    /// The attributes name a compression codec Rill does not implement.
    #[error(
        "unsupported compression codec {codec}: allowed are 0 (none), 1 (gzip), 2 (snappy), \
         3 (lz4) and 4 (zstd)"
    )]
    UnsupportedCompression {
        /// The codec id from the attribute bits 0..=2.
        codec: u8,
    },
    /// A codec name that is not one of Rill's.
    #[error("unknown compression {name:?}: allowed are none, gzip, snappy, lz4 and zstd")]
    UnknownCompression {
        /// The name given.
        name: String,
    },
    /// A compressed batch's records do not decompress.
    #[error("{codec} records do not decompress: {detail}")]
    Decompress {
        /// The codec's name.
        codec: &'static str,
        /// What the decoder said.
        detail: String,
    },
    /// A compressed batch's records decompress to more than the reader allows.
    #[error("{codec} records decompress to more than {max} bytes, the most allowed")]
    DecompressedTooLarge {
        /// The codec's name.
        codec: &'static str,
        /// The bound that was passed.
        max: usize,
    },
    /// Attribute bits that no version of the format defines are set.
    #[error("undefined batch attribute bits set: {bits:#06x} (allowed: bits 0-6)")]
    UnknownAttributes {
        /// The undefined bits that were set.
        bits: u16,
    },
    /// The record count in the header is impossible or disagrees with the records.
    #[error("batch declares {declared} records but {found}")]
    RecordCountMismatch {
        /// Count from the header.
        declared: i32,
        /// What parsing actually found, in words.
        found: String,
    },
    /// A record's offset delta is not strictly greater than the previous one, or is
    /// out of the batch's range.
    #[error("record {index} has offset delta {delta}; expected {expected}")]
    OffsetDelta {
        /// Index of the record in the batch.
        index: usize,
        /// The delta it carries.
        delta: i32,
        /// What was allowed at that position.
        expected: String,
    },
    /// The header's last offset delta disagrees with the records.
    #[error("batch last offset delta is {declared} but its records need {expected}")]
    LastOffsetDelta {
        /// Value in the header.
        declared: i32,
        /// What the records require.
        expected: String,
    },
    /// The header's max timestamp is not the largest record timestamp.
    #[error("batch max timestamp is {declared} but its largest record timestamp is {actual}")]
    MaxTimestamp {
        /// Value in the header.
        declared: i64,
        /// Largest record timestamp.
        actual: i64,
    },
    /// A field holds a value outside its allowed range.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What was found and what is allowed.
        detail: String,
    },
    /// Bytes were left over after a message was fully decoded.
    #[error("{count} unexpected bytes after the end of {what}")]
    TrailingBytes {
        /// The message that ended early.
        what: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// A request names an API this broker does not implement.
    #[error("unknown api key {key}")]
    UnknownApiKey {
        /// The api key from the request header.
        key: i16,
    },
    /// A request asks for a version of an API this broker does not implement.
    #[error("unsupported version {version} of {api}: supported versions are {min}..={max}")]
    UnsupportedVersion {
        /// The API's name.
        api: &'static str,
        /// The requested version.
        version: i16,
        /// Oldest supported version.
        min: i16,
        /// Newest supported version.
        max: i16,
    },
    /// A frame's length prefix exceeds the configured maximum.
    #[error("frame of {size} bytes exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// The length the prefix announced.
        size: u64,
        /// The configured maximum.
        max: usize,
    },
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
