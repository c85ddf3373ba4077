//! The state machine's writes, held in memory and written to sled together.
//!
//! Every sled batch forces IO: `apply_batch` seals sled's current buffer and the batch's own,
//! and writes each from sled's thread pool (a `pwrite` and a `sync_file_range` apiece), so a
//! batch per applied Raft entry cost two buffer writes per acknowledged write, competing with
//! the log's sync for the disk. The state machine needs none of that: what it applies is
//! durable in the Raft log already, and replays from it after a crash. So the changes of many
//! applied entries wait here — readers see them here first — and go to sled as one atomic
//! batch, with the last applied log id among them, when enough of them wait or the oldest has
//! waited long enough; and always before the Raft log is purged, a snapshot is built, or the
//! node stops. sled's state is then always the state as of one applied log id.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Keys held at most before they are written.
const MAX_KEYS: usize = 4096;
/// Value bytes held at most before they are written.
const MAX_BYTES: usize = 8 * 1024 * 1024;
/// How long the oldest change waits at most (checked when the next batch applies).
const MAX_AGE: Duration = Duration::from_millis(100);

/// Changes to the state-machine tree not yet written to sled.
#[derive(Default)]
pub(crate) struct WriteBehind {
    /// Each key's latest value (`None`: removed).
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
    since: Option<Instant>,
}

impl WriteBehind {
    /// The change waiting for `key`: `Some(None)` when it is removed, `None` when none waits.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes.get(key).map(Option::as_deref)
    }

    /// Holds a change of `key`.
    pub(crate) fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.bytes += key.len() + value.as_ref().map_or(0, Vec::len);
        self.since.get_or_insert_with(Instant::now);
        self.writes.insert(key, value);
    }

    /// Whether nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Whether what waits should be written now.
    pub(crate) fn due(&self) -> bool {
        self.writes.len() >= MAX_KEYS
            || self.bytes >= MAX_BYTES
            || self.since.is_some_and(|t| t.elapsed() >= MAX_AGE)
    }

    /// Writes everything that waits to `tree` in one atomic batch. On failure the changes
    /// still wait (the caller stops the state machine: memory is ahead of the disk).
    ///
    /// # Errors
    /// sled's.
    pub(crate) fn write_to(&mut self, tree: &sled::Tree) -> Result<(), sled::Error> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let mut batch = sled::Batch::default();
        for (k, v) in &self.writes {
            match v {
                Some(v) => batch.insert(&k[..], &v[..]),
                None => batch.remove(&k[..]),
            }
        }
        tree.apply_batch(batch)?;
        *self = WriteBehind::default();
        Ok(())
    }

    /// Drops every change (the whole state is being replaced).
    pub(crate) fn clear(&mut self) {
        *self = WriteBehind::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_wait_then_go_to_sled_together() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        tree.insert(b"gone", &b"old"[..]).unwrap();
        let mut wb = WriteBehind::default();
        assert!(!wb.due() && wb.is_empty());
        wb.put(b"a".to_vec(), Some(b"1".to_vec()));
        wb.put(b"a".to_vec(), Some(b"2".to_vec()));
        wb.put(b"gone".to_vec(), None);
        assert_eq!(wb.get(b"a"), Some(Some(&b"2"[..])));
        assert_eq!(wb.get(b"gone"), Some(None));
        assert_eq!(wb.get(b"other"), None);
        assert_eq!(tree.get(b"a").unwrap(), None, "nothing written yet");
        wb.write_to(&tree).unwrap();
        assert!(wb.is_empty() && !wb.due());
        assert_eq!(tree.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(tree.get(b"gone").unwrap(), None);
    }

    #[test]
    fn many_keys_or_bytes_are_due_at_once() {
        let mut wb = WriteBehind::default();
        for i in 0..MAX_KEYS {
            assert!(!wb.due(), "{i} keys");
            wb.put(i.to_be_bytes().to_vec(), None);
        }
        assert!(wb.due());
        let mut wb = WriteBehind::default();
        wb.put(b"big".to_vec(), Some(vec![0; MAX_BYTES]));
        assert!(wb.due());
    }
}
