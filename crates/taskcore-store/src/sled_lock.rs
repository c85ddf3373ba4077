//! One lock, process-wide, between our sled batches and our sled flushes.
//!
//! sled 0.34 makes every operation of every database in a process take one shared
//! reader-writer lock: reads, inserts and its background flusher as readers, `apply_batch` as
//! the writer. A flush holds a read while it waits for sled's log to become stable, and a
//! batch that waits for the write side meanwhile keeps every new reader out (the lock lets no
//! reader past a waiting writer), the flusher threads the flush waits for among them. Seen in
//! the cluster's in-process tests: a node's database closing (the drop of its last handle
//! flushes) while another node's state writer applied a batch hung the whole process.
//!
//! sled's own flusher is beyond our reach, but our batches and our flushes are not: each
//! holds [`Exclusive`] while it runs, so none of our batches waits on sled's lock while one of
//! our flushes is under way; the handles we keep are [`Closing`], whose drop (the last one of
//! a database or a tree flushes it) holds it too. Nothing holding it may wait for anything
//! that takes it.

use std::ops::Deref;
use std::sync::{Condvar, Mutex};

static HELD: Mutex<bool> = Mutex::new(false);
static RELEASED: Condvar = Condvar::new();

/// The lock, held until dropped (on any thread).
#[must_use = "the lock is released when this is dropped"]
pub(crate) struct Exclusive(());

/// Waits for the lock.
pub(crate) fn exclusive() -> Exclusive {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    while *held {
        held = RELEASED.wait(held).unwrap_or_else(|e| e.into_inner());
    }
    *held = true;
    Exclusive(())
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        *HELD.lock().unwrap_or_else(|e| e.into_inner()) = false;
        RELEASED.notify_one();
    }
}

/// Flushes `tree`'s database (sled's `flush`: written, not synced) holding the lock.
///
/// # Errors
/// sled's.
pub(crate) fn flush(tree: &sled::Tree) -> sled::Result<usize> {
    let _x = exclusive();
    tree.flush()
}

/// Applies `batch` to `tree` atomically, holding the lock.
///
/// # Errors
/// sled's.
pub(crate) fn apply_batch(tree: &sled::Tree, batch: sled::Batch) -> sled::Result<()> {
    let _x = exclusive();
    tree.apply_batch(batch)
}

/// A sled handle (a `Db` or a `Tree`) dropped while holding the lock: the drop of the last
/// handle of a database, or of a tree, flushes it.
pub(crate) struct Closing<T> {
    handle: T,
    /// Taken when dropped; fields drop in order, so the handle goes first, under the lock.
    closing: Option<Exclusive>,
}

impl<T> Closing<T> {
    pub(crate) fn new(handle: T) -> Self {
        Closing {
            handle,
            closing: None,
        }
    }
}

impl<T: Clone> Clone for Closing<T> {
    fn clone(&self) -> Self {
        Closing::new(self.handle.clone())
    }
}

impl<T> Deref for Closing<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.handle
    }
}

impl<T> Drop for Closing<T> {
    fn drop(&mut self) {
        self.closing = Some(exclusive());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_from_another_thread() {
        let first = exclusive();
        let second_holds = Arc::new(AtomicBool::new(false));
        let flag = second_holds.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let second = std::thread::spawn(move || {
            tx.send(()).unwrap();
            let held = exclusive();
            flag.store(true, Ordering::SeqCst);
            held
        });
        rx.recv().unwrap();
        // The second thread runs and asks for the lock: given time, it must not get it.
        std::thread::sleep(Duration::from_millis(100));
        assert!(!second_holds.load(Ordering::SeqCst), "taken twice");
        drop(first);
        let held = second.join().unwrap();
        assert!(second_holds.load(Ordering::SeqCst));
        // Released on this thread though taken on the other.
        drop(held);
        drop(exclusive());
    }

    #[test]
    fn a_closing_handle_is_dropped_under_the_lock() {
        /// Records whether the lock was free when it was dropped.
        struct Probe(Arc<AtomicBool>);
        impl Drop for Probe {
            fn drop(&mut self) {
                let free = HELD.lock().map(|held| !*held).unwrap_or(false);
                self.0.store(free, Ordering::SeqCst);
            }
        }
        let free_at_drop = Arc::new(AtomicBool::new(true));
        drop(Closing::new(Probe(free_at_drop.clone())));
        assert!(
            !free_at_drop.load(Ordering::SeqCst),
            "dropped without the lock"
        );
        drop(exclusive()); // and released afterwards
    }
}
