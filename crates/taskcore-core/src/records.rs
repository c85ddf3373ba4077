//! The seam between the pure state machine and storage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{BrandId, Task, TaskId, Timestamp};

/// A storage failure while applying: the node cannot go on applying and must stop.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("storage fault: {0}")]
pub struct StorageFault(pub String);

/// What an idempotency key remembers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The task the first request created.
    pub task: TaskId,
    /// Digest of the first request's body.
    pub digest: u64,
    /// When the first request was applied.
    pub at: Timestamp,
}

/// Full task records and idempotency keys, as the state machine reads and writes them.
///
/// Writes are buffered by the implementation and made durable together after a batch of
/// commands; reads see the batch's own earlier writes.
pub trait Records {
    /// The task with this id.
    ///
    /// # Errors
    /// A storage failure.
    fn task(&self, id: TaskId) -> Result<Option<Task>, StorageFault>;
    /// Stores (creates or replaces) a task.
    fn put_task(&mut self, task: &Task);
    /// Removes a task.
    fn delete_task(&mut self, id: TaskId);
    /// The record of an idempotency key in a brand.
    ///
    /// # Errors
    /// A storage failure.
    fn idempotency(
        &self,
        brand: BrandId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StorageFault>;
    /// Stores an idempotency key.
    fn put_idempotency(&mut self, brand: BrandId, key: &str, record: &IdempotencyRecord);
    /// Forgets an idempotency key.
    fn delete_idempotency(&mut self, brand: BrandId, key: &str);

    /// Writes a periodic task (they are read from memory, never from here).
    fn put_periodic(&mut self, p: &crate::PeriodicTask);

    /// Deletes a periodic task.
    fn delete_periodic(&mut self, id: crate::PeriodicId);
}

/// Records in memory, for tests, benchmarks and property checks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemRecords {
    /// Tasks by id.
    pub tasks: BTreeMap<TaskId, Task>,
    /// Idempotency keys by brand and key.
    pub keys: BTreeMap<(BrandId, String), IdempotencyRecord>,
    /// Periodic tasks by id.
    pub periodic: BTreeMap<crate::PeriodicId, crate::PeriodicTask>,
}

impl Records for MemRecords {
    fn task(&self, id: TaskId) -> Result<Option<Task>, StorageFault> {
        Ok(self.tasks.get(&id).cloned())
    }
    fn put_task(&mut self, task: &Task) {
        self.tasks.insert(task.id, task.clone());
    }
    fn delete_task(&mut self, id: TaskId) {
        self.tasks.remove(&id);
    }
    fn idempotency(
        &self,
        brand: BrandId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StorageFault> {
        Ok(self.keys.get(&(brand, key.to_owned())).cloned())
    }
    fn put_idempotency(&mut self, brand: BrandId, key: &str, record: &IdempotencyRecord) {
        self.keys.insert((brand, key.to_owned()), record.clone());
    }
    fn delete_idempotency(&mut self, brand: BrandId, key: &str) {
        self.keys.remove(&(brand, key.to_owned()));
    }

    fn put_periodic(&mut self, p: &crate::PeriodicTask) {
        self.periodic.insert(p.id, p.clone());
    }

    fn delete_periodic(&mut self, id: crate::PeriodicId) {
        self.periodic.remove(&id);
    }
}
