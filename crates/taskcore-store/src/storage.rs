//! The node's store: one directory holding sled's database (the state machine, which is also
//! the snapshot, and the last snapshot's meta) and the Raft log's own files (`raft-log/`:
//! entries, vote, purge point).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::{Entry, RaftTypeConfig};

use crate::wal::Wal;
use crate::{DiskSync, IdentityStore, LogStore, RaftStore, StateMachine, StoreError};

/// How long opening waits for the directory's lock: a database just closed in this process
/// releases it when sled's flusher thread has noticed, a moment later.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Opens the sled database in `dir`, waiting a little for a lock a closing handle still holds.
pub(crate) fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    let until = Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new().path(dir).open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return Ok(other?),
        }
    }
}

/// Everything a node keeps on disk.
pub struct Storage {
    db: crate::sled_lock::Closing<sled::Db>,
    state_machine: StateMachine,
    sync: Arc<DiskSync>,
    wal: Arc<Wal>,
}

impl Storage {
    /// Opens (or creates) the node's store in `dir` and rebuilds the in-memory state; a Raft
    /// log an earlier version kept in sled moves into the log's own files.
    ///
    /// # Errors
    /// sled or the log cannot open, or a stored record does not decode.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = open_db(dir)?;
        let sync = Arc::new(DiskSync::open(dir)?);
        let wal = Arc::new(crate::log_upgrade::open_log(&db, dir, sync.clone())?);
        let state_machine = StateMachine::open_in(&db)?;
        let log = wal.clone();
        state_machine.set_log_barrier(move || log.flush());
        Ok(Storage {
            db: crate::sled_lock::Closing::new(db),
            state_machine,
            sync,
            wal,
        })
    }

    /// **Tests only**: keep a copy of the database after every sync in `images` (the
    /// power-loss test double: see [`DiskSync::keep_synced_images`]).
    ///
    /// # Errors
    /// The first copy fails.
    pub fn keep_synced_images(&self, images: &Path) -> Result<(), StoreError> {
        Ok(self.sync.keep_synced_images(images.to_path_buf())?)
    }

    /// **Tests only**: every sync waits the milliseconds written in `file` (the slow-disk test
    /// double: see [`DiskSync::delay_syncs_by`]).
    pub fn delay_syncs_by(&self, file: &Path) {
        self.sync.delay_syncs_by(file.to_path_buf());
    }

    /// The state machine, for reads.
    pub fn state_machine(&self) -> &StateMachine {
        &self.state_machine
    }

    /// The Raft log storage.
    ///
    /// # Errors
    /// The log's sync thread cannot be started.
    pub fn log_store<C>(&self) -> Result<LogStore<C>, StoreError>
    where
        C: RaftTypeConfig<NodeId = u64, Entry = Entry<C>>,
        C::D: Clone,
    {
        LogStore::new(
            self.wal.clone(),
            self.state_machine.clone(),
            self.sync.clone(),
        )
    }

    /// The state machine as openraft drives it.
    ///
    /// # Errors
    /// sled cannot open its trees.
    pub fn raft_state_machine<C>(&self) -> Result<RaftStore<C>, StoreError>
    where
        C: RaftTypeConfig<NodeId = u64>,
    {
        RaftStore::open_in(&self.db, self.state_machine.clone())
    }

    /// The record of which cluster this node belongs to.
    ///
    /// # Errors
    /// sled cannot open its tree.
    pub fn identity(&self) -> Result<IdentityStore, StoreError> {
        IdentityStore::open_in(&self.db, self.sync.clone())
    }

    /// Whether this database has never held a Raft log, vote or state (a new node).
    ///
    /// # Errors
    /// sled cannot read.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.wal.is_empty())
    }

    /// Flushes everything to disk.
    ///
    /// # Errors
    /// A storage failure.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.state_machine.flush()?;
        self.sync.sync()?;
        self.wal.flush()?;
        Ok(())
    }

    /// The real syncs run since the store was opened (one per Raft log write an
    /// acknowledgement or a vote rests on, one per durable flush of sled).
    pub fn syncs(&self) -> u64 {
        self.sync.syncs()
    }
}
