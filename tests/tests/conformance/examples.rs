//! The spec's own hex examples (PROTOCOL.md §6, STORAGE.md §3's worked batch):
//! this test's builders must produce exactly those bytes and its readers must
//! read them, and the §6 Produce request, sent as printed to a fresh topic "t",
//! must get exactly the §6 response.

use crate::api_admin::{create_topic, metadata};
use crate::batch;
use crate::conn::Conn;
use crate::spec::{section, PROTOCOL_MD, STORAGE_MD};
use crate::wire::{request, response_header, ResponseHeader, Writer};

/// The hex blocks of a section: (the paragraph just before the block, its bytes). A
/// line's bytes are its leading two-digit hex tokens; with `skip_first`, after a
/// leading offset column.
fn hex_blocks(text: &str, skip_first: bool) -> Vec<(String, Vec<u8>)> {
    let mut blocks = Vec::new();
    let mut intro = String::new();
    let mut current: Option<Vec<u8>> = None;
    let mut after_blank = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(bytes) => blocks.push((intro.clone(), bytes)),
                None => current = Some(Vec::new()),
            }
            continue;
        }
        match current.as_mut() {
            Some(bytes) => {
                let tokens = line.split_whitespace().skip(usize::from(skip_first));
                let hex =
                    tokens.take_while(|t| t.len() == 2 && t.chars().all(|c| c.is_ascii_hexdigit()));
                bytes.extend(hex.map(|t| u8::from_str_radix(t, 16).expect("two hex digits")));
            }
            None if line.trim().is_empty() => after_blank = true,
            None => {
                if std::mem::take(&mut after_blank) {
                    intro.clear();
                }
                intro.push_str(line.trim());
                intro.push(' ');
            }
        }
    }
    blocks
}

fn example<'a>(blocks: &'a [(String, Vec<u8>)], intro: &str) -> &'a [u8] {
    blocks
        .iter()
        .find(|(text, _)| text.starts_with(intro))
        .map(|(_, bytes)| bytes.as_slice())
        .unwrap_or_else(|| panic!("§6 has no example introduced by {intro:?}"))
}

/// The body of a frame, checking its length prefix.
fn unframe(bytes: &[u8]) -> &[u8] {
    let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    assert_eq!(len as usize, bytes.len() - 4, "the example's length prefix");
    &bytes[4..]
}

/// The examples agree with the builders and readers, and the broker answers the
/// §6 Produce exactly as §6 shows.
pub async fn example_cases(conn: &mut Conn) {
    let worked = hex_blocks(section(STORAGE_MD, "### Worked example"), true);
    let printed = batch::simple(1_700_000_000_000, "k", "v");
    assert_eq!(worked[0].1, printed, "STORAGE.md §3's worked batch");

    let s6 = hex_blocks(section(PROTOCOL_MD, "## 6."), false);
    let api_versions = request(18, 0, 1, Some("cli"), &[]);
    assert_eq!(example(&s6, "ApiVersions request"), api_versions);
    let topics = Writer::new()
        .array(&["t"], |w, t| {
            w.string(t);
        })
        .finish();
    assert_eq!(
        example(&s6, "Metadata request"),
        request(3, 0, 2, None, &topics)
    );
    let produce_body = Writer::new()
        .i16(1)
        .i32(1000)
        .array(&["t"], |w, t| {
            w.string(t).array(&[0], |w, p| {
                w.i32(*p).bytes(&printed);
            });
        })
        .finish();
    let produce = example(&s6, "Produce, acks 1");
    assert_eq!(produce, request(0, 0, 3, None, &produce_body));

    let (header, mut r) = response_header(unframe(example(&s6, "Its response, listing")));
    assert_eq!(
        header,
        ResponseHeader {
            correlation_id: 1,
            error_code: 0,
            error_message: None
        }
    );
    assert_eq!(r.i16("error_code"), 0);
    let keys = r.array("api_keys", |r| {
        (r.i16("api_key"), r.i16("min"), r.i16("max"))
    });
    assert_eq!(keys, [(0, 0, 0)]);
    r.end();
    let (header, rest) = response_header(unframe(example(&s6, "A request refused")));
    assert_eq!((header.correlation_id, header.error_code), (4, 35));
    assert_eq!(header.error_message.as_deref(), Some("v9"));
    rest.end();

    // Sent as printed, to a new one-partition topic "t".
    create_topic(conn, "t", 1, &[]).await;
    assert_eq!(metadata(conn, &["t"]).await.topics[0].partitions.len(), 1);
    conn.send(produce).await;
    let answer = conn.recv().await;
    let expected = example(&s6, "Its response, base offset 0");
    assert_eq!(
        answer,
        unframe(expected),
        "the broker's answer to §6's Produce"
    );
}
