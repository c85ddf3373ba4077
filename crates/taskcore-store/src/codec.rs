//! The one module that knows bincode: how records, log entries, snapshots and peer frames are
//! encoded.
//!
//! Every value starts with a format byte, so that a later format can be told apart and migrated.
//! Every decode is bounded: bincode allocates a string or a byte buffer of whatever length the
//! bytes declare before it reads it, so a corrupt or hostile length (2^60) would abort the
//! process. Each decode runs with a byte limit derived from the input's size (see
//! [`decode_budget`]): a length no real value of that size can have is a clean
//! [`CodecError::Decode`], never an allocation.

use serde::{de::DeserializeOwned, Serialize};

const FORMAT_V1: u8 = 1;

/// How many decoded bytes one encoded byte can become, at most, in a value we encode: a varint
/// byte becomes at most an 8-byte integer; strings and byte buffers stay 1:1; serde's sequences
/// claim nothing ahead. Twice that leaves margin.
const AMPLIFICATION: usize = 16;
/// Decoded bytes allowed on top of the input's share, so small values never hit the bound.
const SLACK: usize = 64 * 1024;

/// The most a decode of `len` input bytes may allocate from lengths it reads.
pub fn decode_budget(len: usize) -> usize {
    len.saturating_mul(AMPLIFICATION).saturating_add(SLACK)
}

/// A value that would not encode or decode.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Encoding failed.
    #[error("encode: {0}")]
    Encode(String),
    /// Decoding failed: truncated, corrupt, or of an unknown format.
    #[error("decode: {0}")]
    Decode(String),
}

/// The buffer an encode starts with: a typical task's record (about 130 bytes) and a create's
/// log entry fit without growing, and what the state machine holds until sled has it (its
/// budget counts lengths) wastes little.
const ENCODE_CAPACITY: usize = 256;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value with its format byte.
///
/// # Errors
/// When serde refuses the value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    // Straight after the format byte, in a buffer most records fit: growing one from
    // empty, then copying it behind the format byte, was most of an encode's cost.
    let mut out = Vec::with_capacity(ENCODE_CAPACITY);
    out.push(FORMAT_V1);
    bincode::serde::encode_into_std_write(value, &mut out, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(out)
}

/// The length [`encode`] would give `value`, without allocating it.
///
/// # Errors
/// When serde refuses the value.
pub fn encoded_len<T: Serialize>(value: &T) -> Result<usize, CodecError> {
    struct Count(usize);
    impl bincode::enc::write::Writer for Count {
        fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
            self.0 += bytes.len();
            Ok(())
        }
    }
    let mut count = Count(1);
    bincode::serde::encode_into_writer(value, &mut count, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    Ok(count.0)
}

/// Decodes a value written by [`encode`], allocating at most [`decode_budget`] of its length.
///
/// # Errors
/// A truncated or corrupt value, trailing bytes, a length past the budget, or an unknown format
/// byte.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => {
            let (value, used) = decode_bounded(body, decode_budget(bytes.len()))
                .map_err(|e| CodecError::Decode(e.to_string()))?;
            if used != body.len() {
                return Err(CodecError::Decode(format!(
                    "{} trailing bytes",
                    body.len() - used
                )));
            }
            Ok(value)
        }
        Some((format, _)) => Err(CodecError::Decode(format!("unknown format {format}"))),
        None => Err(CodecError::Decode("empty value".into())),
    }
}

/// bincode's limit is a const generic: the budget picks the smallest of a few fixed limits that
/// covers it (each at most 16 times the one below, so the bound stays within 16× the budget).
fn decode_bounded<T: DeserializeOwned>(
    body: &[u8],
    budget: usize,
) -> Result<(T, usize), bincode::error::DecodeError> {
    use bincode::serde::decode_from_slice as d;
    let c = config();
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    const GIB: usize = 1024 * MIB;
    match budget {
        b if b <= 64 * KIB => d(body, c.with_limit::<{ 64 * KIB }>()),
        b if b <= MIB => d(body, c.with_limit::<MIB>()),
        b if b <= 16 * MIB => d(body, c.with_limit::<{ 16 * MIB }>()),
        b if b <= 256 * MIB => d(body, c.with_limit::<{ 256 * MIB }>()),
        b if b <= 4 * GIB => d(body, c.with_limit::<{ 4 * GIB }>()),
        _ => d(body, c.with_limit::<{ 64 * GIB }>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let v = (7u64, "x".to_owned(), Some(3i64));
        let bytes = encode(&v).unwrap();
        assert_eq!(decode::<(u64, String, Option<i64>)>(&bytes).unwrap(), v);
        assert!(decode::<(u64, String)>(&bytes[..bytes.len() - 1]).is_err());
        assert!(decode::<u64>(&[]).is_err());
        assert!(decode::<u64>(&[9, 1]).is_err());
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode::<(u64, String, Option<i64>)>(&extra).is_err());
    }

    #[test]
    fn encoded_len_is_the_length_of_the_encoding() {
        let v = (7u64, "x".repeat(300), vec![Some(1i64), None]);
        assert_eq!(encoded_len(&v).unwrap(), encode(&v).unwrap().len());
    }

    #[test]
    fn a_hostile_length_is_an_error_not_an_allocation() {
        // A string that claims 2^60 bytes: without a limit bincode allocates it and aborts.
        let bytes = [FORMAT_V1, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10];
        let err = decode::<String>(&bytes).unwrap_err();
        assert!(err.to_string().contains("decode"), "{err}");
        // The same inside a container, a byte buffer and an enum's payload.
        assert!(decode::<Vec<String>>(&[FORMAT_V1, 1, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10]).is_err());
        assert!(decode::<serde_bytes_like::Bytes>(&[FORMAT_V1, 0xfc, 0, 0, 0, 0x40]).is_err());
        assert!(
            decode::<Result<u8, String>>(&[FORMAT_V1, 1, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10]).is_err()
        );
    }

    #[test]
    fn large_real_values_fit_their_budget() {
        let big = "x".repeat(3 * 1024 * 1024);
        let v = (vec![u64::MAX; 100_000], big.clone(), vec![big.clone(), big]);
        let bytes = encode(&v).unwrap();
        assert_eq!(
            decode::<(Vec<u64>, String, Vec<String>)>(&bytes).unwrap(),
            v
        );
        let small: Vec<u64> = (0..100_000).map(|i| i % 100).collect();
        assert_eq!(decode::<Vec<u64>>(&encode(&small).unwrap()).unwrap(), small);
    }

    /// A byte buffer through serde's `deserialize_byte_buf`, as `Vec<u8>` is not.
    mod serde_bytes_like {
        use serde::de::{Deserializer, Visitor};

        #[derive(Debug)]
        pub struct Bytes;

        impl<'de> serde::Deserialize<'de> for Bytes {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = Bytes;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("bytes")
                    }
                    fn visit_byte_buf<E>(self, _: Vec<u8>) -> Result<Bytes, E> {
                        Ok(Bytes)
                    }
                }
                d.deserialize_byte_buf(V)
            }
        }
    }
}
