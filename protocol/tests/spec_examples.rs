//! The hex examples of docs/PROTOCOL.md §6 are real frames: each one decodes to
//! the message its caption describes and encodes back to the same bytes, so the
//! specification and the codec cannot drift apart.

use bytes::BytesMut;
use rill_protocol::api::ApiKey;
use rill_protocol::message::{Request, RequestBody, Response, ResponseBody};
use rill_protocol::{ErrorCode, RecordBatch};

const SPEC: &str = include_str!("../../docs/PROTOCOL.md");

/// The frames of §6, in order: each code block's leading hex bytes on every line
/// (the rest of a line is its annotation).
fn examples() -> Vec<Vec<u8>> {
    let section = SPEC
        .split("\n## 6.")
        .nth(1)
        .expect("PROTOCOL.md has a §6 of examples");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut frames = Vec::new();
    for (i, block) in section.split("```").enumerate() {
        if i % 2 == 0 {
            continue; // prose between code blocks
        }
        let mut bytes = Vec::new();
        for line in block.lines() {
            for word in line.split_whitespace() {
                match u8::from_str_radix(word, 16) {
                    Ok(b) if word.len() == 2 => bytes.push(b),
                    _ => break,
                }
            }
        }
        frames.push(bytes);
    }
    frames
}

/// The frame body after checking the length prefix against the bytes shown.
fn body(frame: &[u8]) -> &[u8] {
    let (len, body) = frame.split_at(4);
    let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
    assert_eq!(len, body.len(), "the length prefix counts the bytes shown");
    body
}

fn request(frame: &[u8]) -> Request {
    let request = Request::decode(body(frame)).expect("the example decodes");
    let mut again = BytesMut::new();
    request.encode(&mut again);
    assert_eq!(&again[..], body(frame), "re-encoding gives the same bytes");
    request
}

fn response(api: ApiKey, frame: &[u8]) -> Response {
    let response = Response::decode(api, 0, body(frame)).expect("the example decodes");
    let mut again = BytesMut::new();
    response.encode(0, &mut again);
    assert_eq!(&again[..], body(frame), "re-encoding gives the same bytes");
    response
}

#[test]
fn every_example_in_the_spec_decodes_and_reencodes_to_its_bytes() {
    let frames = examples();
    assert_eq!(
        frames.len(),
        6,
        "§6 has six examples; a new one needs a check here"
    );

    let versions = request(&frames[0]);
    assert_eq!(versions.header.api_key, ApiKey::ApiVersions.code());
    assert_eq!(versions.header.correlation_id, 1);
    assert_eq!(versions.header.client_id.as_deref(), Some("cli"));

    let answer = response(ApiKey::ApiVersions, &frames[1]);
    assert_eq!(answer.header.correlation_id, 1);
    let Some(ResponseBody::ApiVersions(list)) = answer.body else {
        panic!("an ApiVersions body: {answer:?}");
    };
    assert_eq!(list.api_keys.len(), 1);
    assert_eq!(list.api_keys[0].api_key, ApiKey::Produce.code());
    assert_eq!(
        (list.api_keys[0].min_version, list.api_keys[0].max_version),
        (0, 0)
    );

    let metadata = request(&frames[2]);
    assert_eq!(metadata.header.correlation_id, 2);
    assert_eq!(metadata.header.client_id, None);
    let RequestBody::Metadata(m) = metadata.body else {
        panic!("a Metadata request");
    };
    assert_eq!(m.topics, ["t"]);

    let produce = request(&frames[3]);
    assert_eq!(produce.header.correlation_id, 3);
    let RequestBody::Produce(p) = produce.body else {
        panic!("a Produce request");
    };
    assert_eq!((p.acks, p.timeout_ms), (1, 1000));
    assert_eq!(p.topics[0].name, "t");
    let records = &p.topics[0].partitions[0].records;
    assert_eq!(records.len(), 70);
    let batch = RecordBatch::new(records).expect("one whole batch");
    batch.validate_produced().expect("a valid produced batch");
    let record = batch.records().next().expect("one record").expect("parses");
    assert_eq!(record.key, Some(&b"k"[..]));
    assert_eq!(record.value, Some(&b"v"[..]));
    assert_eq!(batch.max_timestamp(), 1_700_000_000_000);

    let produced = response(ApiKey::Produce, &frames[4]);
    let Some(ResponseBody::Produce(answer)) = produced.body else {
        panic!("a Produce body");
    };
    let partition = &answer.topics[0].partitions[0];
    assert_eq!(
        (partition.error_code, partition.base_offset),
        (ErrorCode::None, 0)
    );

    let refused = response(ApiKey::Produce, &frames[5]);
    assert_eq!(refused.header.correlation_id, 4);
    assert_eq!(refused.header.error_code, ErrorCode::UnsupportedVersion);
    assert_eq!(refused.header.error_message.as_deref(), Some("v9"));
    assert_eq!(refused.body, None);
}
