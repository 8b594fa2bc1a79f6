//! Zigzag variable-length integers, as in Apache Kafka's record format (and protobuf's
//! `sint32`/`sint64`).
//!
//! A value is zigzag-mapped (`0, -1, 1, -2, …` → `0, 1, 2, 3, …`) and then written
//! seven bits per byte, least significant group first, with the high bit of each byte
//! set when more bytes follow. A 32-bit varint takes at most 5 bytes and a 64-bit
//! varlong at most 10; longer encodings are rejected rather than silently wrapped.

use crate::{Error, Result};

/// Most bytes a zigzag varint (i32) can take.
pub const MAX_VARINT_LEN: usize = 5;
/// Most bytes a zigzag varlong (i64) can take.
pub const MAX_VARLONG_LEN: usize = 10;

/// Appends `value` as a zigzag varint.
pub fn put_varint(buf: &mut Vec<u8>, value: i32) {
    put_unsigned(buf, u64::from(((value << 1) ^ (value >> 31)) as u32));
}

/// Appends `value` as a zigzag varlong.
pub fn put_varlong(buf: &mut Vec<u8>, value: i64) {
    put_unsigned(buf, ((value << 1) ^ (value >> 63)) as u64);
}

/// Number of bytes [`put_varint`] writes for `value`.
pub fn varint_len(value: i32) -> usize {
    unsigned_len(u64::from(((value << 1) ^ (value >> 31)) as u32))
}

/// Number of bytes [`put_varlong`] writes for `value`.
pub fn varlong_len(value: i64) -> usize {
    unsigned_len(((value << 1) ^ (value >> 63)) as u64)
}

fn put_unsigned(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn unsigned_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.max(1).div_ceil(7)
}

/// Reads a zigzag varint from the front of `input`, returning it and the bytes used.
#[inline]
pub fn get_varint(input: &[u8], what: &'static str) -> Result<(i32, usize)> {
    let (raw, used) = get_unsigned(input, MAX_VARINT_LEN, what)?;
    let raw = u32::try_from(raw).map_err(|_| Error::Invalid {
        what,
        detail: format!("varint value {raw} does not fit in 32 bits"),
    })?;
    Ok((((raw >> 1) as i32) ^ -((raw & 1) as i32), used))
}

/// Reads a zigzag varlong from the front of `input`, returning it and the bytes used.
#[inline]
pub fn get_varlong(input: &[u8], what: &'static str) -> Result<(i64, usize)> {
    let (raw, used) = get_unsigned(input, MAX_VARLONG_LEN, what)?;
    Ok((((raw >> 1) as i64) ^ -((raw & 1) as i64), used))
}

#[inline]
fn get_unsigned(input: &[u8], max_len: usize, what: &'static str) -> Result<(u64, usize)> {
    // Most varints in a batch (lengths, deltas, counts) fit in one byte.
    if let Some(&byte) = input.first() {
        if byte < 0x80 {
            return Ok((u64::from(byte), 1));
        }
    }
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().take(max_len).enumerate() {
        let group = u64::from(byte & 0x7f);
        let shift = 7 * i as u32;
        if i == MAX_VARLONG_LEN - 1 && group > 1 {
            return Err(Error::Invalid {
                what,
                detail: "varlong overflows 64 bits".to_string(),
            });
        }
        value |= group << shift;
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if input.len() < max_len {
        Err(Error::Truncated {
            what,
            needed: input.len() + 1,
            available: input.len(),
        })
    } else {
        Err(Error::Invalid {
            what,
            detail: format!("varint longer than {max_len} bytes"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varint_round_trips(v in any::<i32>()) {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            prop_assert_eq!(buf.len(), varint_len(v));
            prop_assert_eq!(get_varint(&buf, "v").ok(), Some((v, buf.len())));
            for cut in 0..buf.len() {
                prop_assert!(get_varint(&buf[..cut], "v").is_err());
            }
        }

        #[test]
        fn varlong_round_trips(v in any::<i64>()) {
            let mut buf = Vec::new();
            put_varlong(&mut buf, v);
            prop_assert_eq!(buf.len(), varlong_len(v));
            prop_assert_eq!(get_varlong(&buf, "v").ok(), Some((v, buf.len())));
            for cut in 0..buf.len() {
                prop_assert!(get_varlong(&buf[..cut], "v").is_err());
            }
        }
    }

    #[test]
    fn known_encodings_match_kafka() {
        let cases: [(i32, &[u8]); 5] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-65, &[0x81, 0x01]),
        ];
        for (value, bytes) in cases {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            assert_eq!(buf, bytes, "encoding of {value}");
        }
    }

    #[test]
    fn overlong_encodings_are_rejected() {
        assert!(get_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], "v").is_err());
        assert!(get_varint(&[0xff, 0xff, 0xff, 0xff, 0x7f], "v").is_err());
        assert!(get_varlong(&[0xff; 10], "v").is_err());
        assert!(get_varlong(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            "v"
        )
        .is_err());
    }
}
