//! The in-memory index of every task's small fields, kept in step by `apply`.
//!
//! Lists, counts and statistics are answered from here; the full record is read from storage
//! only for the page returned. Counters are maintained on every change, so unfiltered counts
//! and statistics cost no scan.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{BrandId, Priority, Status, Task, TaskId, Timestamp};

/// The small fields of one task.
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
    /// Interned task type (see [`Index::type_name`]).
    pub task_type: u32,
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
    /// Lower-cased `task_id`, `task_type` and `description`, separated by NUL.
    pub search: Box<str>,
}

impl Entry {
    /// `completed_at − started_at` in milliseconds, for a completed task that has both.
    pub fn processing_ms(&self) -> Option<i64> {
        match (self.status, self.started_at, self.completed_at) {
            (Status::Completed, Some(start), Some(end)) => Some(end.millis_since(start)),
            _ => None,
        }
    }

    /// Whether every term occurs in one of the searchable fields (terms are lower-case).
    pub fn matches_terms(&self, terms: &[String]) -> bool {
        terms.iter().all(|term| {
            self.search
                .split('\0')
                .any(|field| field.contains(term.as_str()))
        })
    }
}

/// A running sum of durations.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Durations {
    pub(crate) total_ms: i128,
    pub(crate) count: u64,
}

impl Durations {
    fn add(&mut self, ms: i64, sign: i64) {
        self.total_ms += i128::from(ms * sign);
        if sign > 0 {
            self.count += 1;
        } else {
            self.count -= 1;
        }
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

/// Everything indexed for one brand.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct BrandIndex {
    pub(crate) tasks: BTreeMap<TaskId, Entry>,
    pub(crate) by_created: BTreeSet<(Timestamp, TaskId)>,
    /// `[status][priority]`.
    pub(crate) counts: [[u64; 4]; 5],
    pub(crate) by_type: BTreeMap<u32, TypeCounters>,
    /// Completed tasks' processing time per priority.
    pub(crate) durations: [Durations; 4],
}

impl BrandIndex {
    pub(crate) fn add_counts(&mut self, e: &Entry) {
        self.count(e, 1);
    }

    fn count(&mut self, e: &Entry, sign: i64) {
        let cell = &mut self.counts[e.status.index()][e.priority.index()];
        *cell = cell.wrapping_add_signed(sign);
        let ty = self.by_type.entry(e.task_type).or_default();
        ty.per_status[e.status.index()] = ty.per_status[e.status.index()].wrapping_add_signed(sign);
        if let Some(ms) = e.processing_ms() {
            ty.durations.add(ms, sign);
            self.durations[e.priority.index()].add(ms, sign);
        }
        if ty.per_status.iter().all(|&n| n == 0) {
            self.by_type.remove(&e.task_type);
        }
    }
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
}

impl Index {
    /// Adds a task (or replaces the entry of a task with the same id).
    pub fn insert(&mut self, task: &Task) {
        self.remove(task.id);
        let entry = self.entry_of(task);
        self.task_ids.insert(task.task_id.clone().into(), task.id);
        self.brand_of.insert(task.id, task.brand.id);
        self.brand_names
            .insert(task.brand.id, task.brand.name.clone());
        self.count_global(&entry, 1);
        let brand = self.brands.entry(task.brand.id).or_default();
        brand.count(&entry, 1);
        brand.by_created.insert((entry.created_at, entry.id));
        brand.tasks.insert(entry.id, entry);
    }

    /// Removes a task's entry; unknown ids are ignored.
    pub fn remove(&mut self, id: TaskId) {
        let Some(brand_id) = self.brand_of.remove(&id) else {
            return;
        };
        let Some(brand) = self.brands.get_mut(&brand_id) else {
            return;
        };
        let Some(entry) = brand.tasks.remove(&id) else {
            return;
        };
        brand.by_created.remove(&(entry.created_at, id));
        brand.count(&entry, -1);
        if brand.tasks.is_empty() {
            self.brands.remove(&brand_id);
        }
        self.count_global(&entry, -1);
        let task_id = entry.search.split('\0').next().unwrap_or_default();
        self.task_ids.remove(task_id);
    }

    fn count_global(&mut self, e: &Entry, sign: i64) {
        let g = &mut self.global;
        match e.status {
            Status::Pending => {
                let n = &mut g.pending[e.priority.index()];
                *n = n.wrapping_add_signed(sign);
            }
            Status::Running => g.running = g.running.wrapping_add_signed(sign),
            _ => {}
        }
        if let Some(ms) = e.processing_ms() {
            g.durations.add(ms, sign);
        }
    }

    fn entry_of(&mut self, task: &Task) -> Entry {
        let task_type = self.intern(&task.task_type);
        let search = format!(
            "{}\0{}\0{}",
            task.task_id.to_lowercase(),
            task.task_type.to_lowercase(),
            task.description.to_lowercase()
        );
        Entry {
            id: task.id,
            brand: task.brand.id,
            status: task.status,
            priority: task.priority,
            task_type,
            created_at: task.created_at,
            updated_at: task.updated_at,
            started_at: task.started_at,
            completed_at: task.completed_at,
            scheduled_for: task.scheduled_for,
            progress: task.progress_percentage,
            has_metrics: task.has_metrics(),
            is_resumable: task.is_resumable(),
            search: search.into(),
        }
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.type_ids.get(name) {
            return id;
        }
        let id = self.types.len() as u32;
        self.types.push(name.to_owned());
        self.type_ids.insert(name.to_owned(), id);
        id
    }

    /// The interned id of a task type, if any task ever had it.
    pub fn type_id(&self, name: &str) -> Option<u32> {
        self.type_ids.get(name).copied()
    }

    /// The name of an interned task type.
    pub fn type_name(&self, id: u32) -> &str {
        self.types
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// How many task types were ever interned.
    pub(crate) fn type_count(&self) -> usize {
        self.types.len()
    }

    /// Every interned task type whose name starts with `prefix`.
    pub fn types_with_prefix(&self, prefix: &str) -> Vec<u32> {
        (0..self.types.len() as u32)
            .filter(|&id| self.type_name(id).starts_with(prefix))
            .collect()
    }

    /// The id of the task with this `task_id`.
    pub fn by_task_id(&self, task_id: &str) -> Option<TaskId> {
        self.task_ids.get(task_id).copied()
    }

    /// The brand of a task.
    pub fn brand_of(&self, id: TaskId) -> Option<BrandId> {
        self.brand_of.get(&id).copied()
    }

    /// The entry of a task.
    pub fn entry(&self, id: TaskId) -> Option<&Entry> {
        self.brands.get(&self.brand_of(id)?)?.tasks.get(&id)
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
        self.brands.get(&brand).map_or(0, |b| b.tasks.len())
    }

    /// Every entry of every brand, by brand then id (for checks and snapshots).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.brands.values().flat_map(|b| b.tasks.values())
    }

    /// An honest estimate of when a task of this priority, queued now, starts: the pending
    /// work of its priority and above, at the mean processing time seen so far, spread over
    /// as many attempts as run at once now.
    pub fn estimate_start(&self, priority: Priority, now: Timestamp) -> Timestamp {
        let ahead: u64 = self.global.pending[priority.index()..].iter().sum();
        let Some(mean_ms) = self.global.durations.mean_ms() else {
            return now;
        };
        let parallel = self.global.running.max(1) as f64;
        let wait_ms = (ahead.saturating_sub(1) as f64 * mean_ms / parallel).max(0.0);
        now.plus_micros((wait_ms * 1000.0).min(i64::MAX as f64 / 2.0) as i64)
    }
}
