//! The per-brand columnar store of the index: one vector per small field, in id order.
//!
//! Ids only grow, so a brand's new tasks append; and since `apply` never lets time go back,
//! `created_at` grows with the id too, so a `created_at` range is a slot range found by binary
//! search. A deleted task leaves a tombstone until a quarter of the slots are dead, when the
//! columns are compacted. Scans over a million entries touch a few contiguous megabytes.

use crate::{Priority, Status, Task, TaskId, Timestamp};

/// `Option<Timestamp>` in a column: `None` is `NONE`, which sorts after every time, as nulls
/// do in PostgreSQL.
pub(crate) const NONE: i64 = i64::MAX;
/// The status byte of a tombstone.
pub(crate) const DEAD: u8 = u8::MAX;

pub(crate) const HAS_METRICS: u8 = 1;
pub(crate) const IS_RESUMABLE: u8 = 2;

fn opt(t: Option<Timestamp>) -> i64 {
    t.map_or(NONE, |t| t.0)
}

/// Decodes a column time.
pub(crate) fn time(v: i64) -> Option<Timestamp> {
    (v != NONE).then_some(Timestamp(v))
}

/// The small fields of a brand's tasks, one vector per field, indexed by slot.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Columns {
    pub(crate) ids: Vec<TaskId>,
    pub(crate) status: Vec<u8>,
    pub(crate) priority: Vec<u8>,
    pub(crate) task_type: Vec<u32>,
    pub(crate) created: Vec<i64>,
    pub(crate) updated: Vec<i64>,
    pub(crate) started: Vec<i64>,
    pub(crate) completed: Vec<i64>,
    pub(crate) scheduled: Vec<i64>,
    pub(crate) progress: Vec<u8>,
    pub(crate) flags: Vec<u8>,
    pub(crate) task_ids: Vec<Box<str>>,
    /// Lower-cased `task_id`, `task_type` and `description`, separated by NUL.
    pub(crate) search: Vec<Box<str>>,
    dead: usize,
    /// Whether `created` is non-decreasing over the slots (always, unless a caller inserts
    /// tasks whose times go back; then ranges fall back to scans).
    pub(crate) created_sorted: bool,
}

impl Columns {
    pub(crate) fn new() -> Self {
        Columns {
            created_sorted: true,
            ..Columns::default()
        }
    }

    /// Slots in use, dead or alive.
    pub(crate) fn slots(&self) -> usize {
        self.ids.len()
    }

    /// Live entries.
    pub(crate) fn live(&self) -> usize {
        self.ids.len() - self.dead
    }

    pub(crate) fn is_alive(&self, slot: usize) -> bool {
        self.status[slot] != DEAD
    }

    /// The live slot of an id.
    pub(crate) fn slot_of(&self, id: TaskId) -> Option<usize> {
        let slot = self.ids.binary_search(&id).ok()?;
        self.is_alive(slot).then_some(slot)
    }

    /// Writes a task into its slot: in place when present, appended when its id is the
    /// largest, inserted in order otherwise.
    pub(crate) fn put(&mut self, task: &Task, task_type: u32, search: Box<str>) {
        let slot = match self.ids.binary_search(&task.id) {
            Ok(slot) => {
                if !self.is_alive(slot) {
                    self.dead -= 1;
                }
                slot
            }
            Err(slot) => {
                self.insert_slot(slot, task.id);
                slot
            }
        };
        self.status[slot] = task.status as u8;
        self.priority[slot] = task.priority as u8;
        self.task_type[slot] = task_type;
        self.created[slot] = task.created_at.0;
        self.updated[slot] = task.updated_at.0;
        self.started[slot] = opt(task.started_at);
        self.completed[slot] = opt(task.completed_at);
        self.scheduled[slot] = opt(task.scheduled_for);
        self.progress[slot] = task.progress_percentage;
        self.flags[slot] = u8::from(task.has_metrics()) * HAS_METRICS
            + u8::from(task.is_resumable()) * IS_RESUMABLE;
        self.task_ids[slot] = task.task_id.as_str().into();
        self.search[slot] = search;
        let before = slot.checked_sub(1).map(|s| self.created[s]);
        let after = self.created.get(slot + 1).copied();
        if before.is_some_and(|b| b > task.created_at.0)
            || after.is_some_and(|a| a < task.created_at.0)
        {
            self.created_sorted = false;
        }
    }

    /// Opens a slot for a new id; `put` fills it at once.
    fn insert_slot(&mut self, slot: usize, id: TaskId) {
        self.ids.insert(slot, id);
        self.status.insert(slot, DEAD);
        self.priority.insert(slot, 0);
        self.task_type.insert(slot, 0);
        self.created.insert(slot, 0);
        self.updated.insert(slot, 0);
        self.started.insert(slot, NONE);
        self.completed.insert(slot, NONE);
        self.scheduled.insert(slot, NONE);
        self.progress.insert(slot, 0);
        self.flags.insert(slot, 0);
        self.task_ids.insert(slot, "".into());
        self.search.insert(slot, "".into());
    }

    /// Marks a slot dead; compacts when a quarter of the slots are dead.
    pub(crate) fn kill(&mut self, slot: usize) {
        self.status[slot] = DEAD;
        self.task_ids[slot] = "".into();
        self.search[slot] = "".into();
        self.dead += 1;
        if self.dead > 64 && self.dead * 4 > self.ids.len() {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let keep: Vec<bool> = self.status.iter().map(|&s| s != DEAD).collect();
        fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut i = 0;
            v.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
        retain(&mut self.ids, &keep);
        retain(&mut self.status, &keep);
        retain(&mut self.priority, &keep);
        retain(&mut self.task_type, &keep);
        retain(&mut self.created, &keep);
        retain(&mut self.updated, &keep);
        retain(&mut self.started, &keep);
        retain(&mut self.completed, &keep);
        retain(&mut self.scheduled, &keep);
        retain(&mut self.progress, &keep);
        retain(&mut self.flags, &keep);
        retain(&mut self.task_ids, &keep);
        retain(&mut self.search, &keep);
        self.dead = 0;
    }

    pub(crate) fn status_at(&self, slot: usize) -> Status {
        Status::ALL[usize::from(self.status[slot]).min(4)]
    }

    pub(crate) fn priority_at(&self, slot: usize) -> Priority {
        Priority::ALL[usize::from(self.priority[slot]).min(3)]
    }

    /// `completed_at − started_at` in milliseconds, for a completed task that has both.
    pub(crate) fn processing_ms(&self, slot: usize) -> Option<i64> {
        let done = self.status[slot] == Status::Completed as u8;
        match (done, time(self.started[slot]), time(self.completed[slot])) {
            (true, Some(start), Some(end)) => Some(end.millis_since(start)),
            _ => None,
        }
    }

    /// The slots whose `created_at` may lie in `[lo, hi]` (every slot when unsorted).
    pub(crate) fn created_slots(&self, lo: i64, hi: i64) -> std::ops::Range<usize> {
        if !self.created_sorted {
            return 0..self.slots();
        }
        let start = self.created.partition_point(|&c| c < lo);
        let end = self.created.partition_point(|&c| c <= hi);
        start..end.max(start)
    }
}
