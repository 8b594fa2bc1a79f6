//! `rill produce TOPIC`: one record per line of standard input.
//!
//! Lines are bytes: a value need not be UTF-8, and `--key-separator` splits a line
//! at the first occurrence of the separator's bytes. A line (without its `\n` or
//! `\r\n`) may be as long as the producer's largest record; no more of a longer one
//! is read into memory.
//!
//! Lines are read on a plain thread (standard input is blocking) and handed over a
//! bounded channel in chunks, so a fast pipe cannot run ahead of the producer's own
//! backpressure. Records are enqueued without waiting for each acknowledgement;
//! the command waits for all of them at the end.
//!
//! On the first failure (unreadable input, a line too long or without the key
//! separator, a record the producer or the broker refuses) the command reads no
//! further, waits for the records already enqueued, and prints one line
//! `rill: line N: ...` with the number of records written, exit status 1.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, IsTerminal, Read};

use clap::Args;
use rill_client::{Admin, Compression, Delivery, Producer, ProducerConfig};
use tokio::sync::mpsc;

use crate::error::{Error, Result};

/// Deliveries awaited before more are enqueued (bounds their memory).
const MAX_PENDING: usize = 10_000;
/// A chunk of lines is handed over once it holds this many lines...
const CHUNK_LINES: usize = 1024;
/// ...or this many bytes, or when the reader would wait for more input.
const CHUNK_BYTES: usize = 256 * 1024;
/// Chunks read ahead of the producer.
const CHUNKS_QUEUED: usize = 8;

/// Flags of `rill produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to write to.
    topic: String,
    /// Split each line at the first SEP into key and value (a line without SEP is
    /// an error).
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// Compress each batch: none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none", value_name = "CODEC")]
    compression: Compression,
}

/// One line of input, as the reader thread hands it over.
#[derive(Debug)]
enum Input {
    /// The line's bytes, without the line ending.
    Line(Vec<u8>),
    /// The line is longer than the limit; reading stopped there.
    TooLong,
    /// Reading failed; reading stopped there.
    Failed(std::io::Error),
}

/// How [`read_line`] ended.
#[derive(Debug, PartialEq, Eq)]
enum LineEnd {
    /// A line was read.
    Line,
    /// The line is longer than the limit; the rest of it was not read.
    TooLong,
    /// The input has ended.
    Eof,
}

/// Runs `rill produce` against `broker`: every line of standard input becomes a
/// record, and every record is acknowledged before it returns.
pub async fn run(broker: &str, args: ProduceArgs) -> Result<()> {
    if args.key_separator.as_deref() == Some("") {
        return Err(Error::InvalidArgument(
            "--key-separator must not be empty".into(),
        ));
    }
    // Fail fast, before reading any input, on a wrong address or a missing topic.
    Admin::connect(broker)
        .await?
        .describe_topic(&args.topic)
        .await?;
    let config = ProducerConfig::new()
        .client_id("rill-cli")
        .compression(args.compression);
    let producer = Producer::connect(broker, config).await?;
    let limit = producer.max_record_bytes();
    let (tx, mut chunks) = mpsc::channel::<Vec<Input>>(CHUNKS_QUEUED);
    std::thread::spawn(move || read_input(std::io::stdin().lock(), limit, &tx));

    let mut pending: VecDeque<(u64, Delivery)> = VecDeque::new();
    let mut line_number: u64 = 0;
    let mut written: u64 = 0;
    let mut failure: Option<(u64, String)> = None;
    'input: while let Some(chunk) = chunks.recv().await {
        for input in chunk {
            line_number += 1;
            let enqueued = match input {
                Input::Line(line) => enqueue(&producer, &args, &line).await,
                Input::TooLong => Err(format!("longer than the largest record, {limit} bytes")),
                Input::Failed(e) => Err(format!("cannot read standard input: {e}")),
            };
            match enqueued {
                Ok(delivery) => pending.push_back((line_number, delivery)),
                Err(what) => {
                    failure = Some((line_number, what));
                    break 'input;
                }
            }
            if pending.len() >= MAX_PENDING {
                if let Some((number, delivery)) = pending.pop_front() {
                    match delivery.await {
                        Ok(_) => written += 1,
                        Err(e) => {
                            failure = Some((number, e.to_string()));
                            break 'input;
                        }
                    }
                }
            }
        }
    }
    drop(chunks);
    // Whatever stopped the input, what was enqueued is sent and waited for.
    let flushed = producer.flush().await;
    for (number, delivery) in pending {
        match delivery.await {
            Ok(_) => written += 1,
            Err(e) => {
                if failure.as_ref().is_none_or(|(first, _)| number < *first) {
                    failure = Some((number, e.to_string()));
                }
            }
        }
    }
    let closed = producer.close().await;
    if let Some((number, what)) = failure {
        let records = if written == 1 { "record" } else { "records" };
        eprintln!("rill: line {number}: {what} ({written} {records} written)");
        // The one-line message is out and the producer closed: nothing is left
        // to clean up.
        std::process::exit(1);
    }
    flushed?;
    closed?;
    if std::io::stderr().is_terminal() {
        eprintln!("produced {written} records to {}", args.topic);
    }
    Ok(())
}

/// Enqueues one line as a record, split into key and value with the separator if
/// one was given; on failure says why.
async fn enqueue(
    producer: &Producer,
    args: &ProduceArgs,
    line: &[u8],
) -> std::result::Result<Delivery, String> {
    let (key, value) = match &args.key_separator {
        None => (None, line),
        Some(sep) => match split_once(line, sep.as_bytes()) {
            Some((key, value)) => (Some(key), value),
            None => return Err(format!("no key separator {sep:?}")),
        },
    };
    producer
        .enqueue(&args.topic, key, Some(value), &[])
        .await
        .map_err(|e| e.to_string())
}

/// `line` split around the first occurrence of `sep` (not empty).
fn split_once<'a>(line: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = line.windows(sep.len()).position(|w| w == sep)?;
    Some((&line[..at], &line[at + sep.len()..]))
}

/// Reads lines of at most `limit` bytes from `input` and sends them to `tx` in
/// chunks, until the input ends, a line is too long, reading fails, or the
/// receiver is gone. A chunk goes out before the reader waits for more input, so
/// lines typed by hand are sent at once.
fn read_input(input: impl Read, limit: usize, tx: &mpsc::Sender<Vec<Input>>) {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut chunk = Vec::new();
    let mut bytes = 0;
    loop {
        let full = chunk.len() >= CHUNK_LINES || bytes >= CHUNK_BYTES;
        if !chunk.is_empty() && (full || reader.buffer().is_empty()) {
            if tx.blocking_send(std::mem::take(&mut chunk)).is_err() {
                return;
            }
            bytes = 0;
        }
        let mut line = Vec::new();
        let input = match read_line(&mut reader, limit, &mut line) {
            Ok(LineEnd::Eof) => break,
            Ok(LineEnd::Line) => {
                bytes += line.len();
                Input::Line(line)
            }
            Ok(LineEnd::TooLong) => Input::TooLong,
            Err(e) => Input::Failed(e),
        };
        let last = !matches!(input, Input::Line(_));
        chunk.push(input);
        if last {
            break;
        }
    }
    if !chunk.is_empty() {
        let _ = tx.blocking_send(chunk);
    }
}

/// Reads one line into `line`, without its `\n` or `\r\n`. Holds at most `limit`
/// bytes of it (plus the line ending): a longer line is [`LineEnd::TooLong`] and
/// the rest of it stays unread.
fn read_line(
    reader: &mut impl BufRead,
    limit: usize,
    line: &mut Vec<u8>,
) -> std::io::Result<LineEnd> {
    line.clear();
    let room = limit.saturating_add(2);
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            if line.is_empty() {
                return Ok(LineEnd::Eof);
            }
            break;
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let take = newline.map_or(available.len(), |at| at + 1);
        if line.len() + take > room {
            return Ok(LineEnd::TooLong);
        }
        line.extend_from_slice(&available[..take]);
        reader.consume(take);
        if newline.is_some() {
            break;
        }
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.len() > limit {
        return Ok(LineEnd::TooLong);
    }
    Ok(LineEnd::Line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of `text` read with `limit`.
    fn lines(text: &[u8], limit: usize) -> Vec<std::result::Result<Vec<u8>, LineEnd>> {
        let mut reader = BufReader::with_capacity(4, text);
        let mut out = Vec::new();
        let mut line = Vec::new();
        loop {
            match read_line(&mut reader, limit, &mut line) {
                Ok(LineEnd::Line) => out.push(Ok(line.clone())),
                Ok(LineEnd::Eof) => return out,
                Ok(other) => {
                    out.push(Err(other));
                    return out;
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn lines_are_bytes_without_their_endings() {
        let got = lines(b"a\r\nbc\n\xff\xfe\n\nlast", 10);
        let want: Vec<std::result::Result<Vec<u8>, LineEnd>> = vec![
            Ok(b"a".to_vec()),
            Ok(b"bc".to_vec()),
            Ok(b"\xff\xfe".to_vec()),
            Ok(Vec::new()),
            Ok(b"last".to_vec()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn a_line_longer_than_the_limit_stops_the_reading() {
        assert_eq!(lines(b"12345\r\n", 5), vec![Ok(b"12345".to_vec())]);
        assert_eq!(
            lines(b"1234\n123456\n12\n", 5),
            vec![Ok(b"1234".to_vec()), Err(LineEnd::TooLong)]
        );
        assert_eq!(lines(b"123456", 5), vec![Err(LineEnd::TooLong)]);
        // Only about the limit is held, however long the line.
        let long = vec![b'x'; 1 << 20];
        let mut reader = BufReader::with_capacity(64, &long[..]);
        let mut line = Vec::new();
        let end = read_line(&mut reader, 100, &mut line).expect("read");
        assert_eq!(end, LineEnd::TooLong);
        assert!(line.len() <= 102, "{}", line.len());
    }

    #[test]
    fn keys_split_at_the_first_separator() {
        assert_eq!(
            split_once(b"k::v::w", b"::"),
            Some((&b"k"[..], &b"v::w"[..]))
        );
        assert_eq!(
            split_once(b"\xffk:\xfe", b":"),
            Some((&b"\xffk"[..], &b"\xfe"[..]))
        );
        assert_eq!(split_once(b"kv", b":"), None);
        assert_eq!(split_once(b"", b":"), None);
    }
}
