//! Rill's wire formats.
//!
//! This crate is a pure codec: it turns bytes into typed values and back, and never
//! performs I/O. Its central type is the record batch ([`batch`]), which is the unit a
//! producer sends, the broker stores byte for byte, and a consumer reads back. The
//! storage crate depends on this one for the batch layout so the two can never drift.
//!
//! On top of the batch sit the request/response messages of the Rill protocol
//! ([`api`], one module per API, each a pure `encode`/`decode`), their headers
//! ([`header`]), primitives ([`wire`]), a tokio-util codec for framing ([`frame`])
//! and frames sent in shared pieces ([`pieces`]).
//! `docs/PROTOCOL.md` is the specification.

pub mod api;
pub mod batch;
pub mod cluster;
mod error;
pub mod error_code;
pub mod frame;
pub mod header;
pub mod message;
pub mod pieces;
#[cfg(test)]
mod testing;
pub mod varint;
pub mod versioned;
pub mod wire;

pub use batch::{
    BatchBuilder, BatchHeader, CheckedBatch, Compression, Header, ProducerInfo, Record,
    RecordBatch, Records, BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC,
};
pub use error::{Error, Result};
pub use error_code::ErrorCode;
