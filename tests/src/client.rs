//! A small async client for end-to-end tests: one TCP connection speaking the Rill
//! protocol through [`FrameCodec`], with nothing hidden.
//!
//! [`TestClient::send`] is one request and its response. For pipelining,
//! [`TestClient::queue`] encodes requests into a write buffer, [`TestClient::flush`]
//! writes them all at once, and [`TestClient::recv`] reads the answers one by one.
//! [`TestClient::send_frame`] and [`TestClient::recv_frame`] work on raw frame
//! bodies, for tests that send what no well-behaved client would;
//! [`TestClient::recv_frame_or_close`], [`TestClient::expect_closed`] and
//! [`TestClient::recv_until_closed`] are for tests that expect the broker to hang
//! up on them. The request builders live in [`crate::requests`]. The typed helpers
//! (`create_topic`, `produce`, `fetch`, ...) address one topic or partition and
//! return its entry of the response; every call fails with an [`io::Error`] (never a
//! panic) when the broker answers with something unexpected, and every read gives up
//! after [`TestClient::set_timeout`] so a broken broker fails a test instead of
//! hanging it.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rill_protocol::api::create_topics::TopicResult;
use rill_protocol::api::delete_topics::DeleteTopicsRequest;
use rill_protocol::api::fetch::FetchPartitionResponse;
use rill_protocol::api::list_offsets::ListOffsetsPartitionResponse;
use rill_protocol::api::metadata::{MetadataRequest, MetadataResponse};
use rill_protocol::api::produce::ProducePartitionResponse;
use rill_protocol::api::{ApiKey, TopicEntries};
use rill_protocol::frame::FrameCodec;
use rill_protocol::message::{RequestBody, Response, ResponseBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

use crate::requests::encode_request;
pub use crate::requests::{
    create_topics_request, fetch_request, list_offsets_request, produce_request, CLIENT_ID,
};

/// Largest response frame the client accepts.
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// One connection to a broker.
#[derive(Debug)]
pub struct TestClient {
    stream: TcpStream,
    codec: FrameCodec,
    read_buf: BytesMut,
    write_buf: BytesMut,
    next_correlation_id: i32,
    timeout: Duration,
}

/// An `InvalidData` error with `msg`.
fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl TestClient {
    /// Connects to `addr`.
    pub async fn connect(addr: std::net::SocketAddr) -> io::Result<TestClient> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(TestClient {
            stream,
            codec: FrameCodec::new(MAX_RESPONSE_BYTES),
            read_buf: BytesMut::with_capacity(64 * 1024),
            write_buf: BytesMut::new(),
            next_correlation_id: 1,
            timeout: Duration::from_secs(10),
        })
    }

    /// Sets how long a read waits for the broker before failing (default 10 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Encodes `body` as a request frame into the write buffer (nothing is sent until
    /// [`TestClient::flush`]) and returns its correlation id.
    pub fn queue(&mut self, body: RequestBody) -> io::Result<i32> {
        let id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        self.codec
            .encode(Bytes::from(encode_request(id, body)), &mut self.write_buf)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(id)
    }

    /// Writes everything queued so far.
    pub async fn flush(&mut self) -> io::Result<()> {
        let buf = self.write_buf.split();
        self.stream.write_all(&buf).await?;
        self.stream.flush().await
    }

    /// Sends one frame whose body is `body` (the length prefix is added), after
    /// anything already queued.
    pub async fn send_frame(&mut self, body: &[u8]) -> io::Result<()> {
        self.codec
            .encode(Bytes::copy_from_slice(body), &mut self.write_buf)
            .map_err(|e| invalid(e.to_string()))?;
        self.flush().await
    }

    /// Writes `bytes` to the socket as they are (no length prefix).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Closes the writing half of the connection: the broker reads EOF after what
    /// was sent. Fails if the connection is already gone.
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown().await
    }

    /// Reads the next frame body. Fails with `UnexpectedEof` when the broker closed
    /// the connection and `TimedOut` when nothing arrives within the timeout.
    pub async fn recv_frame(&mut self) -> io::Result<BytesMut> {
        match self.read_frame().await? {
            Some(frame) => Ok(frame),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "broker closed the connection ({} bytes of a frame unread)",
                    self.read_buf.len()
                ),
            )),
        }
    }

    /// Reads the next frame body, or `None` when the broker closes the connection
    /// (EOF or a reset) before another frame begins, for tests that expect either.
    /// A close in the middle of a frame, nothing at all within the timeout or an
    /// unreadable length prefix is an error.
    pub async fn recv_frame_or_close(&mut self) -> io::Result<Option<BytesMut>> {
        match self.read_frame().await {
            Ok(Some(frame)) => return Ok(Some(frame)),
            Ok(None) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) => {}
            Err(e) => return Err(e),
        }
        match self.read_buf.len() {
            0 => Ok(None),
            unread => Err(invalid(format!(
                "broker closed the connection in the middle of a frame ({unread} bytes read)"
            ))),
        }
    }

    /// Expects the broker to close the connection without sending another frame;
    /// fails if a frame arrives first or the connection is still open after the
    /// timeout.
    pub async fn expect_closed(&mut self) -> io::Result<()> {
        match self.recv_frame_or_close().await? {
            None => Ok(()),
            Some(frame) => Err(invalid(format!(
                "expected the broker to close the connection, got a {}-byte frame: {:02x?}",
                frame.len(),
                &frame[..frame.len().min(64)]
            ))),
        }
    }

    /// Reads frames until the broker closes the connection and returns them; fails
    /// like [`TestClient::recv_frame_or_close`], or after 10,000 frames.
    pub async fn recv_until_closed(&mut self) -> io::Result<Vec<BytesMut>> {
        let mut frames = Vec::new();
        while let Some(frame) = self.recv_frame_or_close().await? {
            frames.push(frame);
            if frames.len() >= 10_000 {
                return Err(invalid("10,000 frames and the broker has not closed"));
            }
        }
        Ok(frames)
    }

    /// The next frame, or `None` at EOF (leaving any partial frame in `read_buf`).
    async fn read_frame(&mut self) -> io::Result<Option<BytesMut>> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(frame) = self
                .codec
                .decode(&mut self.read_buf)
                .map_err(|e| invalid(e.to_string()))?
            {
                return Ok(Some(frame));
            }
            let read = tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.read_buf))
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "nothing from the broker (no response, no close) within {:?}",
                            self.timeout
                        ),
                    )
                })??;
            if read == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads the next response, which must answer request `correlation_id` to `api`
    /// sent at the API's newest version (as [`encode_request`] sends it).
    pub async fn recv(&mut self, api: ApiKey, correlation_id: i32) -> io::Result<Response> {
        let frame = self.recv_frame().await?;
        let response = Response::decode(api, api.versions().1, &frame)
            .map_err(|e| invalid(format!("{} response: {e}", api.name())))?;
        if response.header.correlation_id != correlation_id {
            return Err(invalid(format!(
                "expected the response to request {correlation_id}, got correlation id {}",
                response.header.correlation_id
            )));
        }
        Ok(response)
    }

    /// Sends `body` and returns the broker's response (which may refuse the request
    /// in its header).
    pub async fn send(&mut self, body: RequestBody) -> io::Result<Response> {
        let api = body.api_key();
        let id = self.queue(body)?;
        self.flush().await?;
        self.recv(api, id).await
    }

    /// Sends `body` and returns the response body; a refusal in the header is an error.
    pub async fn call(&mut self, body: RequestBody) -> io::Result<ResponseBody> {
        let response = self.send(body).await?;
        match response.body {
            Some(body) => Ok(body),
            None => Err(invalid(format!(
                "request refused: {:?} {:?}",
                response.header.error_code, response.header.error_message
            ))),
        }
    }

    /// Metadata for `topics` (empty: all topics).
    pub async fn metadata(&mut self, topics: &[&str]) -> io::Result<MetadataResponse> {
        let topics = topics.iter().map(|t| t.to_string()).collect();
        match self
            .call(RequestBody::Metadata(MetadataRequest { topics }))
            .await?
        {
            ResponseBody::Metadata(m) => Ok(m),
            other => Err(invalid(format!("expected Metadata, got {other:?}"))),
        }
    }

    /// Waits (at most 30 s) until Metadata reports every partition of every topic
    /// served (error code 0): after a restart the broker opens partition logs in
    /// the background and answers LEADER_NOT_AVAILABLE for those not open yet.
    pub async fn wait_until_served(&mut self) -> io::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let m = self.metadata(&[]).await?;
            let waiting: Vec<String> = m
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .filter(|p| !p.error_code.is_ok())
                        .map(move |p| format!("{}/{} ({})", t.name, p.partition, p.error_code))
                })
                .collect();
            if waiting.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("partitions not served after 30 s: {}", waiting.join(", ")),
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Creates topic `name` with `partitions` partitions and default settings.
    pub async fn create_topic(&mut self, name: &str, partitions: i32) -> io::Result<TopicResult> {
        self.create_topic_with(name, partitions, &[]).await
    }

    /// Creates topic `name` with `partitions` partitions and the given settings.
    pub async fn create_topic_with(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &[(&str, &str)],
    ) -> io::Result<TopicResult> {
        let request = create_topics_request(&[(name, partitions)], configs);
        match self.call(request).await? {
            ResponseBody::CreateTopics(r) => only_topic(r.topics, name),
            other => Err(invalid(format!("expected CreateTopics, got {other:?}"))),
        }
    }

    /// Deletes topic `name`.
    pub async fn delete_topic(&mut self, name: &str) -> io::Result<TopicResult> {
        let request = DeleteTopicsRequest {
            topics: vec![name.to_string()],
            timeout_ms: 5000,
        };
        match self.call(RequestBody::DeleteTopics(request)).await? {
            ResponseBody::DeleteTopics(r) => only_topic(r.topics, name),
            other => Err(invalid(format!("expected DeleteTopics, got {other:?}"))),
        }
    }

    /// Sends `records` (whole batches) to one partition with `acks`. With acks 0 the
    /// broker sends no response and this returns `None` once the request is written.
    pub async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        records: &[u8],
        acks: i16,
    ) -> io::Result<Option<ProducePartitionResponse>> {
        let body = produce_request(topic, partition, records, acks);
        if acks == 0 {
            self.queue(body)?;
            self.flush().await?;
            return Ok(None);
        }
        match self.call(body).await? {
            ResponseBody::Produce(r) => only_partition(r.topics, topic, partition).map(Some),
            other => Err(invalid(format!("expected Produce, got {other:?}"))),
        }
    }

    /// Fetches one partition from `offset` (up to 1 MiB).
    pub async fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_wait_ms: i32,
        min_bytes: i32,
    ) -> io::Result<FetchPartitionResponse> {
        let body = fetch_request(topic, partition, offset, max_wait_ms, min_bytes);
        match self.call(body).await? {
            ResponseBody::Fetch(r) => only_partition(r.topics, topic, partition),
            other => Err(invalid(format!("expected Fetch, got {other:?}"))),
        }
    }

    /// Looks up an offset of one partition: `timestamp` is -2 (earliest), -1 (latest)
    /// or a time in ms.
    pub async fn list_offsets(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> io::Result<ListOffsetsPartitionResponse> {
        let body = list_offsets_request(topic, partition, timestamp);
        match self.call(body).await? {
            ResponseBody::ListOffsets(r) => only_partition(r.topics, topic, partition),
            other => Err(invalid(format!("expected ListOffsets, got {other:?}"))),
        }
    }
}

/// The single entry of a per-topic response list, which must be for `name`.
fn only_topic(mut topics: Vec<TopicResult>, name: &str) -> io::Result<TopicResult> {
    match topics.pop() {
        Some(t) if topics.is_empty() && t.name == name => Ok(t),
        other => Err(invalid(format!(
            "expected exactly one result for topic {name:?}, got {other:?} and {topics:?}"
        ))),
    }
}

/// The entry for `topic`/`partition` of a response that must hold only that one.
pub fn only_partition<P: PartitionId + std::fmt::Debug>(
    mut topics: Vec<TopicEntries<P>>,
    topic: &str,
    partition: i32,
) -> io::Result<P> {
    if let [t] = topics.as_mut_slice() {
        if t.name == topic && t.partitions.len() == 1 && t.partitions[0].partition() == partition {
            if let Some(p) = t.partitions.pop() {
                return Ok(p);
            }
        }
    }
    Err(invalid(format!(
        "expected exactly one entry for {topic}/{partition}, got {topics:?}"
    )))
}

/// A per-partition response entry, which names its partition.
pub trait PartitionId {
    /// The partition index the entry is about.
    fn partition(&self) -> i32;
}

/// Implements [`PartitionId`] for response entries with a `partition` field.
macro_rules! partition_id {
    ($($t:ty),*) => {$(
        impl PartitionId for $t {
            fn partition(&self) -> i32 {
                self.partition
            }
        }
    )*};
}

partition_id!(
    ProducePartitionResponse,
    FetchPartitionResponse,
    ListOffsetsPartitionResponse
);

/// Splits fetched `records` into whole batches, each checked with
/// [`rill_protocol::RecordBatch::validate`]; a cut or corrupt batch is an error.
pub fn split_batches(mut records: &[u8]) -> io::Result<Vec<&[u8]>> {
    let mut batches = Vec::new();
    while !records.is_empty() {
        let (batch, rest) = rill_protocol::RecordBatch::split_first(records)
            .map_err(|e| invalid(format!("fetched records: {e}")))?;
        batch
            .validate()
            .map_err(|e| invalid(format!("fetched batch: {e}")))?;
        batches.push(batch.as_bytes());
        records = rest;
    }
    Ok(batches)
}
