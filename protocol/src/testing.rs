//! Test helpers for message codecs: round trips and every-prefix truncation.

use bytes::BytesMut;

use crate::Result;

/// Encodes `msg`, decodes it back and checks equality.
pub(crate) fn check_round_trip<T: PartialEq + std::fmt::Debug>(
    msg: &T,
    encode: impl Fn(&T, &mut BytesMut),
    decode: impl Fn(&[u8]) -> Result<T>,
) {
    let mut buf = BytesMut::new();
    encode(msg, &mut buf);
    let decoded = decode(&buf).unwrap_or_else(|e| panic!("decoding {msg:?}: {e}"));
    assert_eq!(&decoded, msg);
}

/// Checks that decoding every strict prefix of `msg`'s encoding fails.
pub(crate) fn check_truncations<T: std::fmt::Debug>(
    msg: &T,
    encode: impl Fn(&T, &mut BytesMut),
    decode: impl Fn(&[u8]) -> Result<T>,
) {
    let mut buf = BytesMut::new();
    encode(msg, &mut buf);
    for cut in 0..buf.len() {
        assert!(
            decode(&buf[..cut]).is_err(),
            "prefix of {cut}/{} bytes decoded",
            buf.len()
        );
    }
}
