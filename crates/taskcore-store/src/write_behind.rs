//! The state machine's writes, held in memory and written to sled together, off the apply path.
//!
//! Every sled batch forces IO: `apply_batch` seals sled's current buffer and the batch's own,
//! and writes each from sled's thread pool (a `pwrite` and a `sync_file_range` apiece), so a
//! batch per applied Raft entry cost two buffer writes per acknowledged write, competing with
//! the log's sync for the disk; and sled's inserts are a good part of an apply's CPU. The state
//! machine needs neither on its path: what it applies is durable in the Raft log already, and
//! replays from it after a crash. So the changes of applied entries wait here ([`Unwritten`]:
//! readers see them here first), each key once however often it changed, and one writer thread
//! ([`Writer`]) writes them to sled as one atomic batch, the last applied log id among them,
//! when enough of them wait or a second has passed; and always before the Raft log is purged, a
//! snapshot is sent, or the node stops ([`Writer::drain`]). sled's state is always the state as
//! of one applied log id.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Keys waiting before the writer is woken.
const MAX_KEYS: usize = 16_384;
/// Value bytes waiting before the writer is woken.
const MAX_BYTES: usize = 8 * 1024 * 1024;
/// How long a change waits at most before the writer writes it.
const MAX_AGE: Duration = Duration::from_secs(1);
/// Past this many times the limits, an apply waits for the writer (sled is not keeping up).
const OVERFULL: usize = 4;

/// Changes to the state-machine tree: each key's latest value (`None`: removed).
#[derive(Default)]
pub(crate) struct WriteBehind {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
}

impl WriteBehind {
    /// The change held for `key`: `Some(None)` when it is removed, `None` when none is held.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.writes.get(key).map(Option::as_deref)
    }

    /// Holds a change of `key`.
    pub(crate) fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.bytes += key.len() + value.as_ref().map_or(0, Vec::len);
        self.writes.insert(key, value);
    }

    /// Whether nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Whether the writer should be woken now.
    pub(crate) fn due(&self) -> bool {
        self.writes.len() >= MAX_KEYS || self.bytes >= MAX_BYTES
    }

    /// Whether an apply should wait for the writer before going on.
    pub(crate) fn overfull(&self) -> bool {
        self.writes.len() >= OVERFULL * MAX_KEYS || self.bytes >= OVERFULL * MAX_BYTES
    }

    /// Writes every change to `tree` in one atomic batch.
    ///
    /// # Errors
    /// sled's.
    pub(crate) fn write_to(&self, tree: &sled::Tree) -> Result<(), sled::Error> {
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
        crate::sled_lock::apply_batch(tree, batch)
    }
}

/// What the state machine changed that sled does not hold yet.
#[derive(Default)]
pub(crate) struct Unwritten {
    /// Changes waiting for the writer.
    pub(crate) waiting: WriteBehind,
    /// The changes the writer is writing (or failed to write), older than those waiting.
    pub(crate) writing: Option<Arc<WriteBehind>>,
}

impl Unwritten {
    /// The latest change of `key` not in sled yet (see [`WriteBehind::get`]).
    pub(crate) fn get(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.waiting
            .get(key)
            .or_else(|| self.writing.as_ref()?.get(key))
    }

    /// Whether sled holds everything.
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.writing.is_none()
    }
}

/// The writer thread's progress, shared with those who wake it and wait for it.
#[derive(Default)]
struct Progress {
    /// An apply found enough changes waiting.
    due: bool,
    /// Drains asked for, and done: a drain waits until `done` reaches the number it got.
    requested: u64,
    done: u64,
    /// The owner is gone: the thread ends.
    closed: bool,
    /// A write failed: the state machine has stopped.
    failed: Option<String>,
}

/// The handle on the thread that writes a state machine's changes to sled.
#[derive(Default)]
pub(crate) struct Writer {
    progress: Mutex<Progress>,
    wake: Condvar,
    thread: std::sync::OnceLock<std::thread::JoinHandle<()>>,
}

/// How often a drain checks that the thread still runs.
const CHECK_EVERY: Duration = Duration::from_millis(100);

impl Writer {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the thread. `write_out` writes what waits (`None`: the owner is gone).
    ///
    /// # Errors
    /// The thread cannot be started.
    pub(crate) fn start(
        self: &Arc<Self>,
        mut write_out: impl FnMut() -> Option<Result<(), String>> + Send + 'static,
    ) -> std::io::Result<()> {
        let this = self.clone();
        let thread = std::thread::Builder::new()
            .name("taskcore-state-writer".into())
            .spawn(move || loop {
                let target = {
                    let mut p = this.lock();
                    if !(p.due || p.requested > p.done || p.closed) {
                        p = this
                            .wake
                            .wait_timeout(p, MAX_AGE)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    if p.closed {
                        return;
                    }
                    p.due = false;
                    p.requested
                };
                let result = write_out();
                let mut p = this.lock();
                match result {
                    None => p.closed = true,
                    Some(Err(e)) => p.failed = Some(e),
                    Some(Ok(())) => {}
                }
                p.done = p.done.max(target);
                this.wake.notify_all();
                if p.closed {
                    return;
                }
            })?;
        let _ = self.thread.set(thread);
        Ok(())
    }

    /// Wakes the thread: enough changes wait.
    pub(crate) fn nudge(&self) {
        self.lock().due = true;
        self.wake.notify_all();
    }

    /// Waits until every change made before the call is in sled (not flushed).
    ///
    /// # Errors
    /// A write failed, or the thread is gone.
    pub(crate) fn drain(&self) -> Result<(), String> {
        let mut p = self.lock();
        p.requested += 1;
        let target = p.requested;
        self.wake.notify_all();
        while p.done < target && !p.closed && p.failed.is_none() {
            if self.thread.get().is_none_or(|t| t.is_finished()) {
                return Err("the state machine's writer thread is not running".into());
            }
            p = self
                .wake
                .wait_timeout(p, CHECK_EVERY)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        p.failed.clone().map_or(Ok(()), Err)
    }

    /// Ends the thread (its owner is gone).
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
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
        assert_eq!(tree.get(b"a").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(tree.get(b"gone").unwrap(), None);
    }

    #[test]
    fn the_newest_change_is_read_first() {
        let mut older = WriteBehind::default();
        older.put(b"k".to_vec(), Some(b"old".to_vec()));
        older.put(b"only old".to_vec(), Some(b"x".to_vec()));
        let mut u = Unwritten {
            writing: Some(Arc::new(older)),
            ..Unwritten::default()
        };
        u.waiting.put(b"k".to_vec(), None);
        assert_eq!(u.get(b"k"), Some(None));
        assert_eq!(u.get(b"only old"), Some(Some(&b"x"[..])));
        assert_eq!(u.get(b"neither"), None);
        assert!(!u.is_empty());
    }

    #[test]
    fn many_keys_or_bytes_are_due_then_overfull() {
        let mut wb = WriteBehind::default();
        for i in 0..MAX_KEYS {
            assert!(!wb.due(), "{i} keys");
            wb.put(i.to_be_bytes().to_vec(), None);
        }
        assert!(wb.due() && !wb.overfull());
        let mut wb = WriteBehind::default();
        wb.put(b"big".to_vec(), Some(vec![0; OVERFULL * MAX_BYTES]));
        assert!(wb.due() && wb.overfull());
    }

    #[test]
    fn a_drain_waits_for_a_write_that_starts_after_it() {
        let writer = Arc::new(Writer::default());
        let writes = Arc::new(Mutex::new(0u32));
        let counted = writes.clone();
        writer
            .start(move || {
                *counted.lock().unwrap() += 1;
                Some(Ok(()))
            })
            .unwrap();
        writer.drain().unwrap();
        let after_first = *writes.lock().unwrap();
        assert!(after_first >= 1);
        writer.drain().unwrap();
        assert!(
            *writes.lock().unwrap() > after_first,
            "each drain is a write of its own"
        );
        writer.close();
    }

    #[test]
    fn a_drain_without_a_running_thread_fails_instead_of_waiting() {
        let writer = Arc::new(Writer::default());
        assert!(writer.drain().is_err(), "never started");
        let writer = Arc::new(Writer::default());
        writer.start(|| panic!("a write that panics")).unwrap();
        assert!(writer.drain().is_err(), "the thread died");
    }

    #[test]
    fn a_failed_write_fails_the_drain() {
        let writer = Arc::new(Writer::default());
        writer.start(|| Some(Err("disk gone".into()))).unwrap();
        assert_eq!(writer.drain(), Err("disk gone".into()));
        writer.close();
    }
}
