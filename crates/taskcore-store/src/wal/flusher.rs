//! The thread that writes and syncs staged records, and tells each waiter when its are durable.
//!
//! One thread per log: appends stage their records and queue a completion; the thread writes
//! everything staged with one sync (group commit) and completes every waiter that write
//! covered, in order. A stalled disk holds this one thread, not one blocking thread per append.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::Wal;

/// What to run once a staging is durable (or its write failed).
type Done = Box<dyn FnOnce(io::Result<()>) + Send>;

#[derive(Default)]
struct Queue {
    /// Stagings waiting for their write, by number, in order.
    waiting: VecDeque<(u64, Done)>,
    /// Set when the log is dropped: the thread completes what waits, then ends.
    stop: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

fn lock(shared: &Shared) -> MutexGuard<'_, Queue> {
    shared.queue.lock().unwrap_or_else(|e| e.into_inner())
}

/// The log's sync thread; stops when dropped.
pub(crate) struct Flusher {
    shared: Arc<Shared>,
}

impl Flusher {
    /// Starts the thread that writes `wal`'s staged records.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub(crate) fn start(wal: Arc<Wal>) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        std::thread::Builder::new()
            .name("taskcore-log-sync".into())
            .spawn(move || run(&wal, &theirs))?;
        Ok(Flusher { shared })
    }

    /// Runs `done` once staging `n` (see [`Wal::stage`]) is written and synced, on the sync
    /// thread; stagings are completed in the order they were queued.
    pub(crate) fn when_durable(&self, n: u64, done: impl FnOnce(io::Result<()>) + Send + 'static) {
        lock(&self.shared).waiting.push_back((n, Box::new(done)));
        self.shared.ready.notify_one();
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.ready.notify_one();
    }
}

fn run(wal: &Wal, shared: &Shared) {
    loop {
        let upto = {
            let mut queue = lock(shared);
            while queue.waiting.is_empty() && !queue.stop {
                queue = shared.ready.wait(queue).unwrap_or_else(|e| e.into_inner());
            }
            match queue.waiting.back() {
                Some(&(n, _)) => n,
                None => return,
            }
        };
        // Everything staged so far goes in this write, which covers `upto` and all before it.
        let written = wal.write_through(upto);
        let done: Vec<(u64, Done)> = {
            let mut queue = lock(shared);
            let covered = queue.waiting.iter().take_while(|(n, _)| *n <= upto).count();
            queue.waiting.drain(..covered).collect()
        };
        for (_, f) in done {
            f(match &written {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::super::record::Record;
    use super::*;
    use crate::DiskSync;

    #[test]
    fn every_waiter_is_told_in_order_once_its_records_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        sled::Config::new().path(dir.path()).open().unwrap();
        let sync = Arc::new(DiskSync::open(dir.path()).unwrap());
        let wal = Arc::new(Wal::open(&dir.path().join("log"), sync.clone()).unwrap());
        let flusher = Flusher::start(wal.clone()).unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 1..=50u64 {
            let bytes = format!("entry {i}").into_bytes();
            let n = wal.stage(&[Record::Entry(i, &bytes)]).unwrap();
            let (tx, sync) = (tx.clone(), sync.clone());
            flusher.when_durable(n, move |r| {
                r.unwrap();
                tx.send((i, sync.syncs())).unwrap();
            });
        }
        let told: Vec<(u64, u64)> = (0..50)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(60)).unwrap())
            .collect();
        assert_eq!(
            told.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            (1..=50).collect::<Vec<_>>()
        );
        assert!(told.windows(2).all(|w| w[0].1 <= w[1].1));
        drop(flusher);
        let reopened = Wal::open(&dir.path().join("log"), sync).unwrap();
        assert_eq!(reopened.entries(..).unwrap().len(), 50, "all durable");
    }
}
