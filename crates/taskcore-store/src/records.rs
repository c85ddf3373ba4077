//! The state machine's view of its records while it applies a batch: reads fall through the
//! batch's own writes and those not yet written ([`Unwritten`]) to the tree; the
//! batch's writes then join those waiting, all at once.

use std::collections::HashMap;

use taskcore_core::{
    BrandId, IdempotencyRecord, PeriodicId, PeriodicTask, Records, StorageFault, Task, TaskId,
    TaskState,
};

use crate::write_behind::Unwritten;
use crate::{codec, keys, StoreError};

/// A change of one key of the state-machine tree (`None`: removed).
pub(crate) type Write = (Vec<u8>, Option<Vec<u8>>);

/// Pending writes of one apply batch over the state-machine tree.
pub(crate) struct BatchRecords<'a> {
    tree: &'a sled::Tree,
    unwritten: &'a Unwritten,
    tasks: HashMap<TaskId, Option<Task>>,
    keys: HashMap<(BrandId, String), Option<IdempotencyRecord>>,
    periodic: HashMap<PeriodicId, Option<PeriodicTask>>,
}

impl<'a> BatchRecords<'a> {
    pub(crate) fn new(tree: &'a sled::Tree, unwritten: &'a Unwritten) -> Self {
        BatchRecords {
            tree,
            unwritten,
            tasks: HashMap::new(),
            keys: HashMap::new(),
            periodic: HashMap::new(),
        }
    }

    /// Whether the batch changed a periodic task (the leader's scheduler then looks again).
    pub(crate) fn changed_periodic(&self) -> bool {
        !self.periodic.is_empty()
    }

    /// The pending writes and the state's counters, clock and turns, as changes of keys.
    pub(crate) fn into_writes(self, state: &TaskState) -> Result<Vec<Write>, StoreError> {
        let (next_id, last_at, turns) = (state.next_id(), state.last_at(), state.turns());
        let mut out = Vec::with_capacity(self.tasks.len() + self.keys.len() + 4);
        for (id, task) in self.tasks {
            let value = task.map(|t| codec::encode(&t)).transpose()?;
            out.push((keys::task(id).to_vec(), value));
        }
        for ((brand, key), record) in self.keys {
            let value = record.map(|r| codec::encode(&r)).transpose()?;
            out.push((keys::idempotency(brand, &key), value));
        }
        for (id, p) in self.periodic {
            let value = p.map(|p| codec::encode(&p)).transpose()?;
            out.push((keys::periodic(id).to_vec(), value));
        }
        let number = |key: &[u8], n: u64| (key.to_vec(), Some(n.to_be_bytes().to_vec()));
        out.push(number(keys::NEXT_PERIODIC_ID, state.next_periodic_id()));
        out.push(number(keys::NEXT_ID, next_id));
        out.push((
            keys::LAST_AT.to_vec(),
            Some(last_at.0.to_be_bytes().to_vec()),
        ));
        let turns: Vec<u8> = turns.iter().flat_map(|b| b.to_be_bytes()).collect();
        out.push((keys::TURNS.to_vec(), Some(turns)));
        Ok(out)
    }
}

/// Reads and decodes one value: the one waiting to be written, else the tree's.
pub(crate) fn read<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    unwritten: &Unwritten,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    let decode = |bytes: &[u8]| {
        codec::decode(bytes)
            .map(Some)
            .map_err(|source| StoreError::Corrupt {
                key: String::from_utf8_lossy(key).into_owned(),
                source,
            })
    };
    match unwritten.get(key) {
        Some(None) => Ok(None),
        Some(Some(bytes)) => decode(bytes),
        None => match tree.get(key)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes),
        },
    }
}

impl Records for BatchRecords<'_> {
    fn task(&self, id: TaskId) -> Result<Option<Task>, StorageFault> {
        if let Some(pending) = self.tasks.get(&id) {
            return Ok(pending.clone());
        }
        Ok(read(self.tree, self.unwritten, &keys::task(id))?)
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
        Ok(read(
            self.tree,
            self.unwritten,
            &keys::idempotency(brand, key),
        )?)
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
