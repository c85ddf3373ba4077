//! Creating several tasks with one command (`POST /tasks/bulk/`).
//!
//! The tasks get consecutive ids in the request's order, all in one apply: a bulk is created
//! whole or not at all. An `Idempotency-Key` is remembered for each task of the bulk under a key
//! of its own (`\u{1}bulk\u{1}<key>\u{1}<n>`, which no header can spell, so bulk and single
//! creates never share a key), with the digest of the whole body: retention keeps every task a
//! key still names, and the keys expire one by one like any other.

use super::{TaskState, IDEMPOTENCY_TTL_MICROS, KEYS_EXPIRED_PER_CREATE};
use crate::{BrandId, Outcome, Records, Refusal, StorageFault, Task, Timestamp};

/// The most tasks one bulk create may hold.
pub const MAX_BULK_TASKS: usize = 1000;

/// The key under which the `n`-th task of a bulk sent with `key` is remembered.
pub(crate) fn bulk_key(key: &str, n: usize) -> String {
    format!("\u{1}bulk\u{1}{key}\u{1}{n}")
}

impl TaskState {
    pub(crate) fn create_many<R: Records>(
        &mut self,
        c: &crate::CreateTasks,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        self.expire_keys(
            at,
            KEYS_EXPIRED_PER_CREATE.saturating_mul(c.tasks.len().max(1)),
            rec,
        );
        let Some(brand) = c.tasks.first().map(|t| t.brand) else {
            return Ok(Outcome::CreatedMany(Vec::new()));
        };
        if let Some(claim) = &c.idempotency {
            let count = c.tasks.len();
            if let Some(replayed) =
                self.replay_bulk(brand, &claim.key, claim.digest, count, at, rec)?
            {
                return Ok(replayed);
            }
        }
        let mut created = Vec::with_capacity(c.tasks.len());
        for (n, t) in c.tasks.iter().enumerate() {
            let task = self.insert_task(t, at, rec);
            if let Some(claim) = &c.idempotency {
                let key = bulk_key(&claim.key, n);
                self.remember_key(brand, &key, claim.digest, task.id, at, rec);
            }
            created.push(task);
        }
        Ok(Outcome::CreatedMany(created))
    }

    /// What a bulk of `count` tasks sent again with `key` answers: the tasks it created, or a
    /// refusal when the key came with another body. `None` when the key is unknown, expired, or
    /// names no task any more: the key starts afresh, and the records the new bulk will overwrite
    /// are forgotten first, so that their expiry never deletes the new ones. (A bulk's records
    /// share one time and expire together; one sent again within the time to live has the same
    /// body, hence the same count.)
    fn replay_bulk<R: Records>(
        &mut self,
        brand: BrandId,
        key: &str,
        digest: u64,
        count: usize,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Option<Outcome>, StorageFault> {
        let mut previous = Vec::new();
        for n in 0..count {
            if let Some(record) = rec.idempotency(brand, &bulk_key(key, n))? {
                previous.push((n, record));
            }
        }
        let live =
            |r: &crate::IdempotencyRecord| at.0.saturating_sub(r.at.0) < IDEMPOTENCY_TTL_MICROS;
        if let Some((_, first)) = previous.first().filter(|(_, r)| live(r)) {
            if first.digest != digest {
                return Ok(Some(Outcome::Refused(Refusal::IdempotencyKeyReused)));
            }
            let mut tasks: Vec<Task> = Vec::with_capacity(previous.len());
            for (_, record) in &previous {
                if let Some(task) = rec.task(record.task)? {
                    tasks.push(task);
                }
            }
            if !tasks.is_empty() {
                return Ok(Some(Outcome::ReplayedMany(tasks)));
            }
        }
        for (n, record) in &previous {
            self.forget_key(brand, &bulk_key(key, *n), record);
        }
        Ok(None)
    }
}
