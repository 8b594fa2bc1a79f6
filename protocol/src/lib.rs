//! Rill's wire formats.
//!
//! This crate is a pure codec: it turns bytes into typed values and back, and never
//! performs I/O. Its central type is the record batch ([`batch`]), which is the unit a
//! producer sends, the broker stores byte for byte, and a consumer reads back. The
//! storage crate depends on this one for the batch layout so the two can never drift.

pub mod batch;
mod error;
pub mod varint;

pub use batch::{
    BatchBuilder, BatchHeader, Header, ProducerInfo, Record, RecordBatch, Records,
    BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC,
};
pub use error::Error;

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
