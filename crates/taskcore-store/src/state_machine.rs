//! The state machine as the node holds it: sled underneath, the in-memory state on top.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use taskcore_core::{Index, LeaseEntry, Outcome, Proposal, Task, TaskId, TaskState, Timestamp};
use tokio::sync::broadcast;

use crate::execution_stats::ExecutionStats;
use crate::records::{read, BatchRecords};
use crate::sled_lock::Closing;
use crate::write_behind::{Unwritten, Writer};
use crate::{codec, keys, StoreError};

/// The leases changed by one applied batch: each task once, with its lease now (`None`: it
/// holds none any more).
pub type LeaseChanges = Arc<[(TaskId, Option<LeaseEntry>)]>;

/// What the state machine tells the leader's scheduler after applying a batch.
#[derive(Clone, Debug)]
pub enum StateEvent {
    /// Leases granted, renewed or ended by one batch.
    Changed(LeaseChanges),
    /// Periodic tasks were created, changed, deleted or fired: read them again.
    PeriodicChanged,
    /// The whole state was replaced (a snapshot was installed): read everything again.
    Replaced,
}

/// Lease events buffered for a slow listener; one that falls further behind reads every
/// lease again.
const LEASE_EVENTS: usize = 4096;

/// A cheap, clonable handle on the state machine of a node.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

struct Inner {
    /// Bumped after every applied batch, for those who wait for a change (long polls).
    changes: tokio::sync::watch::Sender<u64>,
    /// The leases each batch changed, for the leader's scheduler.
    leases: broadcast::Sender<StateEvent>,
    /// Execution figures for `/metrics`.
    stats: ExecutionStats,
    db: Closing<sled::Db>,
    tree: Closing<sled::Tree>,
    state: RwLock<Held>,
    fault: Mutex<Option<String>>,
    /// The thread that writes applied changes to sled.
    writer: Arc<Writer>,
    /// Held by whoever writes to the tree (the writer, a snapshot install) and whoever reads
    /// all of it (a snapshot, a backup): one at a time, in order.
    sled_order: Mutex<()>,
    /// Makes the Raft log durable up to every entry staged so far: run before applied changes
    /// go to sled, which must never hold the effect of an entry the log could lose (a leader
    /// applies entries its followers made durable while its own sync may still be running).
    log_barrier: std::sync::OnceLock<LogBarrier>,
}

/// See `Inner::log_barrier`.
type LogBarrier = Box<dyn Fn() -> std::io::Result<()> + Send + Sync>;

/// The in-memory state and the changes not yet written to sled, which agree with each other.
struct Held {
    state: TaskState,
    unwritten: Unwritten,
}

impl Inner {
    /// Writes the changes that wait to sled (the writer thread's work).
    fn write_out(&self) -> Result<(), StoreError> {
        let _order = self.sled_order.lock().unwrap_or_else(|e| e.into_inner());
        let frozen = {
            let mut held = self.state.write().unwrap_or_else(|e| e.into_inner());
            if held.unwritten.waiting.is_empty() {
                return Ok(());
            }
            let frozen = Arc::new(std::mem::take(&mut held.unwritten.waiting));
            held.unwritten.writing = Some(frozen.clone());
            frozen
        };
        // Every entry whose changes are frozen here was staged in the log before it was
        // applied: once the log is durable that far, sled may have them.
        let durable = self.log_barrier.get().map_or(Ok(()), |barrier| barrier());
        let written = match durable {
            Ok(()) => frozen.write_to(&self.tree).map_err(StoreError::from),
            Err(e) => Err(StoreError::Sync(e)),
        };
        let mut held = self.state.write().unwrap_or_else(|e| e.into_inner());
        match written {
            Ok(()) => {
                if held
                    .unwritten
                    .writing
                    .as_ref()
                    .is_some_and(|w| Arc::ptr_eq(w, &frozen))
                {
                    held.unwritten.writing = None;
                }
                Ok(())
            }
            Err(e) => {
                // The changes stay readable where they are; nothing more is applied.
                tracing::error!(error = %e, "storage fault while writing applied changes; refusing further writes");
                *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                Err(e)
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // What was not written is not written now: a drop may run anywhere, the writer
        // thread included. A clean stop writes it first (`Storage::flush`); otherwise this is
        // a crash, which the Raft log's replay covers.
        self.writer.close();
    }
}

/// A consistent read of the state: the index and the records agree while it is held.
pub struct StateView<'a> {
    held: RwLockReadGuard<'a, Held>,
    tree: &'a sled::Tree,
}

impl StateView<'_> {
    /// The index of every task.
    pub fn index(&self) -> &Index {
        self.held.state.index()
    }

    /// Every periodic task, by id.
    pub fn periodic(&self) -> &std::collections::BTreeMap<u64, taskcore_core::PeriodicTask> {
        self.held.state.periodic()
    }

    /// How many periodic tasks `brand` has.
    pub fn periodic_count(&self, brand: taskcore_core::BrandId) -> usize {
        self.held.state.periodic_count(brand)
    }

    /// Per priority, the brand a lease served last.
    pub fn turns(&self) -> [taskcore_core::BrandId; 4] {
        self.held.state.turns()
    }

    /// When a purge keeping finished tasks `keep` could first delete something (see
    /// [`taskcore_core::TaskState::purge_due_at`]).
    pub fn purge_due_at(&self, keep: std::time::Duration) -> Option<Timestamp> {
        self.held.state.purge_due_at(keep)
    }

    /// The full record of a task.
    ///
    /// # Errors
    /// A storage failure or a record that does not decode.
    pub fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        read(self.tree, &self.held.unwritten, &keys::task(id))
    }

    /// The full records of these tasks, in the same order; ids without a record are skipped.
    ///
    /// # Errors
    /// A storage failure or a record that does not decode.
    pub fn tasks(&self, ids: &[TaskId]) -> Result<Vec<Task>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(t) = self.task(id)? {
                out.push(t);
            }
        }
        Ok(out)
    }
}

impl StateMachine {
    /// Opens (or creates) the store in `dir` and rebuilds the in-memory state from it.
    ///
    /// # Errors
    /// sled cannot open the directory, or a stored record does not decode.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = crate::storage::open_db(dir)?;
        Self::open_in(&db)
    }

    /// Opens the state machine in an open database.
    pub(crate) fn open_in(db: &sled::Db) -> Result<Self, StoreError> {
        let tree = db.open_tree("state_machine")?;
        let mut state = load(&tree)?;
        // Whoever leads reads every lease when it starts; the journal starts empty.
        state.take_lease_changes();
        tracing::info!(
            tasks = state.index().len(),
            next_id = state.next_id(),
            "state machine loaded"
        );
        let writer = Arc::new(Writer::default());
        let inner = Arc::new(Inner {
            changes: tokio::sync::watch::Sender::new(0),
            leases: broadcast::Sender::new(LEASE_EVENTS),
            stats: ExecutionStats::default(),
            db: Closing::new(db.clone()),
            tree: Closing::new(tree),
            state: RwLock::new(Held {
                state,
                unwritten: Unwritten::default(),
            }),
            fault: Mutex::new(None),
            writer: writer.clone(),
            sled_order: Mutex::new(()),
            log_barrier: std::sync::OnceLock::new(),
        });
        let owner = Arc::downgrade(&inner);
        writer.start(move || {
            let inner = owner.upgrade()?;
            Some(inner.write_out().map_err(|e| e.to_string()))
        })?;
        Ok(StateMachine { inner })
    }

    /// Sets what makes the Raft log durable up to every staged entry, run before applied
    /// changes are written to sled (once; later calls change nothing).
    pub(crate) fn set_log_barrier(
        &self,
        barrier: impl Fn() -> std::io::Result<()> + Send + Sync + 'static,
    ) {
        let _ = self.inner.log_barrier.set(Box::new(barrier));
    }

    /// Applies committed proposals in order; their changes wait with those of the batches
    /// before for the writer thread, which writes them to sled in one atomic batch (see
    /// `write_behind`).
    ///
    /// Nothing is flushed here: what it applies is durable already, in a majority's Raft logs,
    /// and the writer makes this node's log durable that far before sled gets it. A crash
    /// before sled has written and flushed it leaves the state machine at an earlier applied
    /// index, from which the log is applied again (sled recovers a prefix of its writes, each
    /// batch whole).
    ///
    /// # Errors
    /// A storage failure. After one, the state machine refuses every further batch (the
    /// in-memory state may be ahead of the disk) until the node restarts and reloads.
    pub fn apply_batch(&self, proposals: &[Proposal]) -> Result<Vec<Outcome>, StoreError> {
        let items: Vec<Option<&Proposal>> = proposals.iter().map(Some).collect();
        let outcomes = self.apply_entries(&items, Vec::new())?;
        Ok(outcomes.into_iter().flatten().collect())
    }

    /// Applies a batch of log entries — a proposal, or `None` for an entry that carries none —
    /// and writes `meta` (the last applied log id, the membership) with their changes (not
    /// flushed: see [`StateMachine::apply_batch`]).
    ///
    /// # Errors
    /// As [`StateMachine::apply_batch`].
    pub(crate) fn apply_entries(
        &self,
        items: &[Option<&Proposal>],
        meta: Vec<(&'static [u8], Vec<u8>)>,
    ) -> Result<Vec<Option<Outcome>>, StoreError> {
        let inner = &*self.inner;
        if let Some(fault) = self.fault() {
            return Err(StoreError::Stopped(fault));
        }
        let mut held = inner.state.write().unwrap_or_else(|e| e.into_inner());
        let result = apply_locked(inner, &mut held, items, meta);
        let (due, overfull) = (
            held.unwritten.waiting.due(),
            held.unwritten.waiting.overfull(),
        );
        drop(held);
        inner.changes.send_modify(|n| *n = n.wrapping_add(1));
        if let Err(e) = &result {
            tracing::error!(error = %e, "storage fault while applying; refusing further writes");
            *inner.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
        }
        if overfull {
            // sled is not keeping up: wait for it rather than hold ever more in memory.
            self.write_behind()?;
        } else if due {
            inner.writer.nudge();
        }
        result
    }

    /// A receiver of the lease and periodic-task changes of every batch applied from now on.
    pub fn state_events(&self) -> broadcast::Receiver<StateEvent> {
        self.inner.leases.subscribe()
    }

    /// Execution figures counted while applying.
    pub fn execution_stats(&self) -> &ExecutionStats {
        &self.inner.stats
    }

    /// A receiver that sees a new value after every applied batch.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Several meta values read together: all as of one applied batch.
    pub(crate) fn metas<const N: usize>(
        &self,
        keys: [&[u8]; N],
    ) -> Result<[Option<Vec<u8>>; N], StoreError> {
        let held = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        let mut out = [const { None }; N];
        for (slot, key) in out.iter_mut().zip(keys) {
            *slot = match held.unwritten.get(key) {
                Some(v) => v.map(<[u8]>::to_vec),
                None => self.inner.tree.get(key)?.map(|v| v.to_vec()),
            };
        }
        Ok(out)
    }

    /// Whether the state machine holds nothing at all.
    ///
    /// # Errors
    /// A storage failure.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let held = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        Ok(held.unwritten.is_empty() && self.inner.tree.is_empty())
    }

    /// Waits until sled holds every change applied before the call (not flushed).
    ///
    /// # Errors
    /// A write failed; the state machine has stopped, as after a failed apply.
    pub(crate) fn write_behind(&self) -> Result<(), StoreError> {
        self.inner.writer.drain().map_err(StoreError::Stopped)
    }

    /// **Tests only**: whether sled holds every change applied so far.
    #[cfg(test)]
    pub(crate) fn all_written(&self) -> bool {
        let held = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        held.unwritten.is_empty()
    }

    /// Every key and value of the state machine as sled holds it once every change applied
    /// before the call is written: one applied log id's state (for a snapshot, a backup).
    pub(crate) fn export(&self) -> Result<crate::KeyValues, StoreError> {
        self.write_behind()?;
        let _order = self
            .inner
            .sled_order
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for item in self.inner.tree.iter() {
            let (k, v) = item?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Replaces every key and value of the state machine (installing a snapshot), flushes, and
    /// rebuilds the in-memory state from them.
    pub(crate) fn import(&self, kvs: crate::KeyValues) -> Result<(), StoreError> {
        let inner = &*self.inner;
        let _order = inner.sled_order.lock().unwrap_or_else(|e| e.into_inner());
        let mut held = inner.state.write().unwrap_or_else(|e| e.into_inner());
        // Everything is replaced: what waits to be written is part of what goes.
        held.unwritten = Unwritten::default();
        let mut batch = sled::Batch::default();
        for item in inner.tree.iter() {
            batch.remove(item?.0);
        }
        for (k, v) in kvs {
            batch.insert(k, v);
        }
        // A sled batch is atomic: if it fails, disk and memory still hold the old state.
        crate::sled_lock::apply_batch(&inner.tree, batch)?;
        // From here the disk holds the snapshot: memory must follow, or the node must stop
        // serving (a fault) rather than answer from a state that is no longer the disk's.
        let replaced = crate::sled_lock::flush(&inner.db)
            .map_err(StoreError::from)
            .and_then(|_| load(&inner.tree));
        match replaced {
            Ok(new) => held.state = new,
            Err(e) => {
                tracing::error!(error = %e, "a snapshot install failed half-way; refusing further requests");
                *inner.fault.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("snapshot install failed: {e}"));
                return Err(e);
            }
        }
        held.state.take_lease_changes();
        let _ = inner.leases.send(StateEvent::Replaced);
        tracing::info!(
            tasks = held.state.index().len(),
            "state machine replaced from a snapshot"
        );
        Ok(())
    }

    /// A consistent read of the state.
    pub fn read(&self) -> StateView<'_> {
        StateView {
            held: self.inner.state.read().unwrap_or_else(|e| e.into_inner()),
            tree: &self.inner.tree,
        }
    }

    /// The fault that stopped the state machine, if any.
    pub fn fault(&self) -> Option<String> {
        self.inner
            .fault
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Writes what waits and flushes sled (not a durable sync: see `DiskSync`).
    ///
    /// # Errors
    /// A storage failure.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.write_behind()?;
        crate::sled_lock::flush(&self.inner.db)?;
        Ok(())
    }
}

fn apply_locked(
    inner: &Inner,
    held: &mut Held,
    items: &[Option<&Proposal>],
    meta: Vec<(&'static [u8], Vec<u8>)>,
) -> Result<Vec<Option<Outcome>>, StoreError> {
    let Held { state, unwritten } = held;
    let mut records = BatchRecords::new(&inner.tree, unwritten);
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let outcome = match item {
            Some(p) => Some(
                state
                    .apply(p, &mut records)
                    .map_err(|f| StoreError::Stopped(f.0))?,
            ),
            None => None,
        };
        outcomes.push(outcome);
    }
    let periodic_changed = records.changed_periodic();
    let writes = records.into_writes(state)?;
    for (k, v) in writes {
        unwritten.waiting.put(k, v);
    }
    for (k, v) in meta {
        unwritten.waiting.put(k.to_vec(), Some(v));
    }
    for outcome in outcomes.iter().flatten() {
        inner.stats.count(outcome);
    }
    // Nobody listening (a follower) is fine: the leader's scheduler reads everything when it
    // starts.
    let changes = state.take_lease_changes();
    if !changes.is_empty() {
        let _ = inner.leases.send(StateEvent::Changed(changes.into()));
    }
    if periodic_changed {
        let _ = inner.leases.send(StateEvent::PeriodicChanged);
    }
    Ok(outcomes)
}

fn load(tree: &sled::Tree) -> Result<TaskState, StoreError> {
    let next_id = tree
        .get(keys::NEXT_ID)?
        .and_then(|v| keys::u64_value(&v))
        .unwrap_or(1);
    let last_at = tree
        .get(keys::LAST_AT)?
        .and_then(|v| keys::u64_value(&v))
        .unwrap_or(0);
    let mut tasks = Vec::new();
    for item in tree.scan_prefix([keys::TASK]) {
        let (k, v) = item?;
        let task: Task = codec::decode(&v).map_err(|source| StoreError::Corrupt {
            key: format!("{k:?}"),
            source,
        })?;
        tasks.push(task);
    }
    let mut idem = Vec::new();
    for item in tree.scan_prefix([keys::IDEMPOTENCY]) {
        let (k, v) = item?;
        let corrupt = |source| StoreError::Corrupt {
            key: format!("{k:?}"),
            source,
        };
        let record: taskcore_core::IdempotencyRecord = codec::decode(&v).map_err(corrupt)?;
        if let Some((brand, key)) = keys::parse_idempotency(&k) {
            idem.push((brand, key, record.at, record.task));
        }
    }
    let mut state = TaskState::restore(next_id, Timestamp(last_at as i64), tasks, idem);
    let mut periodic = Vec::new();
    for item in tree.scan_prefix([keys::PERIODIC]) {
        let (k, v) = item?;
        periodic.push(codec::decode(&v).map_err(|source| StoreError::Corrupt {
            key: format!("{k:?}"),
            source,
        })?);
    }
    let next_periodic_id = tree
        .get(keys::NEXT_PERIODIC_ID)?
        .and_then(|v| keys::u64_value(&v))
        .unwrap_or(1);
    state.set_periodic(next_periodic_id, periodic);
    if let Some(v) = tree.get(keys::TURNS)? {
        let mut turns = [0u64; 4];
        for (turn, chunk) in turns.iter_mut().zip(v.chunks_exact(8)) {
            *turn = keys::u64_value(chunk).unwrap_or(0);
        }
        state.set_turns(turns);
    }
    Ok(state)
}

#[cfg(test)]
mod tests;
