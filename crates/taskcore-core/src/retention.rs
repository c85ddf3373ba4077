//! Retention: finished tasks (completed, failed, cancelled) older than the configured age are
//! purged, by a replicated command, oldest first, a bounded batch at a time.
//!
//! A task's age is measured from its last change (`updated_at`): the end of its last attempt,
//! its cancel, or a later edit. A task that still holds a lease (cancelled while it ran, its
//! worker not yet told) is kept until the lease is gone.

use std::collections::BinaryHeap;

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

impl Index {
    /// Every finished task without a lease, as (last change, id).
    fn finished(&self) -> impl Iterator<Item = (i64, TaskId)> + '_ {
        self.brands.values().flat_map(move |b| {
            let cols = &b.cols;
            (0..cols.slots())
                .filter(move |&slot| cols.is_alive(slot) && is_finished(cols.status_at(slot)))
                .map(move |slot| (cols.updated[slot], cols.ids[slot]))
                .filter(move |&(_, id)| self.lease(id).is_none())
        })
    }

    /// Up to `max` finished tasks last changed before `before`, oldest first (ties by id), and
    /// holding no lease. Deterministic: it reads only the index.
    pub fn finished_before(&self, before: Timestamp, max: usize) -> Vec<TaskId> {
        if max == 0 {
            return Vec::new();
        }
        // The `max` oldest, kept in a max-heap: the scan is one pass over the columns, and a
        // task younger than the youngest kept costs one comparison.
        let mut oldest = BinaryHeap::with_capacity(max);
        for key in self.finished().filter(|&(at, _)| at < before.0) {
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
    pub(crate) fn purge<R: Records>(
        &mut self,
        p: &PurgeFinished,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let keep = i64::try_from(p.keep_ms.saturating_mul(1000)).unwrap_or(i64::MAX);
        let before = Timestamp(at.0.saturating_sub(keep));
        let max = p.max.min(MAX_PURGE) as usize;
        let ids = self.index.finished_before(before, max);
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
