//! docs/PROTOCOL.md §5.5–5.8 by hand: Produce, Fetch, ListOffsets and
//! InitProducerId, each request laid out and each response read field by field.

use crate::conn::Conn;
use crate::wire::{Reader, Status, Writer};

/// Produce's api_key.
pub const PRODUCE: i16 = 0;
/// Fetch's api_key.
pub const FETCH: i16 = 1;
/// ListOffsets' api_key.
pub const LIST_OFFSETS: i16 = 2;
/// InitProducerId's api_key.
pub const INIT_PRODUCER_ID: i16 = 22;

/// Produce's topics: name, then (partition, records) entries.
pub type ProduceTopics<'a> = [(&'a str, Vec<(i32, Vec<u8>)>)];

/// ProduceRequest v0's body, timeout 5000 ms.
pub fn produce_body(acks: i16, topics: &ProduceTopics<'_>) -> Vec<u8> {
    Writer::new()
        .i16(acks)
        .i32(5000)
        .array(topics, |w, (name, partitions)| {
            w.string(name).array(partitions, |w, (p, records)| {
                w.i32(*p).bytes(records);
            });
        })
        .finish()
}

/// A ProduceResponse partition.
#[derive(Debug, Clone)]
pub struct Produced {
    /// The topic's name.
    pub topic: String,
    /// partition.
    pub partition: i32,
    /// error_code and error_message.
    pub status: Status,
    /// base_offset.
    pub base_offset: i64,
    /// log_append_time_ms.
    pub log_append_time_ms: i64,
    /// log_start_offset.
    pub log_start_offset: i64,
}

/// Produce (acks 1 or −1; acks 0 gets no answer); the partitions in answer order.
pub async fn produce(conn: &mut Conn, acks: i16, topics: &ProduceTopics<'_>) -> Vec<Produced> {
    let answer = conn.call(PRODUCE, &produce_body(acks, topics)).await;
    let mut r = Reader::new(&answer, "ProduceResponse");
    let topics = r.array("topics", |r| {
        let name = r.string("name");
        r.array("partitions", |r| Produced {
            topic: name.clone(),
            partition: r.i32("partition"),
            status: r.status(),
            base_offset: r.i64("base_offset"),
            log_append_time_ms: r.i64("log_append_time_ms"),
            log_start_offset: r.i64("log_start_offset"),
        })
    });
    r.end();
    topics.into_iter().flatten().collect()
}

/// Produces one batch to one partition with acks 1.
pub async fn produce_one(conn: &mut Conn, topic: &str, partition: i32, batch: &[u8]) -> Produced {
    let mut answers = produce(conn, 1, &[(topic, vec![(partition, batch.to_vec())])]).await;
    assert_eq!(answers.len(), 1, "one partition asked, one answered");
    let answer = answers.remove(0);
    assert_eq!(
        (answer.topic.as_str(), answer.partition),
        (topic, partition)
    );
    answer
}

/// Fetch's topics: name, then (partition, fetch_offset, partition_max_bytes).
pub type FetchTopics<'a> = [(&'a str, Vec<(i32, i64, i32)>)];

/// FetchRequest v0's body.
pub fn fetch_body(
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
    topics: &FetchTopics<'_>,
) -> Vec<u8> {
    Writer::new()
        .i32(max_wait_ms)
        .i32(min_bytes)
        .i32(max_bytes)
        .array(topics, |w, (name, partitions)| {
            w.string(name).array(partitions, |w, (p, offset, max)| {
                w.i32(*p).i64(*offset).i32(*max);
            });
        })
        .finish()
}

/// A FetchResponse partition.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The topic's name.
    pub topic: String,
    /// partition.
    pub partition: i32,
    /// error_code and error_message.
    pub status: Status,
    /// high_watermark.
    pub high_watermark: i64,
    /// log_start_offset.
    pub log_start_offset: i64,
    /// records.
    pub records: Vec<u8>,
}

/// Fetch with a body from [`fetch_body`]; the partitions in answer order.
pub async fn fetch(conn: &mut Conn, body: &[u8]) -> Vec<Fetched> {
    let answer = conn.call(FETCH, body).await;
    let mut r = Reader::new(&answer, "FetchResponse");
    let topics = r.array("topics", |r| {
        let name = r.string("name");
        r.array("partitions", |r| Fetched {
            topic: name.clone(),
            partition: r.i32("partition"),
            status: r.status(),
            high_watermark: r.i64("high_watermark"),
            log_start_offset: r.i64("log_start_offset"),
            records: r.bytes("records"),
        })
    });
    r.end();
    topics.into_iter().flatten().collect()
}

/// Fetches one partition from `offset` at once (max_wait 0), up to 1 MiB.
pub async fn fetch_one(conn: &mut Conn, topic: &str, partition: i32, offset: i64) -> Fetched {
    let body = fetch_body(
        0,
        0,
        1 << 20,
        &[(topic, vec![(partition, offset, 1 << 20)])],
    );
    let mut answers = fetch(conn, &body).await;
    assert_eq!(answers.len(), 1, "one partition asked, one answered");
    answers.remove(0)
}

/// A ListOffsetsResponse partition.
#[derive(Debug, Clone)]
pub struct Listed {
    /// partition.
    pub partition: i32,
    /// error_code and error_message.
    pub status: Status,
    /// timestamp.
    pub timestamp: i64,
    /// offset.
    pub offset: i64,
}

/// ListOffsetsRequest v0's body for one partition of one topic.
pub fn list_offsets_body(topic: &str, partition: i32, timestamp: i64) -> Vec<u8> {
    Writer::new()
        .array(&[topic], |w, name| {
            w.string(name)
                .array(&[(partition, timestamp)], |w, (p, t)| {
                    w.i32(*p).i64(*t);
                });
        })
        .finish()
}

/// ListOffsets for one partition of one topic.
pub async fn list_offset(conn: &mut Conn, topic: &str, partition: i32, timestamp: i64) -> Listed {
    let request = list_offsets_body(topic, partition, timestamp);
    let answer = conn.call(LIST_OFFSETS, &request).await;
    let mut r = Reader::new(&answer, "ListOffsetsResponse");
    let mut topics = r.array("topics", |r| {
        let name = r.string("name");
        let partitions = r.array("partitions", |r| Listed {
            partition: r.i32("partition"),
            status: r.status(),
            timestamp: r.i64("timestamp"),
            offset: r.i64("offset"),
        });
        (name, partitions)
    });
    r.end();
    assert_eq!(topics.len(), 1, "one topic asked, one answered");
    let (name, mut partitions) = topics.remove(0);
    assert_eq!(name, topic);
    assert_eq!(partitions.len(), 1, "one partition asked, one answered");
    let listed = partitions.remove(0);
    assert_eq!(listed.partition, partition);
    listed
}

/// An InitProducerIdResponse.
#[derive(Debug, Clone)]
pub struct ProducerIdAnswer {
    /// error_code and error_message.
    pub status: Status,
    /// producer_id.
    pub producer_id: i64,
    /// producer_epoch.
    pub producer_epoch: i16,
}

/// InitProducerId with `transactional_id`.
pub async fn init_producer_id(conn: &mut Conn, transactional_id: Option<&str>) -> ProducerIdAnswer {
    let request = Writer::new()
        .nullable_string(transactional_id)
        .i32(60_000)
        .finish();
    let answer = conn.call(INIT_PRODUCER_ID, &request).await;
    let mut r = Reader::new(&answer, "InitProducerIdResponse");
    let out = ProducerIdAnswer {
        status: r.status(),
        producer_id: r.i64("producer_id"),
        producer_epoch: r.i16("producer_epoch"),
    };
    r.end();
    out
}
