//! The in-memory index of every task's small fields, kept in step by `apply`.
//!
//! Lists, counts and statistics are answered from here; the full record is read from storage
//! only for the page returned. Counters are maintained on every change, so unfiltered counts
//! and statistics cost no scan; filtered ones scan the brand's columns (see `columns.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::columns::{time, Columns, HAS_METRICS, IS_RESUMABLE, NONE};
use crate::leases::{LeaseEntry, Leases};
use crate::{BrandId, Priority, Status, Task, TaskId, Timestamp};

/// The small fields of one task, as the index holds them.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Task id.
    pub id: TaskId,
    /// Brand id.
    pub brand: BrandId,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Task type.
    pub task_type: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Start of the current attempt.
    pub started_at: Option<Timestamp>,
    /// Completion time.
    pub completed_at: Option<Timestamp>,
    /// Not before.
    pub scheduled_for: Option<Timestamp>,
    /// Progress, 0 to 100.
    pub progress: u8,
    /// TaskMetrics exist.
    pub has_metrics: bool,
    /// A resumable PersistentJob exists.
    pub is_resumable: bool,
}

/// A running sum of durations.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Durations {
    pub(crate) total_ms: i128,
    pub(crate) count: u64,
}

impl Durations {
    pub(crate) fn add(&mut self, ms: i64, sign: i64) {
        self.total_ms += i128::from(ms) * i128::from(sign);
        self.count = self.count.wrapping_add_signed(sign);
    }

    /// Mean in minutes rounded to one decimal, `None` when empty.
    pub(crate) fn mean_minutes(&self) -> Option<f64> {
        (self.count > 0).then(|| round1(self.total_ms as f64 / self.count as f64 / 60_000.0))
    }

    /// Mean in milliseconds, `None` when empty.
    pub(crate) fn mean_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.total_ms as f64 / self.count as f64)
    }
}

/// Rounds half away from zero to one decimal.
pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Counters of one task type in one brand.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TypeCounters {
    pub(crate) per_status: [u64; 5],
    pub(crate) durations: Durations,
}

/// Counters of a set of tasks: a brand, or the tasks of a brand created in a range.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Counters {
    /// `[status][priority]`.
    pub(crate) counts: [[u64; 4]; 5],
    pub(crate) by_type: BTreeMap<u32, TypeCounters>,
    /// Completed tasks' processing time per priority.
    pub(crate) durations: [Durations; 4],
    /// Tasks created per UTC day (the day's first microsecond) and priority.
    pub(crate) per_day: BTreeMap<i64, [u64; 4]>,
}

impl Counters {
    /// Counts (`sign` 1) or uncounts (`sign` −1) the task in `slot`.
    pub(crate) fn count(&mut self, cols: &Columns, slot: usize, sign: i64) {
        let (s, p) = (cols.status[slot] as usize, cols.priority[slot] as usize);
        self.counts[s][p] = self.counts[s][p].wrapping_add_signed(sign);
        let ty = self.by_type.entry(cols.task_type[slot]).or_default();
        ty.per_status[s] = ty.per_status[s].wrapping_add_signed(sign);
        if let Some(ms) = cols.processing_ms(slot) {
            ty.durations.add(ms, sign);
            self.durations[p].add(ms, sign);
        }
        if ty.per_status.iter().all(|&n| n == 0) {
            self.by_type.remove(&cols.task_type[slot]);
        }
        let day = Timestamp(cols.created[slot]).start_of_day().0;
        let per_day = self.per_day.entry(day).or_default();
        per_day[p] = per_day[p].wrapping_add_signed(sign);
        if per_day.iter().all(|&n| n == 0) {
            self.per_day.remove(&day);
        }
    }
}

/// Everything indexed for one brand.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BrandIndex {
    pub(crate) cols: Columns,
    pub(crate) counters: Counters,
}

/// Cluster-wide figures used to estimate when a queued task starts.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct GlobalCounters {
    /// Pending tasks per priority.
    pub(crate) pending: [u64; 4],
    /// Running tasks.
    pub(crate) running: u64,
    /// Completed tasks' processing time, all priorities.
    pub(crate) durations: Durations,
    /// Pending tasks per priority, brand and task type (its interned id), oldest first: by
    /// `scheduled_for` (or `created_at` when unset), then id. What leases pick from; one queue
    /// per type, so that a lease for some types never walks the backlog of the others.
    pub(crate) ready: [ReadyQueues; 4],
}

/// One priority's pending tasks: per brand, per task type id, `(due, id)` oldest first.
pub(crate) type ReadyQueues = BTreeMap<BrandId, BTreeMap<u32, BTreeSet<(i64, TaskId)>>>;

impl GlobalCounters {
    fn count(&mut self, brand: BrandId, cols: &Columns, slot: usize, sign: i64) {
        match cols.status_at(slot) {
            Status::Pending => {
                let p = cols.priority[slot] as usize;
                let n = &mut self.pending[p];
                *n = n.wrapping_add_signed(sign);
                let scheduled = cols.scheduled[slot];
                let key = (
                    if scheduled == NONE {
                        cols.created[slot]
                    } else {
                        scheduled
                    },
                    cols.ids[slot],
                );
                let ty = cols.task_type[slot];
                let queues = &mut self.ready[p];
                if sign > 0 {
                    queues
                        .entry(brand)
                        .or_default()
                        .entry(ty)
                        .or_default()
                        .insert(key);
                } else if let Some(by_type) = queues.get_mut(&brand) {
                    if let Some(queue) = by_type.get_mut(&ty) {
                        queue.remove(&key);
                        if queue.is_empty() {
                            by_type.remove(&ty);
                        }
                    }
                    if by_type.is_empty() {
                        queues.remove(&brand);
                    }
                }
            }
            Status::Running => self.running = self.running.wrapping_add_signed(sign),
            _ => {}
        }
        if let Some(ms) = cols.processing_ms(slot) {
            self.durations.add(ms, sign);
        }
    }
}

/// The index of every task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Index {
    pub(crate) brands: BTreeMap<BrandId, BrandIndex>,
    pub(crate) global: GlobalCounters,
    task_ids: HashMap<Box<str>, TaskId>,
    brand_of: HashMap<TaskId, BrandId>,
    types: Vec<String>,
    type_ids: HashMap<String, u32>,
    brand_names: BTreeMap<BrandId, String>,
    leases: Leases,
}

impl Index {
    /// Adds a task, or replaces the entry of the task with the same id.
    pub fn insert(&mut self, task: &Task) {
        if self
            .brand_of
            .get(&task.id)
            .is_some_and(|&b| b != task.brand.id)
        {
            self.remove(task.id);
        }
        let task_type = self.intern(&task.task_type);
        let search = format!("{}\0{}\0{}", task.task_id, task.task_type, task.description)
            .to_lowercase()
            .into_boxed_str();
        let brand = self
            .brands
            .entry(task.brand.id)
            .or_insert_with(|| BrandIndex {
                cols: Columns::new(),
                counters: Counters::default(),
            });
        if let Some(slot) = brand.cols.slot_of(task.id) {
            brand.counters.count(&brand.cols, slot, -1);
            self.global.count(task.brand.id, &brand.cols, slot, -1);
            self.task_ids.remove(&brand.cols.task_ids[slot]);
        }
        brand.cols.put(task, task_type, search);
        if let Some(slot) = brand.cols.slot_of(task.id) {
            brand.counters.count(&brand.cols, slot, 1);
            self.global.count(task.brand.id, &brand.cols, slot, 1);
        }
        self.task_ids.insert(task.task_id.as_str().into(), task.id);
        self.brand_of.insert(task.id, task.brand.id);
        self.leases.set(task.id, LeaseEntry::of(task));
        self.brand_names
            .insert(task.brand.id, task.brand.name.clone());
    }

    /// Removes a task's entry; unknown ids are ignored.
    pub fn remove(&mut self, id: TaskId) {
        let Some(brand_id) = self.brand_of.remove(&id) else {
            return;
        };
        self.leases.set(id, None);
        let Some(brand) = self.brands.get_mut(&brand_id) else {
            return;
        };
        let Some(slot) = brand.cols.slot_of(id) else {
            return;
        };
        brand.counters.count(&brand.cols, slot, -1);
        self.global.count(brand_id, &brand.cols, slot, -1);
        self.task_ids.remove(&brand.cols.task_ids[slot]);
        brand.cols.kill(slot);
        if brand.cols.live() == 0 {
            self.brands.remove(&brand_id);
        }
    }

    /// Pending tasks per priority, from low to critical.
    pub fn pending_by_priority(&self) -> [u64; 4] {
        self.global.pending
    }

    /// The lease task `id` holds.
    pub fn lease(&self, id: TaskId) -> Option<&LeaseEntry> {
        self.leases.get(id)
    }

    /// Every task that holds a lease, in id order.
    pub fn leases(&self) -> impl Iterator<Item = (TaskId, &LeaseEntry)> {
        self.leases.iter()
    }

    /// How many tasks hold a lease.
    pub fn lease_count(&self) -> usize {
        self.leases.len()
    }

    /// The tasks whose lease changed since the last call, each once, with its entry now.
    pub fn take_lease_changes(&mut self) -> Vec<(TaskId, Option<LeaseEntry>)> {
        self.leases.take_changes()
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.type_ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.types.len()).unwrap_or(u32::MAX);
        self.types.push(name.to_owned());
        self.type_ids.insert(name.to_owned(), id);
        id
    }

    /// The interned id of a task type, if any task ever had it.
    pub(crate) fn type_id(&self, name: &str) -> Option<u32> {
        self.type_ids.get(name).copied()
    }

    /// The name of an interned task type.
    pub(crate) fn type_name(&self, id: u32) -> &str {
        self.types
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// How many task types were ever interned.
    pub(crate) fn type_count(&self) -> usize {
        self.types.len()
    }

    /// The id of the task with this `task_id`.
    pub fn by_task_id(&self, task_id: &str) -> Option<TaskId> {
        self.task_ids.get(task_id).copied()
    }

    /// The brand of a task.
    pub fn brand_of(&self, id: TaskId) -> Option<BrandId> {
        self.brand_of.get(&id).copied()
    }

    /// The indexed fields of a task.
    pub fn entry(&self, id: TaskId) -> Option<Entry> {
        let brand = self.brand_of(id)?;
        let cols = &self.brands.get(&brand)?.cols;
        let slot = cols.slot_of(id)?;
        Some(Entry {
            id,
            brand,
            status: cols.status_at(slot),
            priority: cols.priority_at(slot),
            task_type: self.type_name(cols.task_type[slot]).to_owned(),
            created_at: Timestamp(cols.created[slot]),
            updated_at: Timestamp(cols.updated[slot]),
            started_at: time(cols.started[slot]),
            completed_at: time(cols.completed[slot]),
            scheduled_for: time(cols.scheduled[slot]),
            progress: cols.progress[slot],
            has_metrics: cols.flags[slot] & HAS_METRICS != 0,
            is_resumable: cols.flags[slot] & IS_RESUMABLE != 0,
        })
    }

    /// The brand name last recorded on a task of this brand.
    pub fn brand_name(&self, brand: BrandId) -> Option<&str> {
        self.brand_names.get(&brand).map(String::as_str)
    }

    /// How many tasks exist, in all brands.
    pub fn len(&self) -> usize {
        self.brand_of.len()
    }

    /// Whether no task exists.
    pub fn is_empty(&self) -> bool {
        self.brand_of.is_empty()
    }

    /// How many tasks a brand holds.
    pub fn brand_len(&self, brand: BrandId) -> usize {
        self.brands.get(&brand).map_or(0, |b| b.cols.live())
    }

    /// An honest estimate of when a task of this priority, queued now, starts: the pending
    /// work of its priority and above, at the mean processing time of recent attempts
    /// (`recent_mean_ms`, when the caller has seen some) or else of every completed task,
    /// spread over as many attempts as run at once now.
    pub fn estimate_start(
        &self,
        priority: Priority,
        now: Timestamp,
        recent_mean_ms: Option<f64>,
    ) -> Timestamp {
        let ahead: u64 = self.global.pending[priority.index()..].iter().sum();
        let Some(mean_ms) = recent_mean_ms.or_else(|| self.global.durations.mean_ms()) else {
            return now;
        };
        let parallel = self.global.running.max(1) as f64;
        let wait_ms = (ahead.saturating_sub(1) as f64 * mean_ms / parallel).max(0.0);
        now.plus_micros((wait_ms * 1000.0).min(i64::MAX as f64 / 2.0) as i64)
    }
}
