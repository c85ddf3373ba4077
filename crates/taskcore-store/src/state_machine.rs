//! The state machine as the node holds it: sled underneath, the in-memory state on top.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use taskcore_core::{Index, LeaseEntry, Outcome, Proposal, Task, TaskId, TaskState, Timestamp};
use tokio::sync::broadcast;

use crate::execution_stats::ExecutionStats;
use crate::records::{read, BatchRecords};
use crate::write_behind::WriteBehind;
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
    db: sled::Db,
    tree: sled::Tree,
    state: RwLock<Held>,
    fault: Mutex<Option<String>>,
}

/// The in-memory state and the changes not yet written to sled, which agree with each other.
struct Held {
    state: TaskState,
    behind: WriteBehind,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A clean stop writes what waits (sled flushes it as it closes); a failure here is
        // one more crash, which the Raft log's replay covers.
        let held = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = held.behind.write_to(&self.tree) {
            tracing::warn!(error = %e, "the last applied changes were not written at close");
        }
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
        read(self.tree, &self.held.behind, &keys::task(id))
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
        Ok(StateMachine {
            inner: Arc::new(Inner {
                changes: tokio::sync::watch::Sender::new(0),
                leases: broadcast::Sender::new(LEASE_EVENTS),
                stats: ExecutionStats::default(),
                db: db.clone(),
                tree,
                state: RwLock::new(Held {
                    state,
                    behind: WriteBehind::default(),
                }),
                fault: Mutex::new(None),
            }),
        })
    }

    /// Applies committed proposals in order; their changes wait with those of the batches
    /// before to be written to sled in one atomic batch (see `write_behind`).
    ///
    /// Nothing is flushed here: what it applies is durable already, in the Raft log. A crash
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
        let mut result = apply_locked(inner, &mut held, items, meta);
        if result.is_ok() && held.behind.due() {
            if let Err(e) = held.behind.write_to(&inner.tree) {
                result = Err(e.into());
            }
        }
        drop(held);
        inner.changes.send_modify(|n| *n = n.wrapping_add(1));
        if let Err(e) = &result {
            tracing::error!(error = %e, "storage fault while applying; refusing further writes");
            *inner.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
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

    /// A meta value of the state machine (such as the last applied log id).
    pub(crate) fn meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let held = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        match held.behind.get(key) {
            Some(v) => Ok(v.map(<[u8]>::to_vec)),
            None => Ok(self.inner.tree.get(key)?.map(|v| v.to_vec())),
        }
    }

    /// Whether the state machine holds nothing at all.
    ///
    /// # Errors
    /// A storage failure.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        let held = self.inner.state.read().unwrap_or_else(|e| e.into_inner());
        Ok(held.behind.is_empty() && self.inner.tree.is_empty())
    }

    /// Writes the changes that wait to sled (not flushed).
    ///
    /// # Errors
    /// A storage failure; the state machine then stops, as after a failed apply.
    pub(crate) fn write_behind(&self) -> Result<(), StoreError> {
        let mut held = self.inner.state.write().unwrap_or_else(|e| e.into_inner());
        self.write_held(&mut held)
    }

    fn write_held(&self, held: &mut Held) -> Result<(), StoreError> {
        if let Err(e) = held.behind.write_to(&self.inner.tree) {
            tracing::error!(error = %e, "storage fault while writing applied changes; refusing further writes");
            *self.inner.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
            return Err(e.into());
        }
        Ok(())
    }

    /// Every key and value of the state machine, read consistently (for a snapshot).
    pub(crate) fn export(&self) -> Result<crate::KeyValues, StoreError> {
        let mut held = self.inner.state.write().unwrap_or_else(|e| e.into_inner());
        self.write_held(&mut held)?;
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
        let mut held = inner.state.write().unwrap_or_else(|e| e.into_inner());
        // Everything is replaced: what waits to be written is part of what goes.
        held.behind.clear();
        let mut batch = sled::Batch::default();
        for item in inner.tree.iter() {
            batch.remove(item?.0);
        }
        for (k, v) in kvs {
            batch.insert(k, v);
        }
        // A sled batch is atomic: if it fails, disk and memory still hold the old state.
        inner.tree.apply_batch(batch)?;
        // From here the disk holds the snapshot: memory must follow, or the node must stop
        // serving (a fault) rather than answer from a state that is no longer the disk's.
        let replaced = inner
            .db
            .flush()
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
        self.inner.db.flush()?;
        Ok(())
    }
}

fn apply_locked(
    inner: &Inner,
    held: &mut Held,
    items: &[Option<&Proposal>],
    meta: Vec<(&'static [u8], Vec<u8>)>,
) -> Result<Vec<Option<Outcome>>, StoreError> {
    let Held { state, behind } = held;
    let mut records = BatchRecords::new(&inner.tree, behind);
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
        behind.put(k, v);
    }
    for (k, v) in meta {
        behind.put(k.to_vec(), Some(v));
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
