//! Zero-copy decoding of the records inside a batch.
//!
//! [`Records`] walks the record section of a batch and yields [`Record`]s that borrow
//! keys, values and headers from the batch bytes; nothing is copied. Every length is
//! checked against the bytes that remain before it is used, so hostile input produces
//! an error, never a panic or an allocation.

use crate::error::{Error, Result};
use crate::varint::{get_varint, get_varlong};

/// One record, borrowed from its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Absolute offset: the batch's base offset plus the record's offset delta.
    pub offset: i64,
    /// Offset relative to the batch's base offset.
    pub offset_delta: i32,
    /// Absolute timestamp: the batch's first timestamp plus the record's delta.
    pub timestamp: i64,
    /// Record attributes (unused by the format; builders write 0, and compaction
    /// rewrites a record's attributes as 0).
    pub attributes: i8,
    /// The key, or `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value, or `None` for a null value (a tombstone in a compacted topic).
    pub value: Option<&'a [u8]>,
    /// The record's headers.
    pub headers: Headers<'a>,
}

/// One record header, borrowed from its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// Header name (UTF-8).
    pub key: &'a str,
    /// Header value, or `None` for null.
    pub value: Option<&'a [u8]>,
}

/// The headers of a record, decoded lazily.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a> {
    bytes: &'a [u8],
    remaining: i32,
}

impl<'a> Headers<'a> {
    /// Number of headers.
    pub fn len(&self) -> usize {
        self.remaining.max(0) as usize
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.remaining <= 0
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.remaining <= 0 {
            return None;
        }
        // Headers were fully parsed when the record was; this cannot fail.
        let (header, used) = parse_header(self.bytes).ok()?;
        self.bytes = &self.bytes[used..];
        self.remaining -= 1;
        Some(header)
    }
}

/// Iterator over the records of a batch.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    bytes: &'a [u8],
    first_timestamp: i64,
    base_offset: i64,
    remaining: i32,
    failed: bool,
    /// Yielded as the first item instead of any record.
    error: Option<Error>,
}

impl<'a> Records<'a> {
    pub(crate) fn new(bytes: &'a [u8], first_timestamp: i64, base_offset: i64, count: i32) -> Self {
        Records {
            bytes,
            first_timestamp,
            base_offset,
            remaining: count,
            failed: false,
            error: None,
        }
    }

    /// An iterator whose only item is `error`.
    pub(crate) fn failing(error: Error) -> Self {
        Records {
            error: Some(error),
            ..Records::new(&[], 0, 0, 0)
        }
    }

    /// Bytes not consumed by the records yielded so far.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    fn parse_next(&mut self) -> Result<Record<'a>> {
        let (len, used) = get_varint(self.bytes, "record length")?;
        let len = usize::try_from(len).map_err(|_| Error::Invalid {
            what: "record length",
            detail: format!("{len} is negative"),
        })?;
        let body = self.bytes.get(used..used + len).ok_or(Error::Truncated {
            what: "record",
            needed: used + len,
            available: self.bytes.len(),
        })?;
        let record = parse_body(body, self.first_timestamp, self.base_offset)?;
        self.bytes = &self.bytes[used + len..];
        Ok(record)
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.error.take() {
            self.failed = true;
            return Some(Err(error));
        }
        if self.failed || self.remaining <= 0 {
            return None;
        }
        self.remaining -= 1;
        let item = self.parse_next();
        self.failed = item.is_err();
        Some(item)
    }
}

/// A cursor that reads fields off the front of a slice.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn varint(&mut self, what: &'static str) -> Result<i32> {
        let (v, used) = get_varint(self.bytes, what)?;
        self.bytes = &self.bytes[used..];
        Ok(v)
    }

    fn varlong(&mut self, what: &'static str) -> Result<i64> {
        let (v, used) = get_varlong(self.bytes, what)?;
        self.bytes = &self.bytes[used..];
        Ok(v)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(Error::Truncated {
                what,
                needed: n,
                available: self.bytes.len(),
            });
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// A length-prefixed byte string where -1 means null.
    fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<&'a [u8]>> {
        match self.varint(what)? {
            -1 => Ok(None),
            n if n < -1 => Err(Error::Invalid {
                what,
                detail: format!("length {n} is below -1 (null)"),
            }),
            n => self.take(n as usize, what).map(Some),
        }
    }
}

fn parse_body(body: &[u8], first_timestamp: i64, base_offset: i64) -> Result<Record<'_>> {
    let mut c = Cursor { bytes: body };
    let attributes = c.take(1, "record attributes")?[0] as i8;
    let timestamp_delta = c.varlong("record timestamp delta")?;
    let offset_delta = c.varint("record offset delta")?;
    let key = c.nullable_bytes("record key")?;
    let value = c.nullable_bytes("record value")?;
    let header_count = c.varint("record header count")?;
    if header_count < 0 {
        return Err(Error::Invalid {
            what: "record header count",
            detail: format!("{header_count} is negative"),
        });
    }
    let headers_start = c.bytes;
    for _ in 0..header_count {
        let (_, used) = parse_header(c.bytes)?;
        c.bytes = &c.bytes[used..];
    }
    if !c.bytes.is_empty() {
        return Err(Error::Invalid {
            what: "record length",
            detail: format!(
                "{} bytes left over after the record's fields",
                c.bytes.len()
            ),
        });
    }
    let timestamp = first_timestamp
        .checked_add(timestamp_delta)
        .ok_or_else(|| Error::Invalid {
            what: "record timestamp delta",
            detail: format!("{timestamp_delta} overflows the batch's first timestamp"),
        })?;
    Ok(Record {
        offset: base_offset.wrapping_add(i64::from(offset_delta)),
        offset_delta,
        timestamp,
        attributes,
        key,
        value,
        headers: Headers {
            bytes: headers_start,
            remaining: header_count,
        },
    })
}

fn parse_header(bytes: &[u8]) -> Result<(Header<'_>, usize)> {
    let mut c = Cursor { bytes };
    let key_len = c.varint("header key length")?;
    if key_len < 0 {
        return Err(Error::Invalid {
            what: "header key length",
            detail: format!("{key_len} is negative; header keys cannot be null"),
        });
    }
    let key = c.take(key_len as usize, "header key")?;
    let key = std::str::from_utf8(key).map_err(|e| Error::Invalid {
        what: "header key",
        detail: format!("not UTF-8: {e}"),
    })?;
    let value = c.nullable_bytes("header value")?;
    Ok((Header { key, value }, bytes.len() - c.bytes.len()))
}
