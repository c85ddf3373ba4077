//! The Raft log and vote: openraft's `RaftLogStorage` over the log's own files ([`Wal`]).

use std::fmt::Debug;
use std::marker::PhantomData;
use std::ops::RangeBounds;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, Entry, LogId, OptionalSend, RaftLogReader, RaftTypeConfig, StorageError,
    StorageIOError, Vote,
};

use crate::recent::Recent;
use crate::wal::flusher::Flusher;
use crate::wal::record::Record;
use crate::wal::Wal;
use crate::{codec, DiskSync, StateMachine, StoreError};

/// The meta values the log keeps beside its entries.
pub(crate) const VOTE: u8 = 1;
/// The last purged log id.
pub(crate) const LAST_PURGED: u8 = 2;
/// The last committed log id.
pub(crate) const COMMITTED: u8 = 3;

/// The Raft log (each entry bincode-encoded, as it travels to peers) and the Raft meta (vote,
/// last purged and committed log ids), in the log's own files.
pub struct LogStore<C: RaftTypeConfig> {
    wal: Arc<Wal>,
    /// The newest entries, decoded, mirroring the end of `wal` (see [`Recent`]).
    recent: Arc<Mutex<Recent<C>>>,
    /// The thread that writes and syncs what `wal` has staged.
    flusher: Arc<Flusher>,
    /// The state machine, which must be durable in sled before entries are purged: it is
    /// written behind and flushed in the background, and replays from the log after a crash.
    sm: StateMachine,
    sync: Arc<DiskSync>,
    /// The committed log index plus one (0: nothing committed), for readiness checks.
    committed: Arc<AtomicU64>,
    _config: PhantomData<C>,
}

impl<C: RaftTypeConfig> Clone for LogStore<C> {
    fn clone(&self) -> Self {
        LogStore {
            wal: self.wal.clone(),
            recent: self.recent.clone(),
            flusher: self.flusher.clone(),
            sm: self.sm.clone(),
            sync: self.sync.clone(),
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
    C::D: Clone,
{
    /// The log store over `wal`, with its sync thread.
    ///
    /// # Errors
    /// The sync thread cannot be started.
    pub(crate) fn new(
        wal: Arc<Wal>,
        sm: StateMachine,
        sync: Arc<DiskSync>,
    ) -> std::result::Result<Self, StoreError> {
        Ok(LogStore {
            flusher: Arc::new(Flusher::start(wal.clone())?),
            wal,
            recent: Arc::default(),
            sm,
            sync,
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
        key: u8,
    ) -> std::result::Result<Option<T>, StoreError> {
        match self.wal.meta(key) {
            None => Ok(None),
            Some(v) => Ok(Some(codec::decode(&v)?)),
        }
    }

    fn recent(&self) -> MutexGuard<'_, Recent<C>> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stages `records` now (after every append before them) and waits until the log's sync
    /// thread has written and synced them.
    async fn write(&self, records: Vec<OwnedRecord>) -> std::result::Result<(), StoreError> {
        let records: Vec<Record<'_>> = records.iter().map(OwnedRecord::borrow).collect();
        let n = self.wal.stage(&records).map_err(StoreError::Sync)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.flusher.when_durable(n, move |r| {
            let _ = tx.send(r);
        });
        rx.await
            .map_err(|_| StoreError::Sync(std::io::Error::other("the log's sync thread stopped")))?
            .map_err(StoreError::Sync)
    }

    /// Writes what the state machine holds back, flushes sled and makes it durable
    /// (`DiskSync`), on a blocking thread.
    async fn sync_state_machine(&self) -> std::result::Result<(), StoreError> {
        let (sm, sync) = (self.sm.clone(), self.sync.clone());
        tokio::task::spawn_blocking(move || {
            sm.flush()?;
            sync.sync()?;
            Ok::<_, StoreError>(())
        })
        .await
        .map_err(|e| StoreError::Sync(std::io::Error::other(e)))?
    }
}

/// A record with its bytes, to hand to a blocking thread.
enum OwnedRecord {
    Meta(u8, Vec<u8>),
    Truncate(u64),
    Purge(u64),
}

impl OwnedRecord {
    fn borrow(&self) -> Record<'_> {
        match self {
            OwnedRecord::Meta(k, b) => Record::Meta(*k, b),
            OwnedRecord::Truncate(i) => Record::Truncate(*i),
            OwnedRecord::Purge(i) => Record::Purge(*i),
        }
    }
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig<NodeId = u64, Entry = Entry<C>>,
    C::D: Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>> {
        if let Some(entries) = self.recent().get(&range) {
            return Ok(entries);
        }
        let found = self
            .wal
            .entries(range)
            .map_err(|e| StorageIOError::read_logs(io(e)))?;
        let mut out = Vec::with_capacity(found.len());
        for (index, bytes) in found {
            let entry: Entry<C> = codec::decode(&bytes)
                .map_err(|e| StorageIOError::read_log_at_index(index, io(e)))?;
            out.push(entry);
        }
        Ok(out)
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig<NodeId = u64, Entry = Entry<C>>,
    C::D: Clone,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<C>> {
        let last_purged_log_id: Option<LogId<u64>> = self
            .get_meta(LAST_PURGED)
            .map_err(|e| StorageIOError::read_logs(io(e)))?;
        let last = match self
            .wal
            .last_entry()
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
        let bytes = codec::encode(vote).map_err(|e| StorageIOError::write_vote(io(e)))?;
        self.write(vec![OwnedRecord::Meta(VOTE, bytes)])
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
        // Not synced: openraft needs no durable committed index (it only saves re-applying
        // after a restart); it is written with the next append.
        let bytes = codec::encode(&committed).map_err(|e| StorageIOError::write(io(e)))?;
        self.wal
            .write_later(&[Record::Meta(COMMITTED, &bytes)])
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
        let mut encoded = Vec::new();
        for entry in entries {
            let bytes = codec::encode(&entry)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, io(e)))?;
            encoded.push((entry, bytes));
        }
        let records: Vec<Record<'_>> = encoded
            .iter()
            .map(|(entry, bytes)| Record::Entry(entry.log_id.index, bytes))
            .collect();
        // Readable as soon as staged: a leader replicates them while its own sync runs (our
        // openraft patch, vendor/openraft), and counts them once the callback says they are
        // durable. A follower's openraft waits for the callback before it answers.
        let n = self
            .wal
            .stage(&records)
            .map_err(|e| StorageIOError::write_logs(io(StoreError::Sync(e))))?;
        drop(records);
        // After the log has them: a read that misses them here finds them there.
        let mut recent = self.recent();
        for (entry, bytes) in encoded {
            recent.push(entry, bytes.len());
        }
        drop(recent);
        self.flusher
            .when_durable(n, move |r| callback.log_io_completed(r));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<()> {
        // Before the log drops them: a read that misses them here still finds them there.
        self.recent().truncate(log_id.index);
        self.write(vec![OwnedRecord::Truncate(log_id.index)])
            .await
            .map_err(|e| StorageIOError::write_logs(io(e)))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<()> {
        // The state machine (and the snapshot) are in sled, flushed in the background: what
        // the purged entries did must be durable there before the entries are gone.
        self.sync_state_machine()
            .await
            .map_err(|e| StorageIOError::write(io(e)))?;
        let bytes = codec::encode(&log_id).map_err(|e| StorageIOError::write(io(e)))?;
        self.write(vec![
            OwnedRecord::Meta(LAST_PURGED, bytes),
            OwnedRecord::Purge(log_id.index),
        ])
        .await
        .map_err(|e| StorageIOError::write_logs(io(e)))?;
        self.recent().purge(log_id.index);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use openraft::storage::RaftLogStorage;
    use openraft::{CommittedLeaderId, LogId};
    use taskcore_core::{Command, Proposal, Timestamp};

    use crate::Storage;

    use crate::TestConfig;

    #[tokio::test]
    async fn a_purge_waits_until_sled_holds_and_has_synced_what_was_applied() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let mut log: super::LogStore<TestConfig> = storage.log_store().unwrap();
        // Any applied proposal leaves changes to write (the counters and clock at least).
        let cancel = Proposal {
            at: Timestamp(1_700_000_000_000_000),
            cmd: Command::Cancel { id: 1, brand: 1 },
        };
        storage.state_machine().apply_batch(&[cancel]).unwrap();
        let before = storage.syncs();
        log.purge(LogId::new(CommittedLeaderId::new(1, 1), 0))
            .await
            .unwrap();
        assert!(
            storage.state_machine().all_written(),
            "what was applied is in sled before entries leave the log"
        );
        assert_eq!(
            storage.syncs(),
            before + 2,
            "sled's real sync, then the log's own for the purge record"
        );
    }
}
