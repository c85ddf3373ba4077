//! The state machine as the node holds it: sled underneath, the in-memory state on top.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use taskcore_core::{Index, Outcome, Proposal, Task, TaskId, TaskState, Timestamp};

use crate::records::{read, BatchRecords};
use crate::{codec, keys, StoreError};

/// A cheap, clonable handle on the state machine of a node.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    tree: sled::Tree,
    state: RwLock<TaskState>,
    fault: Mutex<Option<String>>,
}

/// A consistent read of the state: the index and the records agree while it is held.
pub struct StateView<'a> {
    state: RwLockReadGuard<'a, TaskState>,
    tree: &'a sled::Tree,
}

impl StateView<'_> {
    /// The index of every task.
    pub fn index(&self) -> &Index {
        self.state.index()
    }

    /// The full record of a task.
    ///
    /// # Errors
    /// A storage failure or a record that does not decode.
    pub fn task(&self, id: TaskId) -> Result<Option<Task>, StoreError> {
        read(self.tree, &keys::task(id))
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
        let db = sled::Config::new().path(dir).open()?;
        let tree = db.open_tree("state_machine")?;
        let state = load(&tree)?;
        tracing::info!(
            tasks = state.index().len(),
            next_id = state.next_id(),
            "state machine loaded"
        );
        Ok(StateMachine {
            inner: Arc::new(Inner {
                db,
                tree,
                state: RwLock::new(state),
                fault: Mutex::new(None),
            }),
        })
    }

    /// Applies committed proposals in order, writes their changes in one atomic sled batch and
    /// flushes it to disk before returning: what this returns is durable.
    ///
    /// # Errors
    /// A storage failure. After one, the state machine refuses every further batch (the
    /// in-memory state may be ahead of the disk) until the node restarts and reloads.
    pub fn apply_batch(&self, proposals: &[Proposal]) -> Result<Vec<Outcome>, StoreError> {
        let inner = &*self.inner;
        if let Some(fault) = inner
            .fault
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(StoreError::Stopped(fault));
        }
        let mut state = inner.state.write().unwrap_or_else(|e| e.into_inner());
        let result = apply_locked(inner, &mut state, proposals);
        if let Err(e) = &result {
            tracing::error!(error = %e, "storage fault while applying; refusing further writes");
            *inner.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
        }
        result
    }

    /// A consistent read of the state.
    pub fn read(&self) -> StateView<'_> {
        StateView {
            state: self.inner.state.read().unwrap_or_else(|e| e.into_inner()),
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

    /// Flushes everything to disk (at shutdown).
    ///
    /// # Errors
    /// A storage failure.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.db.flush()?;
        Ok(())
    }
}

fn apply_locked(
    inner: &Inner,
    state: &mut TaskState,
    proposals: &[Proposal],
) -> Result<Vec<Outcome>, StoreError> {
    let mut records = BatchRecords::new(&inner.tree);
    let mut outcomes = Vec::with_capacity(proposals.len());
    for p in proposals {
        let outcome = state
            .apply(p, &mut records)
            .map_err(|fault| StoreError::Stopped(fault.0))?;
        outcomes.push(outcome);
    }
    inner
        .tree
        .apply_batch(records.into_batch(state.next_id(), state.last_at())?)?;
    // sled syncs on its own only every 500 ms: an acknowledged write must be on disk now.
    inner.db.flush()?;
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
            idem.push((brand, key, record.at));
        }
    }
    Ok(TaskState::restore(
        next_id,
        Timestamp(last_at as i64),
        tasks,
        idem,
    ))
}

#[cfg(test)]
mod tests;
