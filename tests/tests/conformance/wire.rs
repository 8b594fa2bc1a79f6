//! Bytes by hand, from docs/PROTOCOL.md alone: §2's primitive types written and
//! read big-endian, §1's frame and §3's request header. Nothing here knows an API;
//! the API files lay their fields out with these.
//!
//! The reader panics with the field's name and position when the bytes do not
//! hold what the spec says, and [`Reader::end`] fails on bytes left over, so a
//! response that carries a field the spec does not list is caught too.

/// Writes §2's primitive types into a growing buffer.
#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    /// An empty buffer.
    pub fn new() -> Writer {
        Writer(Vec::new())
    }

    /// int8.
    pub fn i8(&mut self, v: i8) -> &mut Writer {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// int16.
    pub fn i16(&mut self, v: i16) -> &mut Writer {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// int32.
    pub fn i32(&mut self, v: i32) -> &mut Writer {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// int64.
    pub fn i64(&mut self, v: i64) -> &mut Writer {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// string: int16 length, then the UTF-8 bytes.
    pub fn string(&mut self, s: &str) -> &mut Writer {
        let len = i16::try_from(s.len()).expect("test strings fit an int16 length");
        self.i16(len).raw(s.as_bytes())
    }

    /// nullable_string: −1 for null.
    pub fn nullable_string(&mut self, s: Option<&str>) -> &mut Writer {
        match s {
            Some(s) => self.string(s),
            None => self.i16(-1),
        }
    }

    /// bytes: int32 length, then the bytes.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Writer {
        let len = i32::try_from(b.len()).expect("test byte strings fit an int32 length");
        self.i32(len).raw(b)
    }

    /// array<T>: int32 count, then each item as `item` writes it.
    pub fn array<T>(&mut self, items: &[T], mut item: impl FnMut(&mut Writer, &T)) -> &mut Writer {
        let count = i32::try_from(items.len()).expect("test arrays fit an int32 count");
        self.i32(count);
        for i in items {
            item(self, i);
        }
        self
    }

    /// nullable array<T>: −1 for null.
    pub fn nullable_array<T>(
        &mut self,
        items: Option<&[T]>,
        item: impl FnMut(&mut Writer, &T),
    ) -> &mut Writer {
        match items {
            Some(items) => self.array(items, item),
            None => self.i32(-1),
        }
    }

    /// Bytes as they are.
    pub fn raw(&mut self, b: &[u8]) -> &mut Writer {
        self.0.extend_from_slice(b);
        self
    }

    /// The bytes written.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// A §1 frame: the body's length as a big-endian uint32, then the body.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).expect("test frames fit a uint32 length");
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// A whole request frame (§1, §3): length, then the RequestHeader (api_key,
/// api_version, correlation_id, client_id), then the api-specific `body`.
pub fn request(
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let header = Writer::new()
        .i16(api_key)
        .i16(api_version)
        .i32(correlation_id)
        .nullable_string(client_id)
        .finish();
    let mut all = header;
    all.extend_from_slice(body);
    frame(&all)
}

/// §3's ResponseHeader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The request's correlation id.
    pub correlation_id: i32,
    /// 0, or why the whole request was refused.
    pub error_code: i16,
    /// What was wrong.
    pub error_message: Option<String>,
}

/// Splits a response frame body into §3's ResponseHeader and the api-specific rest.
pub fn response_header(body: &[u8]) -> (ResponseHeader, Reader<'_>) {
    let mut r = Reader::new(body, "response");
    let header = ResponseHeader {
        correlation_id: r.i32("correlation_id"),
        error_code: r.i16("error_code"),
        error_message: r.nullable_string("error_message"),
    };
    (header, r)
}

/// An entry's `error_code` and, where the layout has one, `error_message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The code.
    pub code: i16,
    /// The message (the spec wants one with every error).
    pub message: Option<String>,
}

/// Reads §2's primitive types, checking each length against what remains.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Reads `buf`, a `what` (named in failures).
    pub fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, pos: 0, what }
    }

    fn take(&mut self, n: usize, field: &str) -> &'a [u8] {
        let rest = self.buf.len() - self.pos;
        assert!(
            n <= rest,
            "{}: field {field} needs {n} bytes at byte {}, only {rest} remain",
            self.what,
            self.pos
        );
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        out
    }

    fn fixed<const N: usize>(&mut self, field: &str) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field));
        out
    }

    /// int8.
    pub fn i8(&mut self, field: &str) -> i8 {
        i8::from_be_bytes(self.fixed(field))
    }

    /// int16.
    pub fn i16(&mut self, field: &str) -> i16 {
        i16::from_be_bytes(self.fixed(field))
    }

    /// int32.
    pub fn i32(&mut self, field: &str) -> i32 {
        i32::from_be_bytes(self.fixed(field))
    }

    /// int64.
    pub fn i64(&mut self, field: &str) -> i64 {
        i64::from_be_bytes(self.fixed(field))
    }

    /// `error_code int16` then `error_message nullable_string`.
    pub fn status(&mut self) -> Status {
        Status {
            code: self.i16("error_code"),
            message: self.nullable_string("error_message"),
        }
    }

    /// string (length ≥ 0, UTF-8).
    pub fn string(&mut self, field: &str) -> String {
        match self.nullable_string(field) {
            Some(s) => s,
            None => panic!("{}: field {field} is a string, but was null", self.what),
        }
    }

    /// nullable_string: −1 is null; below −1 breaks §2.
    pub fn nullable_string(&mut self, field: &str) -> Option<String> {
        let len = self.i16(field);
        if len == -1 {
            return None;
        }
        let len = usize::try_from(len)
            .unwrap_or_else(|_| panic!("{}: field {field} has length {len}", self.what));
        let bytes = self.take(len, field);
        Some(
            String::from_utf8(bytes.to_vec())
                .unwrap_or_else(|_| panic!("{}: field {field} is not UTF-8", self.what)),
        )
    }

    /// bytes (int32 length ≥ 0).
    pub fn bytes(&mut self, field: &str) -> Vec<u8> {
        let len = self.i32(field);
        let len = usize::try_from(len)
            .unwrap_or_else(|_| panic!("{}: field {field} has length {len}", self.what));
        self.take(len, field).to_vec()
    }

    /// array<T>: a count ≥ 0, then each item as `item` reads it.
    pub fn array<T>(&mut self, field: &str, item: impl FnMut(&mut Reader<'a>) -> T) -> Vec<T> {
        match self.nullable_array(field, item) {
            Some(items) => items,
            None => panic!("{}: field {field} is an array, but was null", self.what),
        }
    }

    /// nullable array<T>: −1 is null.
    pub fn nullable_array<T>(
        &mut self,
        field: &str,
        mut item: impl FnMut(&mut Reader<'a>) -> T,
    ) -> Option<Vec<T>> {
        let count = self.i32(field);
        if count == -1 {
            return None;
        }
        let count = usize::try_from(count)
            .unwrap_or_else(|_| panic!("{}: field {field} has count {count}", self.what));
        let rest = self.buf.len() - self.pos;
        assert!(
            count <= rest,
            "{}: field {field} counts {count} items in {rest} bytes",
            self.what
        );
        Some((0..count).map(|_| item(self)).collect())
    }

    /// The bytes not read yet.
    pub fn rest(self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Fails if any byte was left unread: the spec lists every field.
    pub fn end(self) {
        assert!(
            self.is_empty(),
            "{}: {} bytes left after the last field the spec lists",
            self.what,
            self.buf.len() - self.pos
        );
    }
}
