//! How the log's records are framed on disk.
//!
//! A record is `[payload length: u32 LE][CRC-32 of the payload: u32 LE][payload]`; the payload
//! starts with a kind byte:
//!
//! | kind | payload after the kind byte | meaning |
//! |---|---|---|
//! | 1 | index (u64 LE), entry bytes | the entry at `index`; every entry from `index` on is replaced |
//! | 2 | key (u8), value bytes | a meta value (vote, committed, last purged) |
//! | 3 | index (u64 LE) | entries from `index` on are removed |
//! | 4 | index (u64 LE) | entries up to `index` are purged |
//!
//! A zero length is never a record (a zero-filled tail is not mistaken for one), and a length
//! longer than what follows in the file is a torn write, so reading never allocates more than
//! the file holds.

use std::io;

/// Bytes before a record's payload.
pub(crate) const HEADER: usize = 8;
/// The largest payload a record may have.
pub(crate) const MAX_PAYLOAD: usize = 1 << 30;

const ENTRY: u8 = 1;
const META: u8 = 2;
const TRUNCATE: u8 = 3;
const PURGE: u8 = 4;

/// A record, as read back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// An entry: its index and bytes.
    Entry(u64, &'a [u8]),
    /// A meta value.
    Meta(u8, &'a [u8]),
    /// Entries from this index on are gone.
    Truncate(u64),
    /// Entries up to this index are gone.
    Purge(u64),
}

impl Record<'_> {
    /// How many bytes [`encode`] appends for this record.
    pub(crate) fn encoded_len(&self) -> usize {
        HEADER
            + 1
            + match *self {
                Record::Entry(_, bytes) => 8 + bytes.len(),
                Record::Meta(_, bytes) => 1 + bytes.len(),
                Record::Truncate(_) | Record::Purge(_) => 8,
            }
    }
}

/// Bytes of an entry record's payload before the entry's own bytes.
pub(crate) const ENTRY_PREFIX: usize = 9;

/// Appends `record` to `out`.
///
/// # Errors
/// The payload is larger than [`MAX_PAYLOAD`].
pub(crate) fn encode(record: &Record<'_>, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    match *record {
        Record::Entry(index, bytes) => {
            out.push(ENTRY);
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(bytes);
        }
        Record::Meta(key, bytes) => {
            out.push(META);
            out.push(key);
            out.extend_from_slice(bytes);
        }
        Record::Truncate(index) => {
            out.push(TRUNCATE);
            out.extend_from_slice(&index.to_le_bytes());
        }
        Record::Purge(index) => {
            out.push(PURGE);
            out.extend_from_slice(&index.to_le_bytes());
        }
    }
    let payload = &out[start + HEADER..];
    let len = match u32::try_from(payload.len()) {
        Ok(len) if payload.len() <= MAX_PAYLOAD => len,
        _ => {
            let n = payload.len();
            out.truncate(start);
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a log record of {n} bytes is larger than {MAX_PAYLOAD}"),
            ));
        }
    };
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// What [`decode`] found at the start of some bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read<'a> {
    /// A whole record, and the bytes it took.
    Record(Record<'a>, usize),
    /// Not a whole, intact record: a torn write or damage.
    Torn(&'static str),
    /// An intact record of a kind this version does not know (written by a newer one).
    Unknown(u8),
}

fn u64_at(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// Reads the record at the start of `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Read<'_> {
    let Some(head) = bytes.get(..HEADER) else {
        return Read::Torn("a record header cut short");
    };
    let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 || len > MAX_PAYLOAD {
        return Read::Torn("a record length out of range");
    }
    let Some(payload) = bytes.get(HEADER..HEADER + len) else {
        return Read::Torn("a record cut short");
    };
    if crc32fast::hash(payload) != crc {
        return Read::Torn("a record whose checksum does not match");
    }
    let body = &payload[1..];
    let record = match payload[0] {
        ENTRY => u64_at(body).map(|i| Record::Entry(i, &body[8..])),
        META => body.split_first().map(|(&k, v)| Record::Meta(k, v)),
        TRUNCATE if body.len() == 8 => u64_at(body).map(Record::Truncate),
        PURGE if body.len() == 8 => u64_at(body).map(Record::Purge),
        _ => None,
    };
    match record {
        Some(r) => Read::Record(r, HEADER + len),
        // The checksum matched: not a torn write but a record this version does not know.
        None => Read::Unknown(payload[0]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back() {
        let records = [
            Record::Entry(7, b"seven"),
            Record::Entry(u64::MAX, b""),
            Record::Meta(3, b"vote"),
            Record::Truncate(9),
            Record::Purge(4),
        ];
        let mut out = Vec::new();
        for r in &records {
            encode(r, &mut out).unwrap();
        }
        let mut at = 0;
        for r in &records {
            match decode(&out[at..]) {
                Read::Record(got, len) => {
                    assert_eq!(&got, r);
                    assert_eq!(r.encoded_len(), len, "{r:?}: the length a write reserves");
                    at += len;
                }
                other => panic!("{r:?}: {other:?}"),
            }
        }
        assert_eq!(at, out.len());
    }

    #[test]
    fn damage_is_torn_never_a_record() {
        let mut out = Vec::new();
        encode(&Record::Entry(1, b"payload"), &mut out).unwrap();
        for cut in 0..out.len() {
            assert!(matches!(decode(&out[..cut]), Read::Torn(_)), "cut at {cut}");
        }
        for byte in 0..out.len() {
            let mut bad = out.clone();
            bad[byte] ^= 0x40;
            assert!(matches!(decode(&bad), Read::Torn(_)), "flip at {byte}");
        }
        assert!(matches!(decode(&[0; 64]), Read::Torn(_)), "zeros");
        let huge = [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 1];
        assert!(
            matches!(decode(&huge), Read::Torn(_)),
            "a length past the end"
        );
    }

    #[test]
    fn an_intact_record_of_an_unknown_kind_is_not_torn() {
        let payload = [9u8, 1, 2];
        let mut out = (payload.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        assert_eq!(decode(&out), Read::Unknown(9));
    }
}
