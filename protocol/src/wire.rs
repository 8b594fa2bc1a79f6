//! Primitive wire types shared by every request and response.
//!
//! All integers are big-endian. Strings and byte strings carry a length prefix:
//!
//! ```text
//! int8/int16/int32/int64   fixed width, two's complement, big-endian
//! string                   int16 length N >= 0, then N bytes of UTF-8
//! nullable_string          int16 length, -1 = null, else as string
//! bytes                    int32 length N >= 0, then N bytes
//! nullable_bytes           int32 length, -1 = null, else as bytes
//! array<T>                 int32 count N >= 0, then N elements
//! nullable array<T>        int32 count, -1 = null, else as array<T>
//! ```
//!
//! [`Reader`] decodes these from a borrowed slice with every length checked against
//! what remains, so a lying length can never cause a panic or an allocation larger
//! than the input. Encoding appends to a `BytesMut` through [`Writer`].

use bytes::{BufMut, Bytes, BytesMut};

use crate::{Error, Result};

/// Whether `part` lies inside `whole`'s memory (so `slice_ref` accepts it).
fn contains(whole: &Bytes, part: &[u8]) -> bool {
    let start = whole.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    at >= start && at + part.len() <= start + whole.len()
}

/// A cursor over a message being decoded.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
    /// The buffer `buf` lies in, when the caller has it as `Bytes`: then
    /// [`Reader::shared_bytes`] hands out slices of it instead of copies.
    source: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    /// Reads `buf`, naming it `what` in errors.
    pub fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader {
            buf,
            what,
            source: None,
        }
    }

    /// Reads `buf`, which lies inside `source`, so that byte strings can be
    /// shared with it rather than copied (see [`Reader::shared_bytes`]).
    pub fn within(source: &'a Bytes, buf: &'a [u8], what: &'static str) -> Self {
        Reader {
            buf,
            what,
            source: Some(source),
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fails unless every byte was read.
    pub fn finish(self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingBytes {
                what: self.what,
                count: self.buf.len(),
            })
        }
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Truncated {
                what: field,
                needed: n,
                available: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    /// An int8.
    pub fn i8(&mut self, field: &'static str) -> Result<i8> {
        Ok(i8::from_be_bytes(self.array(field)?))
    }

    /// An int16.
    pub fn i16(&mut self, field: &'static str) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array(field)?))
    }

    /// An int32.
    pub fn i32(&mut self, field: &'static str) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    /// An int64.
    pub fn i64(&mut self, field: &'static str) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    /// A non-null string.
    pub fn string(&mut self, field: &'static str) -> Result<String> {
        self.nullable_string(field)?.ok_or(Error::Invalid {
            what: field,
            detail: "null where a string is required".to_string(),
        })
    }

    /// A string that may be null (length -1).
    pub fn nullable_string(&mut self, field: &'static str) -> Result<Option<String>> {
        let len = self.i16(field)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| Error::Invalid {
            what: field,
            detail: format!("string length {len} is below -1"),
        })?;
        let bytes = self.take(len, field)?;
        let s = std::str::from_utf8(bytes).map_err(|e| Error::Invalid {
            what: field,
            detail: format!("not UTF-8: {e}"),
        })?;
        Ok(Some(s.to_string()))
    }

    /// A byte string that may be null (length -1), borrowed from the input.
    pub fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<&'a [u8]>> {
        let len = self.i32(field)?;
        if len == -1 {
            return Ok(None);
        }
        let len = usize::try_from(len).map_err(|_| Error::Invalid {
            what: field,
            detail: format!("bytes length {len} is below -1"),
        })?;
        self.take(len, field).map(Some)
    }

    /// A non-null byte string, borrowed from the input.
    pub fn bytes(&mut self, field: &'static str) -> Result<&'a [u8]> {
        self.nullable_bytes(field)?.ok_or(Error::Invalid {
            what: field,
            detail: "null where bytes are required".to_string(),
        })
    }

    /// A non-null byte string as `Bytes`: a slice of the source buffer, without a
    /// copy, when the reader was made with [`Reader::within`]; a copy otherwise.
    pub fn shared_bytes(&mut self, field: &'static str) -> Result<Bytes> {
        let b = self.bytes(field)?;
        Ok(match self.source {
            Some(source) if contains(source, b) => source.slice_ref(b),
            _ => Bytes::copy_from_slice(b),
        })
    }

    /// An array: reads the count, then calls `element` that many times. The count
    /// is checked against the remaining input (each element takes at least
    /// `min_element_bytes`) before anything is allocated.
    pub fn array_of<T>(
        &mut self,
        field: &'static str,
        min_element_bytes: usize,
        element: impl FnMut(&mut Reader<'a>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let count = self.i32(field)?;
        let count = usize::try_from(count).map_err(|_| Error::Invalid {
            what: field,
            detail: format!("array count {count} is negative"),
        })?;
        self.elements(field, count, min_element_bytes, element)
    }

    /// An array that may be null (count -1): as [`Reader::array_of`], with the same
    /// bound on the count before anything is allocated. A count below -1 is invalid.
    pub fn nullable_array_of<T>(
        &mut self,
        field: &'static str,
        min_element_bytes: usize,
        element: impl FnMut(&mut Reader<'a>) -> Result<T>,
    ) -> Result<Option<Vec<T>>> {
        let count = self.i32(field)?;
        if count == -1 {
            return Ok(None);
        }
        let count = usize::try_from(count).map_err(|_| Error::Invalid {
            what: field,
            detail: format!("array count {count} is below -1"),
        })?;
        self.elements(field, count, min_element_bytes, element)
            .map(Some)
    }

    /// `count` elements, after checking they can fit in what remains.
    fn elements<T>(
        &mut self,
        field: &'static str,
        count: usize,
        min_element_bytes: usize,
        mut element: impl FnMut(&mut Reader<'a>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let fits = count
            .checked_mul(min_element_bytes.max(1))
            .is_some_and(|n| n <= self.buf.len());
        if !fits {
            return Err(Error::Truncated {
                what: field,
                needed: count.saturating_mul(min_element_bytes.max(1)),
                available: self.buf.len(),
            });
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(element(self)?);
        }
        Ok(out)
    }
}

/// Appends wire primitives to a buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut BytesMut,
}

impl<'a> Writer<'a> {
    /// Writes to the end of `buf`.
    pub fn new(buf: &'a mut BytesMut) -> Self {
        Writer { buf }
    }

    /// An int8.
    pub fn i8(&mut self, v: i8) -> &mut Self {
        self.buf.put_i8(v);
        self
    }

    /// An int16.
    pub fn i16(&mut self, v: i16) -> &mut Self {
        self.buf.put_i16(v);
        self
    }

    /// An int32.
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.put_i32(v);
        self
    }

    /// An int64.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.put_i64(v);
        self
    }

    /// A string; longer than `i16::MAX` bytes is cut at a character boundary (the
    /// codec's callers validate names long before that).
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.nullable_string(Some(s))
    }

    /// A string or null.
    pub fn nullable_string(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            None => self.i16(-1),
            Some(s) => {
                let mut end = s.len().min(i16::MAX as usize);
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                self.i16(end as i16);
                self.buf.put_slice(&s.as_bytes()[..end]);
                self
            }
        }
    }

    /// A byte string or null.
    pub fn nullable_bytes(&mut self, b: Option<&[u8]>) -> &mut Self {
        match b {
            None => self.i32(-1),
            Some(b) => {
                self.i32(b.len() as i32);
                self.buf.put_slice(b);
                self
            }
        }
    }

    /// Bytes as they are, without a length prefix.
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.put_slice(b);
        self
    }

    /// Bytes in the buffer so far (including any it held before this writer).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// A byte string.
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.nullable_bytes(Some(b))
    }

    /// An array: the count, then `element` for each item.
    pub fn array_of<T>(
        &mut self,
        items: &[T],
        mut element: impl FnMut(&mut Self, &T),
    ) -> &mut Self {
        self.i32(items.len() as i32);
        for item in items {
            element(self, item);
        }
        self
    }

    /// An array or null (count -1).
    pub fn nullable_array_of<T>(
        &mut self,
        items: Option<&[T]>,
        element: impl FnMut(&mut Self, &T),
    ) -> &mut Self {
        match items {
            None => self.i32(-1),
            Some(items) => self.array_of(items, element),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(buf: &[u8]) -> Result<Option<Vec<i32>>> {
        let mut r = Reader::new(buf, "test");
        let out = r.nullable_array_of("items", 4, |r| r.i32("item"))?;
        r.finish()?;
        Ok(out)
    }

    #[test]
    fn nullable_arrays_keep_null_apart_from_empty() {
        for items in [None, Some(vec![]), Some(vec![1, -7, i32::MAX])] {
            let mut buf = BytesMut::new();
            Writer::new(&mut buf).nullable_array_of(items.as_deref(), |w, v| {
                w.i32(*v);
            });
            assert_eq!(decode(&buf), Ok(items.clone()));
            for cut in 0..buf.len() {
                assert!(decode(&buf[..cut]).is_err(), "prefix {cut} of {items:?}");
            }
        }
    }

    #[test]
    fn nullable_arrays_reject_counts_below_null_and_lying_counts() {
        let err = decode(&(-2i32).to_be_bytes()).expect_err("count -2");
        assert!(err.to_string().contains("below -1"), "{err}");
        let mut huge = BytesMut::new();
        Writer::new(&mut huge).i32(i32::MAX).i32(5);
        assert!(matches!(decode(&huge), Err(Error::Truncated { .. })));
    }
}
