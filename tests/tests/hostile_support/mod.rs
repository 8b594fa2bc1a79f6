//! Shared by the `broker_hostile*.rs` tests. [`Fixture`] (in `fixture.rs`) is what
//! every hostile case runs in: an [`EmbeddedBroker`] with a topic whose log must stay
//! untouched, the "is the broker unharmed?" check every case ends with, and a watch
//! for panics on broker threads. [`Hostile`] is what the cases do with a
//! [`TestClient`] beyond the library: writes bounded by [`IO_TIMEOUT`] like every
//! read, refusals checked to the byte, and failures that name the case.
//!
//! The cases send what no well-behaved client would, so they write bytes and frame
//! bodies themselves (built with [`rill_tests::requests`]) and read raw frames.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::future::Future;
use std::io;
use std::time::Duration;

use bytes::BytesMut;
use rill_broker::embedded::EmbeddedBroker;
use rill_protocol::api::api_versions::ApiVersionsRequest;
use rill_protocol::api::list_offsets::{ListOffsetsPartitionResponse, LATEST_TIMESTAMP};
use rill_protocol::api::produce::ProducePartitionResponse;
use rill_protocol::api::ApiKey;
use rill_protocol::header::{RequestHeader, ResponseHeader};
use rill_protocol::message::{RequestBody, ResponseBody};
use rill_protocol::{BatchBuilder, ErrorCode, ProducerInfo, RecordBatch};
use rill_tests::client::TestClient;

/// Longest wait for any single read, write or connect.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// The broker's `max_frame_bytes` in these tests.
pub const MAX_FRAME: usize = 1 << 20;
/// The broker's `max_partitions_per_topic` in these tests.
pub const MAX_PARTITIONS: i32 = 16;
/// The broker's `max_fetch_wait_ms` in these tests.
pub const MAX_FETCH_WAIT_MS: u64 = 500;
/// The topic whose log every hostile case must leave untouched (2 partitions).
pub const KEEP: &str = "keep";
/// Where the health check produces, so it never touches [`KEEP`].
pub const SCRATCH: &str = "scratch";
/// Records seeded into `KEEP/0`: batches of 1, 2 and 3 records.
pub const SEEDED_RECORDS: i64 = 6;

mod fixture;
pub use fixture::Fixture;

/// Unwraps a client result, failing the test with the case and the error.
pub trait OrFail<T> {
    /// The value, or a panic saying `what` failed and why.
    fn or_fail(self, what: &str) -> T;
}

impl<T> OrFail<T> for io::Result<T> {
    #[track_caller]
    fn or_fail(self, what: &str) -> T {
        self.unwrap_or_else(|e| panic!("{what}: {e}"))
    }
}

/// `write`, failing with `TimedOut` if it takes longer than [`IO_TIMEOUT`] (the
/// broker stopped reading without closing).
pub async fn within(write: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    match tokio::time::timeout(IO_TIMEOUT, write).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "write stalled: the broker stopped reading without closing",
        )),
    }
}

/// Opens a connection to `broker` whose reads give up after [`IO_TIMEOUT`].
pub async fn connect(broker: &EmbeddedBroker) -> TestClient {
    let mut conn = tokio::time::timeout(IO_TIMEOUT, TestClient::connect(broker.addr()))
        .await
        .expect("connect within the timeout")
        .expect("connect to the broker");
    conn.set_timeout(IO_TIMEOUT);
    conn
}

/// What hostile cases do with a connection, on top of [`TestClient`]. Every
/// method fails the test (naming `what`) rather than returning an error, except
/// the writes: the broker may rightly have closed before a write.
pub trait Hostile {
    /// Writes `bytes` as they are, within [`IO_TIMEOUT`].
    async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Writes a length prefix and `body`, within [`IO_TIMEOUT`].
    async fn write_frame(&mut self, body: &[u8]) -> io::Result<()>;
    /// Sends a request frame body and expects a response header carrying `code`, a
    /// message and no body (a request refused as a whole), on an open connection.
    async fn expect_refused(&mut self, body: &[u8], code: ErrorCode, what: &str);
    /// Sends ApiVersions and checks the answer: proves the connection is usable.
    async fn assert_usable(&mut self, what: &str);
    /// Produces `records` to one partition with acks 1; returns its outcome.
    async fn produce_acked(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[u8],
        what: &str,
    ) -> ProducePartitionResponse;
    /// ListOffsets "latest" for one partition.
    async fn latest(
        &mut self,
        topic: &str,
        partition: i32,
        what: &str,
    ) -> ListOffsetsPartitionResponse;
    /// Whether Metadata knows the topic `name`.
    async fn topic_exists(&mut self, name: &str, what: &str) -> bool;
}

impl Hostile for TestClient {
    async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        within(self.send_raw(bytes)).await
    }

    async fn write_frame(&mut self, body: &[u8]) -> io::Result<()> {
        within(self.send_frame(body)).await
    }

    async fn expect_refused(&mut self, body: &[u8], code: ErrorCode, what: &str) {
        let correlation_id =
            RequestHeader::peek_correlation_id(body).expect("the test request has a header");
        self.write_frame(body)
            .await
            .unwrap_or_else(|e| panic!("{what}: sending the request failed: {e}"));
        let frame = self.recv_frame().await.or_fail(what);
        let (header, rest) = ResponseHeader::decode(&frame)
            .unwrap_or_else(|e| panic!("{what}: undecodable response header: {e}"));
        assert_eq!(
            header.correlation_id, correlation_id,
            "{what}: correlation id"
        );
        assert_eq!(
            header.error_code, code,
            "{what}: response header error code (message {:?})",
            header.error_message
        );
        assert!(
            header
                .error_message
                .as_deref()
                .is_some_and(|m| !m.is_empty()),
            "{what}: a refused request carries a message saying why"
        );
        assert!(
            rest.is_empty(),
            "{what}: a refused request has an empty body, got {} bytes",
            rest.len()
        );
    }

    async fn assert_usable(&mut self, what: &str) {
        let body = RequestBody::ApiVersions(ApiVersionsRequest);
        match self.call(body).await.or_fail(what) {
            ResponseBody::ApiVersions(r) => {
                assert_eq!(r.error_code, ErrorCode::None, "{what}: ApiVersions error");
                assert!(
                    r.api_keys
                        .iter()
                        .any(|k| k.api_key == ApiKey::Produce.code()),
                    "{what}: ApiVersions lists Produce"
                );
            }
            other => panic!("{what}: ApiVersions answered with {other:?}"),
        }
    }

    async fn produce_acked(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[u8],
        what: &str,
    ) -> ProducePartitionResponse {
        self.produce(topic, partition, records, 1)
            .await
            .or_fail(what)
            .unwrap_or_else(|| panic!("{what}: no answer to a Produce with acks 1"))
    }

    async fn latest(
        &mut self,
        topic: &str,
        partition: i32,
        what: &str,
    ) -> ListOffsetsPartitionResponse {
        self.list_offsets(topic, partition, LATEST_TIMESTAMP)
            .await
            .or_fail(what)
    }

    async fn topic_exists(&mut self, name: &str, what: &str) -> bool {
        let metadata = self.metadata(&[name]).await.or_fail(what);
        let topic = metadata
            .topics
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{what}: Metadata must answer for {name:?}"));
        match topic.error_code {
            ErrorCode::None => true,
            ErrorCode::UnknownTopicOrPartition => false,
            other => panic!("{what}: Metadata for {name:?} gave {other:?}"),
        }
    }
}

/// `body` with its u32 big-endian length in front.
pub fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The body alone (no header) of a request, at its API's newest version.
pub fn body_bytes(body: &RequestBody) -> Vec<u8> {
    let mut buf = BytesMut::new();
    body.encode(body.api_key().versions().1, &mut buf);
    buf.to_vec()
}

/// A valid batch of `count` records whose keys and values mention `tag`.
pub fn honest_batch(tag: &str, count: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(ProducerInfo::NONE);
    for i in 0..count {
        let value = format!("{tag}-value-{i}");
        b.push(
            1_700_000_000_000 + i as i64,
            Some(tag.as_bytes()),
            Some(value.as_bytes()),
            &[("h", Some(b"v"))],
        );
    }
    b.finish()
}

/// Recomputes the CRC after a test edited bytes it covers, so that only the
/// intended lie remains.
pub fn fix_crc(batch: &mut [u8]) {
    let crc = RecordBatch::new(batch)
        .expect("the batch's length field still matches its bytes")
        .compute_crc();
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}
