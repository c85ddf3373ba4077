//! The one module that knows bincode: how records are encoded on disk.
//!
//! Every value starts with a format byte, so that a later format can be told apart and migrated.

use serde::{de::DeserializeOwned, Serialize};

const FORMAT_V1: u8 = 1;

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

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value with its format byte.
///
/// # Errors
/// When serde refuses the value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT_V1];
    let body = bincode::serde::encode_to_vec(value, config())
        .map_err(|e| CodecError::Encode(e.to_string()))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes a value written by [`encode`].
///
/// # Errors
/// A truncated or corrupt value, trailing bytes, or an unknown format byte.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => {
            let (value, used) = bincode::serde::decode_from_slice(body, config())
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
}
