//! The state machine's view of sled while it applies a batch: reads fall through a write
//! overlay to the tree, writes wait in the overlay until the batch is committed at once.

use std::collections::HashMap;

use taskcore_core::{
    BrandId, IdempotencyRecord, PeriodicId, PeriodicTask, Records, StorageFault, Task, TaskId,
    TaskState,
};

use crate::{codec, keys, StoreError};

/// Pending writes of one apply batch over the state-machine tree.
pub(crate) struct BatchRecords<'a> {
    tree: &'a sled::Tree,
    tasks: HashMap<TaskId, Option<Task>>,
    keys: HashMap<(BrandId, String), Option<IdempotencyRecord>>,
    periodic: HashMap<PeriodicId, Option<PeriodicTask>>,
}

impl<'a> BatchRecords<'a> {
    pub(crate) fn new(tree: &'a sled::Tree) -> Self {
        BatchRecords {
            tree,
            tasks: HashMap::new(),
            keys: HashMap::new(),
            periodic: HashMap::new(),
        }
    }

    /// Whether the batch changed a periodic task (the leader's scheduler then looks again).
    pub(crate) fn changed_periodic(&self) -> bool {
        !self.periodic.is_empty()
    }

    /// Turns the pending writes and the state's counters, clock and turns into one sled batch.
    pub(crate) fn into_batch(self, state: &TaskState) -> Result<sled::Batch, StoreError> {
        let (next_id, last_at, turns) = (state.next_id(), state.last_at(), state.turns());
        let mut batch = sled::Batch::default();
        for (id, task) in self.tasks {
            match task {
                Some(t) => batch.insert(&keys::task(id)[..], codec::encode(&t)?),
                None => batch.remove(&keys::task(id)[..]),
            }
        }
        for ((brand, key), record) in self.keys {
            match record {
                Some(r) => batch.insert(keys::idempotency(brand, &key), codec::encode(&r)?),
                None => batch.remove(keys::idempotency(brand, &key)),
            }
        }
        for (id, p) in self.periodic {
            match p {
                Some(p) => batch.insert(&keys::periodic(id)[..], codec::encode(&p)?),
                None => batch.remove(&keys::periodic(id)[..]),
            }
        }
        batch.insert(
            keys::NEXT_PERIODIC_ID,
            &state.next_periodic_id().to_be_bytes()[..],
        );
        batch.insert(keys::NEXT_ID, &next_id.to_be_bytes()[..]);
        batch.insert(keys::LAST_AT, &last_at.0.to_be_bytes()[..]);
        let turns: Vec<u8> = turns.iter().flat_map(|b| b.to_be_bytes()).collect();
        batch.insert(keys::TURNS, turns);
        Ok(batch)
    }
}

/// Reads and decodes one value of the tree.
pub(crate) fn read<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    match tree.get(key)? {
        None => Ok(None),
        Some(bytes) => codec::decode(&bytes)
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                key: String::from_utf8_lossy(key).into_owned(),
                source,
            }),
    }
}

impl Records for BatchRecords<'_> {
    fn task(&self, id: TaskId) -> Result<Option<Task>, StorageFault> {
        if let Some(pending) = self.tasks.get(&id) {
            return Ok(pending.clone());
        }
        Ok(read(self.tree, &keys::task(id))?)
    }

    fn put_task(&mut self, task: &Task) {
        self.tasks.insert(task.id, Some(task.clone()));
    }

    fn delete_task(&mut self, id: TaskId) {
        self.tasks.insert(id, None);
    }

    fn idempotency(
        &self,
        brand: BrandId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StorageFault> {
        if let Some(pending) = self.keys.get(&(brand, key.to_owned())) {
            return Ok(pending.clone());
        }
        Ok(read(self.tree, &keys::idempotency(brand, key))?)
    }

    fn put_idempotency(&mut self, brand: BrandId, key: &str, record: &IdempotencyRecord) {
        self.keys
            .insert((brand, key.to_owned()), Some(record.clone()));
    }

    fn delete_idempotency(&mut self, brand: BrandId, key: &str) {
        self.keys.insert((brand, key.to_owned()), None);
    }

    fn put_periodic(&mut self, p: &PeriodicTask) {
        self.periodic.insert(p.id, Some(p.clone()));
    }

    fn delete_periodic(&mut self, id: PeriodicId) {
        self.periodic.insert(id, None);
    }
}
