//! The attempts that hold a lease, as the leader's scheduler needs them: which lease, when it
//! runs out, when the attempt times out. Kept in step by `apply` like the rest of the index,
//! with a journal of the tasks whose entry changed, drained after every applied batch.

use std::collections::BTreeMap;

use crate::{AttemptOutcome, Priority, Status, Task, TaskId, Timestamp};

/// One lease as the scheduler tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseEntry {
    /// The fencing token of the attempt.
    pub lease_id: String,
    /// The task's priority: which queue supervises the attempt.
    pub priority: Priority,
    /// When the lease runs out unless a heartbeat renews it.
    pub expires_at: Timestamp,
    /// When the attempt has run `timeout_minutes`; `None` once the task is no longer running
    /// (cancelled): only the lease keeps it then, so that its holder hears of the cancel.
    pub timeout_at: Option<Timestamp>,
}

impl LeaseEntry {
    /// The entry of a task that holds a lease.
    pub fn of(task: &Task) -> Option<LeaseEntry> {
        let lease = task.lease.as_ref()?;
        let timeout_at = (task.status == Status::Running).then(|| {
            let started = task.started_at.unwrap_or(task.updated_at);
            started.plus_micros(i64::from(task.timeout_minutes) * 60_000_000)
        });
        Some(LeaseEntry {
            lease_id: lease.id.clone(),
            priority: task.priority,
            expires_at: lease.expires_at,
            timeout_at,
        })
    }

    /// When the attempt ends unless something changes, and how.
    pub fn due(&self) -> (Timestamp, AttemptOutcome) {
        match self.timeout_at {
            Some(t) if t < self.expires_at => (t, AttemptOutcome::TimedOut),
            _ => (self.expires_at, AttemptOutcome::LeaseExpired),
        }
    }
}

/// Every live lease, and the tasks whose lease changed since the journal was last drained.
#[derive(Clone, Debug, Default)]
pub(crate) struct Leases {
    entries: BTreeMap<TaskId, LeaseEntry>,
    changed: Vec<TaskId>,
}

/// The journal is not part of the value: two indexes with the same leases are equal.
impl PartialEq for Leases {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Leases {
    /// Records the lease of task `id` (`None`: it holds none).
    pub(crate) fn set(&mut self, id: TaskId, entry: Option<LeaseEntry>) {
        let changed = match entry {
            Some(e) => self.entries.insert(id, e.clone()).as_ref() != Some(&e),
            None => self.entries.remove(&id).is_some(),
        };
        if changed {
            self.changed.push(id);
        }
    }

    pub(crate) fn get(&self, id: TaskId) -> Option<&LeaseEntry> {
        self.entries.get(&id)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (TaskId, &LeaseEntry)> {
        self.entries.iter().map(|(&id, e)| (id, e))
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The tasks whose lease changed since the last call, each once, with its entry now.
    pub(crate) fn take_changes(&mut self) -> Vec<(TaskId, Option<LeaseEntry>)> {
        let mut ids = std::mem::take(&mut self.changed);
        ids.sort_unstable();
        ids.dedup();
        ids.into_iter()
            .map(|id| (id, self.entries.get(&id).cloned()))
            .collect()
    }
}
