//! The record batch: Rill's unit of production, storage and consumption.
//!
//! A batch is laid out field for field like Apache Kafka's RecordBatch v2 (same order,
//! widths and record encoding) with two differences: the magic byte is Rill's own
//! ([`MAGIC`]) and the checksum is CRC-32 (IEEE, as computed by `crc32fast`) rather
//! than CRC-32C. A Kafka-wire gateway can therefore convert a batch by re-stamping
//! the magic and the CRC without re-encoding any record.
//!
//! All fixed-width integers are big-endian.
//!
//! ```text
//! offset size field
//!      0    8 base_offset          i64   offset of the first record (stamped by the broker)
//!      8    4 length               i32   bytes that follow this field
//!     12    4 leader_epoch         i32   (stamped by the broker)
//!     16    1 magic                i8    = MAGIC
//!     17    4 crc                  u32   CRC-32 of bytes 21..end
//!     21    2 attributes           i16   bits 0-2 compression (0 none, 1 gzip, 2 snappy,
//!                                        3 lz4, 4 zstd: see [`Compression`]), 3 timestamp type,
//!                                        4 transactional, 5 control, 6 delete horizon
//!     23    4 last_offset_delta    i32   offset of the last record minus base_offset
//!     27    8 first_timestamp      i64   timestamp of the first record (ms since epoch)
//!     35    8 max_timestamp        i64   largest record timestamp
//!     43    8 producer_id          i64   -1 when not idempotent
//!     51    2 producer_epoch       i16
//!     53    4 base_sequence        i32
//!     57    4 record_count         i32
//!     61    … records
//! ```
//!
//! Each record is encoded with zigzag varints ([`crate::varint`]):
//!
//! ```text
//! length varint | attributes i8 | timestamp_delta varlong | offset_delta varint |
//! key_len varint (-1 = null) | key | value_len varint (-1 = null) | value |
//! header_count varint | { key_len varint | key (UTF-8) | value_len varint | value }*
//! ```
//!
//! In a compressed batch everything after `record_count` is the records
//! compressed as one block; the header stays as drawn.
//!
//! The CRC does not cover `base_offset`, `length` or `leader_epoch`, so the broker
//! assigns offsets by rewriting them in place ([`stamp_base_offset`]).
//!
//! Invariants of a batch that passed [`RecordBatch::validate`]: the length field
//! matches the bytes, the magic and CRC are right, every record parses and together
//! they fill the batch exactly, offset deltas strictly increase within
//! `0..=last_offset_delta`, and no record is newer than `max_timestamp`. A batch from
//! a producer also passes [`RecordBatch::validate_produced`]: deltas are exactly
//! `0..count` and `max_timestamp` is the newest record's.

mod builder;
mod checked;
mod compression;
mod header;
mod layout;
mod record;
mod validate;
mod view;

pub use builder::BatchBuilder;
pub use checked::CheckedBatch;
pub use compression::Compression;
pub use header::{BatchHeader, ProducerInfo};
pub use layout::{
    stamp_base_offset, stamp_leader_epoch, BATCH_HEADER_LEN, COMPRESSION_MASK, CONTROL_BIT,
    DEFINED_ATTRIBUTES, LOG_OVERHEAD, MAGIC, TIMESTAMP_TYPE_BIT,
};
pub use record::{Header, Headers, Record, Records};
pub use view::{RecordBatch, MAX_DECOMPRESSED_BYTES};
