//! The codec of a message body at one version of its API, so a request and its
//! response are laid out as the request's header says. Most APIs have a single
//! layout, and `message` implements the trait for those by their own `encode`
//! and `decode`; an API whose layout changed implements it by hand (Metadata and
//! CreateTopics, v1).

use bytes::BytesMut;

use crate::Result;

/// A message body's codec at one version of its API. A body with a single layout
/// ignores the version; one whose layout changed between versions writes and
/// reads the fields of the version asked for. [`crate::api::ApiKey::check_version`] has
/// accepted the version before either is called.
pub trait Versioned: Sized {
    /// Appends the body as `version` lays it out.
    fn encode_at(&self, version: i16, buf: &mut BytesMut);
    /// Decodes a body laid out as `version`.
    fn decode_at(version: i16, body: &[u8]) -> Result<Self>;
}
