//! The Raft log and vote in sled: openraft's `RaftLogStorage`.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, Entry, LogId, OptionalSend, RaftLogReader, RaftTypeConfig, StorageError,
    StorageIOError, Vote,
};

use crate::{codec, DiskSync, StoreError};

const VOTE: &[u8] = b"vote";
const LAST_PURGED: &[u8] = b"last_purged";
const COMMITTED: &[u8] = b"committed";

/// The Raft log (one entry per big-endian index, so that key order is log order) and the Raft
/// meta (vote, last purged and committed log ids), each in its own tree of the node's database.
pub struct LogStore<C> {
    db: sled::Db,
    /// The real sync after each flush (sled's own is not durable).
    sync: Arc<DiskSync>,
    log: sled::Tree,
    meta: sled::Tree,
    /// The committed log index plus one (0: nothing committed), for readiness checks.
    committed: Arc<AtomicU64>,
    _config: PhantomData<C>,
}

impl<C> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        LogStore {
            db: self.db.clone(),
            sync: self.sync.clone(),
            log: self.log.clone(),
            meta: self.meta.clone(),
            committed: self.committed.clone(),
            _config: PhantomData,
        }
    }
}

type Result<T> = std::result::Result<T, StorageError<u64>>;

fn io(e: impl Into<StoreError>) -> AnyError {
    let e: StoreError = e.into();
    AnyError::new(&e)
}

impl<C> LogStore<C>
where
    C: RaftTypeConfig<NodeId = u64, Entry = Entry<C>>,
{
    pub(crate) fn open_in(
        db: &sled::Db,
        sync: Arc<DiskSync>,
    ) -> std::result::Result<Self, StoreError> {
        Ok(LogStore {
            db: db.clone(),
            sync,
            log: db.open_tree("raft_log")?,
            meta: db.open_tree("raft_meta")?,
            committed: Arc::default(),
            _config: PhantomData,
        })
    }

    /// The committed log index as last saved by openraft, plus one (0 when nothing is
    /// committed yet); shared, so that the node can tell whether it has applied what it
    /// committed.
    pub fn committed_index(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> std::result::Result<Option<T>, StoreError> {
        match self.meta.get(key)? {
            None => Ok(None),
            Some(v) => Ok(Some(codec::decode(&v)?)),
        }
    }

    fn put_meta<T: serde::Serialize>(
        &self,
        key: &[u8],
        value: &T,
    ) -> std::result::Result<(), StoreError> {
        self.meta.insert(key, codec::encode(value)?)?;
        Ok(())
    }

    /// Removes these entries in one batch and flushes.
    async fn remove_entries(&self, entries: sled::Iter) -> Result<()> {
        let mut batch = sled::Batch::default();
        for item in entries {
            batch.remove(item.map_err(|e| StorageIOError::write_logs(io(e)))?.0);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(io(e)))?;
        self.flush()
            .await
            .map_err(|e| StorageIOError::write_logs(io(e)))?;
        Ok(())
    }

    /// Flushes sled, then makes what it wrote durable (`DiskSync`): what openraft counts, and
    /// every vote, rests on a real sync. Both run in one blocking task: a write's latency pays
    /// one hand-off to a thread and back, not one to sled's pool and another to tokio's.
    async fn flush(&self) -> std::result::Result<(), StoreError> {
        let (db, sync) = (self.db.clone(), self.sync.clone());
        tokio::task::spawn_blocking(move || {
            db.flush()?;
            sync.sync()?;
            Ok::<_, StoreError>(())
        })
        .await
        .map_err(|e| StoreError::Sync(std::io::Error::other(e)))?
    }
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig<NodeId = u64, Entry = Entry<C>>,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        for item in self.log.range(start.to_be_bytes()..) {
            let (k, v) = item.map_err(|e| StorageIOError::read_logs(io(e)))?;
            let index = crate::keys::u64_value(&k).unwrap_or(u64::MAX);
            if !range.contains(&index) {
                break;
            }
            let entry: Entry<C> =
                codec::decode(&v).map_err(|e| StorageIOError::read_log_at_index(index, io(e)))?;
            out.push(entry);
        }
        Ok(out)
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig<NodeId = u64, Entry = Entry<C>>,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>> {
        let last_purged_log_id: Option<LogId<u64>> = self
            .get_meta(LAST_PURGED)
            .map_err(|e| StorageIOError::read_logs(io(e)))?;
        let last = match self
            .log
            .last()
            .map_err(|e| StorageIOError::read_logs(io(e)))?
        {
            None => None,
            Some((_, v)) => {
                let entry: Entry<C> =
                    codec::decode(&v).map_err(|e| StorageIOError::read_logs(io(e)))?;
                Some(entry.log_id)
            }
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last.or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<()> {
        self.put_meta(VOTE, vote)
            .map_err(|e| StorageIOError::write_vote(io(e)))?;
        self.flush()
            .await
            .map_err(|e| StorageIOError::write_vote(io(e)))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>> {
        Ok(self
            .get_meta(VOTE)
            .map_err(|e| StorageIOError::read_vote(io(e)))?)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<()> {
        self.put_meta(COMMITTED, &committed)
            .map_err(|e| StorageIOError::write(io(e)))?;
        self.committed
            .store(committed.map_or(0, |c| c.index + 1), Ordering::Release);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>> {
        let committed = self
            .get_meta::<Option<LogId<u64>>>(COMMITTED)
            .map_err(|e| StorageIOError::read(io(e)))?
            .flatten();
        self.committed
            .store(committed.map_or(0, |c| c.index + 1), Ordering::Release);
        Ok(committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<C>) -> Result<()>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = codec::encode(&entry)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, io(e)))?;
            batch.insert(&entry.log_id.index.to_be_bytes()[..], bytes);
        }
        self.log
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(io(e)))?;
        // The entries are readable now; they are durable once flushed, which is when openraft
        // may count them.
        let flushed = self.flush().await;
        callback.log_io_completed(flushed.map_err(|e| std::io::Error::other(e.to_string())));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<()> {
        let from = log_id.index.to_be_bytes();
        self.remove_entries(self.log.range(from..)).await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<()> {
        // Record the purge first: a crash in between leaves entries below it, never a hole.
        self.put_meta(LAST_PURGED, &log_id)
            .map_err(|e| StorageIOError::write(io(e)))?;
        self.flush()
            .await
            .map_err(|e| StorageIOError::write(io(e)))?;
        let upto = log_id.index.to_be_bytes();
        self.remove_entries(self.log.range(..=upto)).await
    }
}
