//! The latest log entries as openraft appended them, so that reading one back is a copy of
//! shared proposals rather than a decode.
//!
//! openraft reads every entry again right after appending it: a leader once per follower it
//! sends it to, and every node once to apply it. The log keeps the entries' bytes in memory
//! ([`crate::wal`]), but each read still decoded them — three decodes per write on a leader of
//! three. [`Recent`] holds the newest entries themselves (a [`taskcore_core::Batch`] shares its
//! proposals, so a copy costs a reference count) and serves a read from them when it holds the
//! whole range asked for; any other read goes to the log.
//!
//! It always mirrors the end of the log: entries join it after the log has them and leave it
//! before the log drops them (a truncation), so a read it serves is one the log would have
//! served at some moment during the call, and a read it cannot serve goes to the log whole,
//! never half from each.

use std::collections::VecDeque;
use std::ops::{Bound, RangeBounds};

use openraft::{Entry, RaftTypeConfig};

/// The most entries held.
const MAX_ENTRIES: usize = 4096;
/// The most encoded bytes held (entries are counted at their encoded size).
const MAX_BYTES: usize = 8 * 1024 * 1024;

/// The newest entries of the log, contiguous, each with its encoded size.
pub(crate) struct Recent<C: RaftTypeConfig> {
    /// Entries in log order; the first one's index is `first`.
    entries: VecDeque<(Entry<C>, usize)>,
    first: u64,
    bytes: usize,
}

impl<C: RaftTypeConfig<NodeId = u64>> Default for Recent<C> {
    fn default() -> Self {
        Recent {
            entries: VecDeque::new(),
            first: 0,
            bytes: 0,
        }
    }
}

impl<C> Recent<C>
where
    C: RaftTypeConfig<NodeId = u64>,
    C::D: Clone,
{
    /// The index after the last entry held (`first` when none is).
    fn end(&self) -> u64 {
        self.first + self.entries.len() as u64
    }

    /// Holds `entry` (of `size` encoded bytes), just appended to the log. One that does not
    /// follow the last one held starts the window again.
    pub(crate) fn push(&mut self, entry: Entry<C>, size: usize) {
        let index = entry.log_id.index;
        if self.entries.is_empty() || index != self.end() {
            self.entries.clear();
            self.bytes = 0;
            self.first = index;
        }
        self.entries.push_back((entry, size));
        self.bytes += size;
        while self.entries.len() > MAX_ENTRIES || (self.bytes > MAX_BYTES && self.entries.len() > 1)
        {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some((_, size)) = self.entries.pop_front() {
            self.bytes -= size;
            self.first += 1;
        }
    }

    /// Forgets the entries from `index` on (the log is about to truncate them).
    pub(crate) fn truncate(&mut self, index: u64) {
        while self.end() > index.max(self.first) {
            if let Some((_, size)) = self.entries.pop_back() {
                self.bytes -= size;
            }
        }
    }

    /// Forgets the entries up to and including `index` (the log purged them).
    pub(crate) fn purge(&mut self, index: u64) {
        while !self.entries.is_empty() && self.first <= index {
            self.pop_front();
        }
    }

    /// Copies of the entries in `range` when every one of them is held, else `None`. An
    /// open-ended range is never served here: the log knows where it ends.
    pub(crate) fn get(&self, range: &impl RangeBounds<u64>) -> Option<Vec<Entry<C>>> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.checked_add(1)?,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.checked_add(1)?,
            Bound::Excluded(&e) => e,
            Bound::Unbounded => return None,
        };
        if self.entries.is_empty() || start < self.first || end > self.end() {
            return None;
        }
        if start >= end {
            return Some(Vec::new());
        }
        let from = usize::try_from(start - self.first).ok()?;
        let to = usize::try_from(end - self.first).ok()?;
        Some(
            self.entries
                .range(from..to)
                .map(|(e, _)| e.clone())
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload, LogId};
    use taskcore_core::{Batch, Command, Proposal, Timestamp};

    use super::*;
    use crate::TestConfig;

    fn entry(index: u64, term: u64) -> Entry<TestConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Normal(Batch(
                vec![Proposal {
                    at: Timestamp(1),
                    cmd: Command::Cancel {
                        id: index,
                        brand: 1,
                    },
                }]
                .into(),
            )),
        }
    }

    fn ids(got: Option<Vec<Entry<TestConfig>>>) -> Option<Vec<(u64, u64)>> {
        got.map(|v| {
            v.iter()
                .map(|e| (e.log_id.index, e.log_id.leader_id.term))
                .collect()
        })
    }

    #[test]
    fn serves_only_ranges_it_holds_whole() {
        let mut r = Recent::<TestConfig>::default();
        assert_eq!(ids(r.get(&(0..1))), None, "nothing held");
        for i in 5..10 {
            r.push(entry(i, 1), 10);
        }
        assert_eq!(ids(r.get(&(6..8))), Some(vec![(6, 1), (7, 1)]));
        assert_eq!(ids(r.get(&(5..=9))).map(|v| v.len()), Some(5));
        assert_eq!(ids(r.get(&(7..7))), Some(vec![]));
        assert_eq!(ids(r.get(&(4..6))), None, "starts before the window");
        assert_eq!(ids(r.get(&(8..11))), None, "ends past the last entry");
        assert_eq!(ids(r.get(&(6..))), None, "open-ended: the log answers");
    }

    #[test]
    fn a_truncation_and_new_entries_replace_the_tail() {
        let mut r = Recent::<TestConfig>::default();
        for i in 1..=6 {
            r.push(entry(i, 1), 10);
        }
        r.truncate(4);
        assert_eq!(ids(r.get(&(3..5))), None, "entry 4 is gone");
        r.push(entry(4, 2), 10);
        assert_eq!(ids(r.get(&(3..5))), Some(vec![(3, 1), (4, 2)]));
        r.truncate(0);
        assert_eq!(ids(r.get(&(1..2))), None, "everything truncated");
        r.push(entry(1, 3), 10);
        assert_eq!(ids(r.get(&(1..2))), Some(vec![(1, 3)]));
    }

    #[test]
    fn a_gap_restarts_the_window_and_a_purge_trims_it() {
        let mut r = Recent::<TestConfig>::default();
        for i in 1..=3 {
            r.push(entry(i, 1), 10);
        }
        r.push(entry(10, 1), 10);
        assert_eq!(ids(r.get(&(2..3))), None, "not contiguous with 10: dropped");
        assert_eq!(ids(r.get(&(10..11))), Some(vec![(10, 1)]));
        r.push(entry(11, 1), 10);
        r.purge(10);
        assert_eq!(ids(r.get(&(10..12))), None);
        assert_eq!(ids(r.get(&(11..12))), Some(vec![(11, 1)]));
        r.purge(20);
        assert_eq!(ids(r.get(&(11..12))), None);
    }

    #[test]
    fn holds_at_most_its_budget() {
        let mut r = Recent::<TestConfig>::default();
        for i in 0..(MAX_ENTRIES as u64 + 10) {
            r.push(entry(i, 1), 1);
        }
        assert_eq!(r.entries.len(), MAX_ENTRIES);
        assert_eq!(ids(r.get(&(9..10))), None, "the oldest left");
        let last = MAX_ENTRIES as u64 + 9;
        assert_eq!(ids(r.get(&(last..=last))), Some(vec![(last, 1)]));
        let mut r = Recent::<TestConfig>::default();
        r.push(entry(0, 1), MAX_BYTES);
        r.push(entry(1, 1), 1);
        assert_eq!(ids(r.get(&(0..1))), None, "over the bytes: the oldest left");
        assert_eq!(ids(r.get(&(1..2))), Some(vec![(1, 1)]));
        r.push(entry(2, 1), 2 * MAX_BYTES);
        assert_eq!(
            ids(r.get(&(2..3))),
            Some(vec![(2, 1)]),
            "one entry over the budget alone is still held"
        );
    }
}
