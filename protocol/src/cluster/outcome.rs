//! Every inter-broker response: an error part, then the answer when the request
//! was taken. A response is a `Result<T, Refusal>`, encoded by
//! [`encode_response`] and read by [`decode_response`] for any answer type `T`.
//!
//! ```text
//! error_code     int16            0, or why the group could not take the request
//!                                 (3 UNKNOWN_TOPIC_OR_PARTITION: this broker runs
//!                                 no such group; 5 LEADER_NOT_AVAILABLE: the group
//!                                 is shutting down; 2 CORRUPT_MESSAGE: entries
//!                                 the group cannot represent)
//! error_message  nullable_string  what was wrong
//! ```
//! The rest of a response is present only when `error_code` is 0.

use bytes::BytesMut;

use crate::error_code::ErrorCode;
use crate::wire::{Reader, Writer};
use crate::Result;

/// The part of a response after a zero error code.
pub trait Answer: Sized {
    /// Names the message in decode errors.
    const NAME: &'static str;
    /// Appends the answer.
    fn encode(&self, w: &mut Writer<'_>);
    /// Reads the answer.
    fn decode(r: &mut Reader<'_>) -> Result<Self>;
}

/// Appends a whole response body.
pub fn encode_response<T: Answer>(response: &std::result::Result<T, Refusal>, buf: &mut BytesMut) {
    let mut w = Writer::new(buf);
    match response {
        Ok(answer) => {
            encode_refusal(None, &mut w);
            answer.encode(&mut w);
        }
        Err(refusal) => encode_refusal(Some(refusal), &mut w),
    }
}

/// Reads a whole response body.
pub fn decode_response<T: Answer>(body: &[u8]) -> Result<std::result::Result<T, Refusal>> {
    let mut r = Reader::new(body, T::NAME);
    let response = match decode_refusal(&mut r)? {
        Some(refusal) => Err(refusal),
        None => Ok(T::decode(&mut r)?),
    };
    r.finish()?;
    Ok(response)
}

/// A refusal: the code and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why (never [`ErrorCode::None`]).
    pub code: ErrorCode,
    /// What was wrong.
    pub message: String,
}

/// Appends `Ok` as code 0 and no message, or the refusal.
fn encode_refusal(refusal: Option<&Refusal>, w: &mut Writer<'_>) {
    match refusal {
        None => {
            w.i16(0).nullable_string(None);
        }
        Some(r) => {
            w.i16(r.code.code()).nullable_string(Some(&r.message));
        }
    }
}

/// Reads the error part: `None` when the request was taken.
fn decode_refusal(r: &mut Reader<'_>) -> Result<Option<Refusal>> {
    let code = ErrorCode::from_code(r.i16("error_code")?);
    let message = r.nullable_string("error_message")?;
    Ok(if code.is_ok() {
        None
    } else {
        Some(Refusal {
            code,
            message: message.unwrap_or_default(),
        })
    })
}
