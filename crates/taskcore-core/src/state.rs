//! The replicated state machine: applies committed proposals, deterministically.

use std::collections::{BTreeMap, BTreeSet};

use crate::validate::MAX_CONTEXT_BYTES;
use crate::{
    digest, merge_patch, AttemptOutcome, BrandId, BrandRef, Command, CreateTask, FieldErrors,
    IdempotencyRecord, Index, Outcome, PeriodicId, PeriodicTask, Proposal, Records, Refusal,
    RetryTask, Status, StorageFault, Task, TaskId, Timestamp, UpdateTask,
};

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL_MICROS: i64 = 24 * 3600 * Timestamp::SECOND;
/// Expired idempotency keys forgotten per create, so that the work of forgetting is spread out.
pub(crate) const KEYS_EXPIRED_PER_CREATE: usize = 64;

/// The state every replica keeps in memory beside the records: the id counter, the index and
/// the idempotency keys by age.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskState {
    next_id: TaskId,
    /// The latest proposal time applied: `apply` never lets time go back, so that `created_at`
    /// grows with the id whatever the clocks of successive leaders say.
    last_at: Timestamp,
    pub(crate) index: Index,
    /// Remembered idempotency keys by age, with the task each names.
    keys_by_age: BTreeSet<(Timestamp, BrandId, String, TaskId)>,
    /// The tasks an idempotency key still names: retention keeps them, or a resend of the key
    /// would create the task a second time.
    pub(crate) keyed: BTreeSet<TaskId>,
    /// Per priority, the brand whose task was leased last (brands take turns).
    pub(crate) turns: [BrandId; 4],
    /// Every periodic task (each is also stored).
    pub(crate) periodic: BTreeMap<PeriodicId, PeriodicTask>,
    /// The periodic tasks by brand and name: names are unique per brand, and a brand's count is
    /// a range of this map.
    pub(crate) periodic_names: BTreeMap<(BrandId, String), PeriodicId>,
    pub(crate) next_periodic_id: PeriodicId,
}

impl TaskState {
    /// An empty state: the first task gets id 1.
    pub fn new() -> Self {
        TaskState {
            next_id: 1,
            ..TaskState::default()
        }
    }

    /// Rebuilds the in-memory state from what storage holds.
    pub fn restore(
        next_id: TaskId,
        last_at: Timestamp,
        tasks: impl IntoIterator<Item = Task>,
        keys: impl IntoIterator<Item = (BrandId, String, Timestamp, TaskId)>,
    ) -> Self {
        let mut state = TaskState {
            next_id: next_id.max(1),
            last_at,
            ..TaskState::default()
        };
        for task in tasks {
            state.next_id = state.next_id.max(task.id + 1);
            state.last_at = state.last_at.max(task.updated_at);
            state.index.insert(&task);
        }
        state.keys_by_age = keys
            .into_iter()
            .map(|(b, k, at, task)| (at, b, k, task))
            .collect();
        state.keyed = state.keys_by_age.iter().map(|k| k.3).collect();
        state
    }

    /// The id the next created task gets.
    pub fn next_id(&self) -> TaskId {
        self.next_id
    }

    /// Per priority, the brand served last by a lease (kept with the state: it decides).
    pub fn turns(&self) -> [BrandId; 4] {
        self.turns
    }

    /// Sets the periodic tasks and their id counter, as read back from storage.
    pub fn set_periodic(
        &mut self,
        next_id: PeriodicId,
        tasks: impl IntoIterator<Item = PeriodicTask>,
    ) {
        self.periodic = tasks.into_iter().map(|p| (p.id, p)).collect();
        self.periodic_names = self
            .periodic
            .values()
            .map(|p| ((p.brand.id, p.spec.name.clone()), p.id))
            .collect();
        let after_last = self.periodic.keys().next_back().map_or(1, |id| id + 1);
        self.next_periodic_id = next_id.max(after_last);
    }

    /// The id the next periodic task gets.
    pub fn next_periodic_id(&self) -> PeriodicId {
        self.next_periodic_id.max(1)
    }

    /// Every periodic task, by id.
    pub fn periodic(&self) -> &BTreeMap<PeriodicId, PeriodicTask> {
        &self.periodic
    }

    /// Sets the brands served last, as read back from storage.
    pub fn set_turns(&mut self, turns: [BrandId; 4]) {
        self.turns = turns;
    }

    /// The latest proposal time applied.
    pub fn last_at(&self) -> Timestamp {
        self.last_at
    }

    /// The index of every task.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The tasks whose lease changed since the last call (see [`Index::take_lease_changes`]).
    pub fn take_lease_changes(&mut self) -> Vec<(TaskId, Option<crate::LeaseEntry>)> {
        self.index.take_lease_changes()
    }

    /// Applies one committed proposal: same state and input give the same output on every node.
    ///
    /// # Errors
    /// Only a storage failure; every refusal is an [`Outcome::Refused`].
    pub fn apply<R: Records>(
        &mut self,
        p: &Proposal,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let at = p.at.max(self.last_at);
        self.last_at = at;
        match &p.cmd {
            Command::Create(c) => self.create(c, at, rec),
            Command::Update(u) => self.update(u, at, rec),
            Command::Delete { id, brand } => self.delete(*id, *brand, rec),
            Command::Cancel { id, brand } => self.cancel(*id, *brand, at, rec),
            Command::Retry(r) => self.retry(r, at, rec),
            Command::Lease(l) => self.lease(l, at, rec),
            Command::Heartbeat(h) => self.heartbeat(h, at, rec),
            Command::Complete(c) => self.complete(c, at, rec),
            Command::Fail(f) => self.fail(f, at, rec),
            Command::EndAttempt(e) => self.end_attempt(e, at, rec),
            Command::CreatePeriodic {
                brand,
                brand_name,
                created_by,
                spec,
            } => Ok(self.create_periodic(*brand, brand_name.as_deref(), created_by, spec, at, rec)),
            Command::UpdatePeriodic { id, brand, patch } => {
                Ok(self.update_periodic(*id, *brand, patch, at, rec))
            }
            Command::DeletePeriodic { id, brand } => Ok(self.delete_periodic(*id, *brand, rec)),
            Command::FirePeriodic(f) => self.fire_periodic(f, at, rec),
            Command::Release(r) => self.release(r, at, rec),
            Command::Purge(p) => self.purge(p, at, rec),
            Command::CreateMany(c) => self.create_many(c, at, rec),
        }
    }

    /// Loads a task of the request's brand, or the refusal to answer.
    fn load<R: Records>(
        &self,
        id: TaskId,
        brand: BrandId,
        rec: &R,
    ) -> Result<Result<Task, Refusal>, StorageFault> {
        Ok(match rec.task(id)? {
            None => Err(Refusal::NotFound),
            Some(t) if t.brand.id != brand => Err(Refusal::WrongBrand),
            Some(t) => Ok(t),
        })
    }

    pub(crate) fn save<R: Records>(&mut self, task: &Task, rec: &mut R) {
        rec.put_task(task);
        self.index.insert(task);
    }

    pub(crate) fn create<R: Records>(
        &mut self,
        c: &CreateTask,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        self.expire_keys(at, KEYS_EXPIRED_PER_CREATE, rec);
        if let Some(claim) = &c.idempotency {
            if let Some(prev) = rec.idempotency(c.brand, &claim.key)? {
                if at.0.saturating_sub(prev.at.0) < IDEMPOTENCY_TTL_MICROS {
                    if prev.digest != claim.digest {
                        return Ok(Outcome::Refused(Refusal::IdempotencyKeyReused));
                    }
                    if let Some(task) = rec.task(prev.task)? {
                        return Ok(Outcome::Replayed(task));
                    }
                }
                // Expired, or its task was deleted since: the key starts afresh.
                self.forget_key(c.brand, &claim.key, &prev);
            }
        }
        let task = self.insert_task(c, at, rec);
        if let Some(claim) = &c.idempotency {
            self.remember_key(c.brand, &claim.key, claim.digest, task.id, at, rec);
        }
        Ok(Outcome::Created(task))
    }

    /// Drops a remembered key from memory (its record is overwritten or deleted by the caller).
    pub(crate) fn forget_key(&mut self, brand: BrandId, key: &str, prev: &IdempotencyRecord) {
        self.keys_by_age
            .remove(&(prev.at, brand, key.to_owned(), prev.task));
        self.keyed.remove(&prev.task);
    }

    /// Remembers that `key` (with a body of `digest`) created task `id`.
    pub(crate) fn remember_key<R: Records>(
        &mut self,
        brand: BrandId,
        key: &str,
        digest: u64,
        id: TaskId,
        at: Timestamp,
        rec: &mut R,
    ) {
        let record = IdempotencyRecord {
            task: id,
            digest,
            at,
        };
        rec.put_idempotency(brand, key, &record);
        self.keys_by_age.insert((at, brand, key.to_owned(), id));
        self.keyed.insert(id);
    }

    /// Makes and saves the task `c` describes, with the next id.
    pub(crate) fn insert_task<R: Records>(
        &mut self,
        c: &CreateTask,
        at: Timestamp,
        rec: &mut R,
    ) -> Task {
        let id = self.next_id;
        self.next_id += 1;
        let name = c
            .brand_name
            .clone()
            .or_else(|| self.index.brand_name(c.brand).map(str::to_owned))
            .unwrap_or_else(|| format!("brand-{}", c.brand));
        let task = Task {
            id,
            task_id: self.unique_task_id(&c.task_id, id),
            task_type: c.task_type.clone(),
            status: Status::Pending,
            priority: c.priority,
            description: c.description.clone(),
            progress_percentage: 0,
            brand: BrandRef { id: c.brand, name },
            created_by: c.created_by.clone(),
            created_at: at,
            updated_at: at,
            started_at: None,
            completed_at: None,
            cancelled_at: None,
            scheduled_for: c.scheduled_for,
            context_data: c.context_data.clone(),
            result_data: None,
            error_message: None,
            retry_count: 0,
            max_retries: c.max_retries,
            timeout_minutes: c.timeout_minutes,
            metrics: None,
            persistent_job: None,
            periodic_task: c.periodic_task,
            attempts: Vec::new(),
            lease: None,
            queued_at: at,
        };
        self.save(&task, rec);
        task
    }

    /// The proposer's random `task_id`, or, in the unlikely event it is taken, one derived
    /// deterministically from it and the numeric id.
    fn unique_task_id(&self, proposed: &str, id: TaskId) -> String {
        let mut candidate = proposed.to_owned();
        let mut salt = id;
        while self.index.by_task_id(&candidate).is_some() {
            let mut n = digest(&serde_json::json!([candidate, salt]));
            let mut suffix = String::with_capacity(12);
            for _ in 0..12 {
                let d = (n % 36) as u8;
                suffix.push(char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
                n /= 36;
            }
            candidate = format!("task_{suffix}");
            salt = salt.wrapping_add(1);
        }
        candidate
    }

    /// When the oldest remembered idempotency key was made.
    pub(crate) fn oldest_key(&self) -> Option<Timestamp> {
        self.keys_by_age.first().map(|k| k.0)
    }

    /// Forgets up to `max` idempotency keys older than their time to live.
    pub(crate) fn expire_keys<R: Records>(&mut self, at: Timestamp, max: usize, rec: &mut R) {
        for _ in 0..max {
            let Some(first) = self.keys_by_age.first() else {
                break;
            };
            if at.0.saturating_sub(first.0 .0) < IDEMPOTENCY_TTL_MICROS {
                break;
            }
            if let Some((_, brand, key, task)) = self.keys_by_age.pop_first() {
                rec.delete_idempotency(brand, &key);
                self.keyed.remove(&task);
            }
        }
    }

    fn update<R: Records>(
        &mut self,
        u: &UpdateTask,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let task = match self.load(u.id, u.brand, rec)? {
            Ok(t) => t,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        if u.task_type.as_ref().is_some_and(|t| *t != task.task_type) {
            let e = FieldErrors::single("task_type", "This field cannot be changed.");
            return Ok(Outcome::Refused(Refusal::Validation(e)));
        }
        let mut next = task.clone();
        if let Some(p) = u.priority {
            next.priority = p;
        }
        if let Some(d) = &u.description {
            next.description.clone_from(d);
        }
        if let Some(ctx) = &u.context_data {
            if u.merge_context {
                merge_patch(&mut next.context_data.0, &ctx.0);
            } else {
                next.context_data = ctx.clone();
            }
            if next.context_data.encoded_len() > MAX_CONTEXT_BYTES {
                let msg = format!("Must be at most {MAX_CONTEXT_BYTES} bytes when serialized.");
                let e = FieldErrors::single("context_data", msg);
                return Ok(Outcome::Refused(Refusal::Validation(e)));
            }
        }
        if let Some(s) = u.scheduled_for {
            next.scheduled_for = s;
        }
        if let Some(m) = u.max_retries {
            next.max_retries = m;
        }
        if let Some(t) = u.timeout_minutes {
            next.timeout_minutes = t;
        }
        if task.status == Status::Running {
            let mut only_description = next.clone();
            only_description.description.clone_from(&task.description);
            if only_description != task {
                return Ok(Outcome::Refused(invalid_status(
                    "update",
                    Status::Running,
                    &ALL_BUT_RUNNING,
                )));
            }
        }
        next.updated_at = at;
        self.save(&next, rec);
        Ok(Outcome::Updated(next))
    }

    fn delete<R: Records>(
        &mut self,
        id: TaskId,
        brand: BrandId,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let task = match self.load(id, brand, rec)? {
            Ok(t) => t,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        if task.status == Status::Running {
            return Ok(Outcome::Refused(invalid_status(
                "delete",
                task.status,
                &ALL_BUT_RUNNING,
            )));
        }
        rec.delete_task(id);
        self.index.remove(id);
        Ok(Outcome::Deleted)
    }

    fn cancel<R: Records>(
        &mut self,
        id: TaskId,
        brand: BrandId,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let mut task = match self.load(id, brand, rec)? {
            Ok(t) => t,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        const CANCELLABLE: [Status; 2] = [Status::Pending, Status::Running];
        let previous_status = task.status;
        if !CANCELLABLE.contains(&previous_status) {
            return Ok(Outcome::Refused(invalid_status(
                "cancel",
                previous_status,
                &CANCELLABLE,
            )));
        }
        if let Some(attempt) = task.attempts.last_mut() {
            if attempt.outcome == AttemptOutcome::Running {
                attempt.outcome = AttemptOutcome::Cancelled;
                attempt.finished_at = Some(at);
            }
        }
        task.status = Status::Cancelled;
        task.cancelled_at = Some(at);
        task.updated_at = at;
        self.save(&task, rec);
        Ok(Outcome::Cancelled {
            task,
            previous_status,
        })
    }

    fn retry<R: Records>(
        &mut self,
        r: &RetryTask,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let mut task = match self.load(r.id, r.brand, rec)? {
            Ok(t) => t,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        const RETRYABLE: [Status; 2] = [Status::Failed, Status::Cancelled];
        if !RETRYABLE.contains(&task.status) {
            return Ok(Outcome::Refused(invalid_status(
                "retry",
                task.status,
                &RETRYABLE,
            )));
        }
        if task.retry_count >= task.max_retries {
            return Ok(Outcome::Refused(Refusal::MaxRetriesExceeded {
                retry_count: task.retry_count,
                max_retries: task.max_retries,
            }));
        }
        task.status = Status::Pending;
        task.queued_at = at;
        task.lease = None;
        task.retry_count += 1;
        task.started_at = None;
        task.completed_at = None;
        task.cancelled_at = None;
        if r.reset_progress {
            // The contract: progress back to 0 and the checkpoint dropped (no empty one left
            // behind with a `checkpointed_at`).
            task.progress_percentage = 0;
            task.persistent_job = None;
        }
        if r.clear_errors {
            task.error_message = None;
        }
        if let Some(p) = r.new_priority {
            task.priority = p;
        }
        task.updated_at = at;
        self.save(&task, rec);
        Ok(Outcome::Retried(task))
    }
}

const ALL_BUT_RUNNING: [Status; 4] = [
    Status::Pending,
    Status::Completed,
    Status::Failed,
    Status::Cancelled,
];

fn invalid_status(action: &str, current: Status, allowed: &[Status]) -> Refusal {
    Refusal::InvalidStatus {
        action: action.to_owned(),
        current,
        allowed: allowed.to_vec(),
    }
}

mod bulk;
pub use bulk::MAX_BULK_TASKS;
#[cfg(test)]
pub(crate) mod tests;
