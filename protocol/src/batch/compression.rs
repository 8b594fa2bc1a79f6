//! Compression of a batch's records, with Kafka's codecs.
//!
//! Attribute bits 0-2 name the codec of everything after the batch header (the
//! records section): 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd, as in Kafka's
//! RecordBatch v2. The header itself (offsets, counts, timestamps, producer) is
//! never compressed, so the broker stamps offsets and checks the CRC without
//! decompressing; the CRC covers the compressed bytes.
//!
//! Formats, as Kafka clients write and read them:
//! - gzip: a gzip stream (RFC 1952); several members are read as one.
//! - snappy: Java clients frame raw snappy blocks the way xerial's
//!   `SnappyOutputStream` does (16-byte header, then blocks each prefixed by
//!   their compressed length); other clients send one raw block. Reading
//!   accepts both; writing uses the xerial framing, which every Kafka client
//!   reads.
//! - lz4: the LZ4 frame format.
//! - zstd: a zstd frame.
//!
//! Decompression is bounded: the caller passes the most bytes it accepts, no
//! buffer is sized from a length the input declares, and more output than that
//! is an error ([`Error::DecompressedTooLarge`]), so a small batch cannot
//! expand into a large allocation.

use std::io::{Read, Write};

use crate::error::{Error, Result};

/// A codec for a batch's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Records as they are (codec 0).
    #[default]
    None,
    /// gzip (codec 1).
    Gzip,
    /// snappy (codec 2).
    Snappy,
    /// LZ4 frame format (codec 3).
    Lz4,
    /// zstd (codec 4).
    Zstd,
}

/// The xerial snappy stream header Java clients write: a magic, then version 1
/// and compatible version 1.
const XERIAL_HEADER: [u8; 16] = [
    0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1,
];
/// Input bytes per xerial block, as Java's `SnappyOutputStream` uses.
const XERIAL_BLOCK: usize = 32 * 1024;
/// zstd's default level: Kafka's default too.
const ZSTD_LEVEL: i32 = 3;

impl Compression {
    /// Every codec, in id order.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with attribute id `id` (0-4); 5-7 are refused.
    pub fn from_id(id: u8) -> Result<Compression> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            codec => Err(Error::UnsupportedCompression { codec }),
        }
    }

    /// The codec's attribute id.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The codec's name, as in configuration: `none`, `gzip`, `snappy`, `lz4`,
    /// `zstd`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// The codec named `name` (see [`Compression::name`]).
    pub fn from_name(name: &str) -> Option<Compression> {
        Compression::ALL.into_iter().find(|c| c.name() == name)
    }

    /// `data` compressed with this codec (a copy of it for `None`).
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        // Writing to a Vec cannot fail, and the encoders fail only on a failed
        // write, so the errors below do not happen; they still surface as an
        // uncompressed copy rather than a panic.
        let compressed = match self {
            Compression::None => return data.to_vec(),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(
                    Vec::with_capacity(data.len() / 2),
                    flate2::Compression::default(),
                );
                e.write_all(data).and_then(|()| e.finish()).ok()
            }
            Compression::Snappy => xerial_compress(data),
            Compression::Lz4 => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
                e.write_all(data).ok().and_then(|()| e.finish().ok())
            }
            Compression::Zstd => zstd::bulk::compress(data, ZSTD_LEVEL).ok(),
        };
        compressed.unwrap_or_else(|| data.to_vec())
    }

    /// `data` decompressed, failing if it is not valid for this codec or comes
    /// to more than `max` bytes.
    pub fn decompress(self, data: &[u8], max: usize) -> Result<Vec<u8>> {
        match self {
            Compression::None => {
                if data.len() > max {
                    return Err(self.too_large(max));
                }
                Ok(data.to_vec())
            }
            Compression::Gzip => self.read_bounded(flate2::read::MultiGzDecoder::new(data), max),
            Compression::Snappy => snappy_decompress(data, max),
            Compression::Lz4 => self.read_bounded(lz4_flex::frame::FrameDecoder::new(data), max),
            Compression::Zstd => {
                let decoder = zstd::stream::read::Decoder::with_buffer(data)
                    .map_err(|e| self.failed(e.to_string()))?;
                self.read_bounded(decoder, max)
            }
        }
    }

    /// Reads `reader` to its end, failing past `max` bytes.
    fn read_bounded(self, reader: impl Read, max: usize) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
        reader
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| self.failed(e.to_string()))?;
        if out.len() > max {
            return Err(self.too_large(max));
        }
        Ok(out)
    }

    fn failed(self, detail: String) -> Error {
        Error::Decompress {
            codec: self.name(),
            detail,
        }
    }

    fn too_large(self, max: usize) -> Error {
        Error::DecompressedTooLarge {
            codec: self.name(),
            max,
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = Error;

    /// A codec by its [`Compression::name`].
    fn from_str(name: &str) -> Result<Compression> {
        Compression::from_name(name).ok_or_else(|| Error::UnknownCompression {
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `data` as a xerial snappy stream; `None` if the encoder fails.
fn xerial_compress(data: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = snap::raw::Encoder::new();
    let mut out = Vec::with_capacity(XERIAL_HEADER.len() + data.len() / 2);
    out.extend_from_slice(&XERIAL_HEADER);
    for block in data.chunks(XERIAL_BLOCK) {
        let compressed = encoder.compress_vec(block).ok()?;
        out.extend_from_slice(&u32::try_from(compressed.len()).ok()?.to_be_bytes());
        out.extend_from_slice(&compressed);
    }
    Some(out)
}

/// A xerial snappy stream or one raw snappy block, decompressed, at most `max`
/// bytes.
fn snappy_decompress(data: &[u8], max: usize) -> Result<Vec<u8>> {
    let codec = Compression::Snappy;
    let mut out = Vec::new();
    let Some(mut rest) = data.strip_prefix(&XERIAL_HEADER[..8]) else {
        append_raw_block(data, max, &mut out)?;
        return Ok(out);
    };
    // Version and compatible version: any values are read the same way.
    rest = rest
        .get(8..)
        .ok_or_else(|| codec.failed("the xerial header is cut short".to_string()))?;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| codec.failed("a xerial block length is cut short".to_string()))?;
        let len = u32::from_be_bytes(*len) as usize;
        let block = tail.get(..len).ok_or_else(|| {
            codec.failed(format!(
                "a xerial block of {len} bytes has only {} left",
                tail.len()
            ))
        })?;
        append_raw_block(block, max, &mut out)?;
        rest = &tail[len..];
    }
    Ok(out)
}

/// Decompresses one raw snappy block onto `out`, keeping `out` within `max`.
fn append_raw_block(block: &[u8], max: usize, out: &mut Vec<u8>) -> Result<()> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| codec.failed(e.to_string()))?;
    if len > max.saturating_sub(out.len()) {
        return Err(codec.too_large(max));
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(|e| codec.failed(e.to_string()))?;
    out.truncate(start + written);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn every_codec_round_trips(data in proptest::collection::vec(0u8..4, 0..100_000)) {
            for codec in Compression::ALL {
                let compressed = codec.compress(&data);
                let back = codec.decompress(&compressed, data.len()).expect("decompress");
                proptest::prop_assert_eq!(&back, &data, "{}", codec);
            }
        }
    }

    #[test]
    fn a_bomb_is_refused_at_the_bound_not_allocated() {
        let big = vec![0u8; 8 << 20];
        for codec in Compression::ALL {
            let compressed = codec.compress(&big);
            let err = codec
                .decompress(&compressed, 1 << 20)
                .expect_err("over the bound");
            assert!(
                matches!(err, Error::DecompressedTooLarge { max, .. } if max == 1 << 20),
                "{codec}: {err}"
            );
            assert_eq!(
                codec
                    .decompress(&compressed, 8 << 20)
                    .expect("at the bound")
                    .len(),
                8 << 20
            );
        }
    }

    #[test]
    fn garbage_is_an_error_naming_the_codec() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let err = codec
                .decompress(b"\xffnot compressed at all", 1 << 20)
                .expect_err("garbage");
            assert!(err.to_string().starts_with(codec.name()), "{codec}: {err}");
        }
    }

    #[test]
    fn snappy_reads_raw_blocks_and_java_framing() {
        let data = b"purchase purchase purchase purchase".repeat(3000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).expect("raw");
        assert_eq!(
            Compression::Snappy
                .decompress(&raw, data.len())
                .expect("raw"),
            data
        );
        let framed = Compression::Snappy.compress(&data);
        assert!(framed.starts_with(&XERIAL_HEADER));
        assert!(framed.len() > 2 * XERIAL_HEADER.len(), "several blocks");
        // A block length that runs past the end is an error, not a panic.
        let mut cut = framed.clone();
        cut.truncate(framed.len() - 1);
        assert!(Compression::Snappy.decompress(&cut, data.len()).is_err());
    }

    #[test]
    fn ids_and_names_round_trip_and_5_to_7_are_refused() {
        for codec in Compression::ALL {
            assert_eq!(Compression::from_id(codec.id()).expect("id"), codec);
            assert_eq!(Compression::from_name(codec.name()), Some(codec));
            assert_eq!(codec.name().parse::<Compression>().expect("parse"), codec);
        }
        let err = "brotli".parse::<Compression>().expect_err("unknown");
        assert!(
            err.to_string().contains("none, gzip, snappy, lz4 and zstd"),
            "{err}"
        );
        for id in 5..=7 {
            assert!(matches!(
                Compression::from_id(id),
                Err(Error::UnsupportedCompression { codec }) if codec == id
            ));
        }
    }
}
