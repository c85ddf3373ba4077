//! Retention: finished tasks (completed, failed, cancelled) older than the configured age are
//! purged, by a replicated command, oldest first, a bounded batch at a time.
//!
//! A task's age is measured from its last change (`updated_at`): the end of its last attempt,
//! its cancel, or a later edit. A task that still holds a lease (cancelled while it ran, its
//! worker not yet told) is kept until the lease is gone, and a task that a live idempotency key
//! names is kept until the key expires (24 h after the create): deleting it would let a resend
//! of the same key create the task a second time.

use std::collections::{BTreeSet, BinaryHeap};

use serde::{Deserialize, Serialize};

use crate::{Index, Outcome, Records, Status, StorageFault, TaskId, TaskState, Timestamp};

/// Most tasks one purge deletes: one Raft entry and one sled batch stay small.
pub const MAX_PURGE: u32 = 1000;

/// Delete the finished tasks whose last change is older than `keep_ms` before the proposal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PurgeFinished {
    /// How long a finished task is kept after its last change, in milliseconds.
    pub keep_ms: u64,
    /// At most this many tasks (capped at [`MAX_PURGE`]).
    pub max: u32,
}

fn is_finished(status: Status) -> bool {
    matches!(
        status,
        Status::Completed | Status::Failed | Status::Cancelled
    )
}

/// No task kept.
static NONE: BTreeSet<TaskId> = BTreeSet::new();

impl Index {
    /// Every finished task without a lease, as (last change, id).
    fn finished(&self) -> impl Iterator<Item = (i64, TaskId)> + '_ {
        self.finished_except(&NONE)
    }

    /// Every finished task without a lease and not in `kept`, as (last change, id).
    fn finished_except<'a>(
        &'a self,
        kept: &'a BTreeSet<TaskId>,
    ) -> impl Iterator<Item = (i64, TaskId)> + 'a {
        self.brands.values().flat_map(move |b| {
            let cols = &b.cols;
            (0..cols.slots())
                .filter(move |&slot| cols.is_alive(slot) && is_finished(cols.status_at(slot)))
                .map(move |slot| (cols.updated[slot], cols.ids[slot]))
                .filter(move |&(_, id)| self.lease(id).is_none() && !kept.contains(&id))
        })
    }

    /// Up to `max` finished tasks last changed before `before`, oldest first (ties by id),
    /// holding no lease and not in `kept`. Deterministic: it reads only the index and `kept`.
    pub fn finished_before(
        &self,
        before: Timestamp,
        max: usize,
        kept: &BTreeSet<TaskId>,
    ) -> Vec<TaskId> {
        if max == 0 {
            return Vec::new();
        }
        // The `max` oldest, kept in a max-heap: the scan is one pass over the columns, and a
        // task younger than the youngest kept costs one comparison.
        let mut oldest = BinaryHeap::with_capacity(max);
        for key in self.finished_except(kept).filter(|&(at, _)| at < before.0) {
            if oldest.len() == max {
                if oldest.peek().is_some_and(|youngest| key >= *youngest) {
                    continue;
                }
                oldest.pop();
            }
            oldest.push(key);
        }
        let mut keys = oldest.into_vec();
        keys.sort_unstable();
        keys.into_iter().map(|(_, id)| id).collect()
    }

    /// When the longest-finished task (without a lease) last changed.
    pub fn oldest_finished(&self) -> Option<Timestamp> {
        self.finished().map(|(at, _)| at).min().map(Timestamp)
    }
}

impl TaskState {
    /// When a purge keeping finished tasks `keep` could first delete something: when the
    /// oldest finished task no key holds comes of age, or when the oldest remembered key
    /// expires (it may hold a finished task back), whichever is first. `None`: nothing to wait
    /// for.
    pub fn purge_due_at(&self, keep: std::time::Duration) -> Option<Timestamp> {
        let keep = i64::try_from(keep.as_micros()).unwrap_or(i64::MAX / 2);
        let aged = self
            .index
            .finished_except(&self.keyed)
            .map(|(at, _)| at)
            .min()
            .map(|at| Timestamp(at.saturating_add(keep)));
        let key_expires = self
            .oldest_key()
            .map(|at| Timestamp(at.0.saturating_add(crate::IDEMPOTENCY_TTL_MICROS)));
        match (aged, key_expires) {
            (Some(a), Some(k)) => Some(a.min(k)),
            (a, k) => a.or(k),
        }
    }

    pub(crate) fn purge<R: Records>(
        &mut self,
        p: &PurgeFinished,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let keep = i64::try_from(p.keep_ms.saturating_mul(1000)).unwrap_or(i64::MAX);
        let before = Timestamp(at.0.saturating_sub(keep));
        let max = p.max.min(MAX_PURGE) as usize;
        // Keys past their time to live no longer hold their tasks back.
        self.expire_keys(at, max, rec);
        let ids = self.index.finished_before(before, max, &self.keyed);
        for &id in &ids {
            rec.delete_task(id);
            self.index.remove(id);
        }
        Ok(Outcome::Purged {
            count: u32::try_from(ids.len()).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests;
