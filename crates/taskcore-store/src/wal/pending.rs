//! Records staged for the next write, and what readers see of them until it is done.
//!
//! A leader's entries are appended (staged) and replicated at once, and synced to its own disk
//! meanwhile: openraft reads them back to send them before the sync returns. Staged records
//! keep their order, are written and synced together by the next write (group commit), and are
//! laid over the written log for readers: a staged entry replaces every entry from its index
//! on, a staged truncation removes entries from its index on, a staged purge those up to its
//! index, exactly as replaying them after the write will.

use std::collections::BTreeMap;
use std::ops::RangeBounds;
use std::sync::Arc;

use super::record::Record;

/// A staged record as readers see it.
#[derive(Clone, Debug)]
pub(super) enum Staged {
    /// An entry and its bytes.
    Entry(u64, Arc<[u8]>),
    /// Entries from this index on are gone.
    Truncate(u64),
    /// Entries up to this index are gone.
    Purge(u64),
    /// A meta value.
    Meta(u8, Arc<[u8]>),
}

impl Staged {
    pub(super) fn of(record: &Record<'_>) -> Self {
        match *record {
            Record::Entry(i, bytes) => Staged::Entry(i, Arc::from(bytes)),
            Record::Truncate(i) => Staged::Truncate(i),
            Record::Purge(i) => Staged::Purge(i),
            Record::Meta(key, value) => Staged::Meta(key, Arc::from(value)),
        }
    }
}

/// Records written to no file yet, in the order they were staged.
#[derive(Default)]
pub(super) struct Pending {
    /// Their encoded bytes, to be written at the end of the current segment.
    pub(super) buf: Vec<u8>,
    /// The records, each with the offset in `buf` where it starts. A write takes `buf` and
    /// leaves these in place until the index holds them, so readers never miss one.
    pub(super) records: Vec<(usize, Staged)>,
    /// The number of the last staging (see `Wal::stage`).
    pub(super) staged: u64,
}

/// Lays `staged` over `written` (entries read from the files, by index), keeping only the
/// indexes in `range`.
pub(super) fn overlay(
    written: Vec<(u64, Arc<[u8]>)>,
    staged: &[Staged],
    range: &impl RangeBounds<u64>,
) -> Vec<(u64, Arc<[u8]>)> {
    if staged.is_empty() {
        return written;
    }
    let mut view: BTreeMap<u64, Arc<[u8]>> = written.into_iter().collect();
    for s in staged {
        match s {
            Staged::Entry(i, bytes) => {
                view.split_off(i);
                if range.contains(i) {
                    view.insert(*i, bytes.clone());
                }
            }
            Staged::Truncate(from) => {
                view.split_off(from);
            }
            Staged::Purge(upto) => {
                view = view.split_off(&upto.saturating_add(1));
            }
            Staged::Meta(..) => {}
        }
    }
    view.into_iter().collect()
}

/// The last index once `staged` is laid over a log whose last written entry is `last` and
/// whose last purged index is `purged`. A Raft log is contiguous, so a truncation leaves the
/// entry just before it, unless that one is purged.
pub(super) fn last_index(
    mut last: Option<u64>,
    mut purged: Option<u64>,
    staged: &[Staged],
) -> Option<u64> {
    for s in staged {
        match *s {
            Staged::Entry(i, _) => last = Some(i),
            Staged::Truncate(from) => {
                if last >= Some(from) {
                    last = from.checked_sub(1).filter(|&t| purged < Some(t));
                }
            }
            Staged::Purge(upto) => {
                purged = purged.max(Some(upto));
                if last <= Some(upto) {
                    last = None;
                }
            }
            Staged::Meta(..) => {}
        }
    }
    last
}

/// The value of meta `key` staged last, if any.
pub(super) fn meta(staged: &[(usize, Staged)], key: u8) -> Option<Vec<u8>> {
    staged.iter().rev().find_map(|(_, s)| match s {
        Staged::Meta(k, v) if *k == key => Some(v.to_vec()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> Arc<[u8]> {
        Arc::from(s.as_bytes())
    }

    fn written(range: std::ops::RangeInclusive<u64>) -> Vec<(u64, Arc<[u8]>)> {
        range.map(|i| (i, bytes(&format!("w{i}")))).collect()
    }

    fn shown(v: &[(u64, Arc<[u8]>)]) -> Vec<String> {
        v.iter()
            .map(|(i, b)| format!("{i}:{}", String::from_utf8_lossy(b)))
            .collect()
    }

    #[test]
    fn staged_entries_replace_what_follows_them_and_stay_in_range() {
        let staged = [
            Staged::Entry(4, bytes("s4")),
            Staged::Entry(5, bytes("s5")),
            Staged::Meta(1, bytes("vote")),
        ];
        let v = overlay(written(1..=6), &staged, &(2..=5));
        assert_eq!(shown(&v), ["1:w1", "2:w2", "3:w3", "4:s4", "5:s5"]);
        // The caller filtered the written entries by range; staged ones are filtered here.
        let v = overlay(written(3..=3), &staged, &(3..=4));
        assert_eq!(shown(&v), ["3:w3", "4:s4"]);
    }

    #[test]
    fn staged_truncations_and_purges_hide_entries_in_order() {
        let staged = [
            Staged::Entry(7, bytes("s7")),
            Staged::Truncate(6),
            Staged::Entry(6, bytes("n6")),
            Staged::Purge(2),
        ];
        let v = overlay(written(1..=8), &staged, &(..));
        assert_eq!(shown(&v), ["3:w3", "4:w4", "5:w5", "6:n6"]);
        assert_eq!(last_index(Some(8), None, &staged), Some(6));
    }

    #[test]
    fn the_last_index_follows_truncations_and_purges() {
        assert_eq!(last_index(Some(5), None, &[]), Some(5));
        assert_eq!(last_index(Some(5), None, &[Staged::Truncate(3)]), Some(2));
        assert_eq!(last_index(Some(5), None, &[Staged::Truncate(0)]), None);
        assert_eq!(last_index(Some(5), Some(2), &[Staged::Truncate(3)]), None);
        assert_eq!(last_index(Some(5), None, &[Staged::Truncate(9)]), Some(5));
        assert_eq!(last_index(Some(5), None, &[Staged::Purge(5)]), None);
        assert_eq!(
            last_index(None, Some(5), &[Staged::Entry(6, bytes("x"))]),
            Some(6)
        );
    }
}
