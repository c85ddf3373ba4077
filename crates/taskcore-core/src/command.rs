//! Replicated commands and their outcomes.

use serde::{Deserialize, Serialize};

use crate::{BrandId, FieldErrors, Json, Priority, Status, Task, TaskId, Timestamp, UserRef};

/// A command as proposed by the leader; `at` is leader time, the only clock `apply` may read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    /// Leader time when the command was proposed.
    pub at: Timestamp,
    /// What to do.
    pub cmd: Command,
}

/// Proposals written to the Raft log as one entry: the leader groups the writes waiting for it,
/// so that one append, one replication round and one flush serve them all. They apply in order.
///
/// Shared, not copied: openraft hands out a copy of an entry each time it reads one (to send it
/// to each follower, to apply it), and the proposals never change once proposed. Encoded as
/// the sequence of proposals, as a `Vec` is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch(pub std::sync::Arc<[Proposal]>);

/// Every change to the replicated task state.
///
/// **Append only**: written to the Raft log and sent between nodes by variant position, so a new
/// variant goes last and none is ever removed or reordered (`golden_formats` in
/// `taskcore-cluster` fails on any change).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Create a task.
    Create(CreateTask),
    /// Change a task's writable fields.
    Update(UpdateTask),
    /// Delete a task that is not running.
    Delete {
        /// The task.
        id: TaskId,
        /// The brand of the request.
        brand: BrandId,
    },
    /// Cancel a pending or running task.
    Cancel {
        /// The task.
        id: TaskId,
        /// The brand of the request.
        brand: BrandId,
    },
    /// Manually retry a failed or cancelled task.
    Retry(RetryTask),
    /// A worker asks for tasks: the state machine picks them and leases them.
    Lease(LeaseTasks),
    /// The holder of a lease renews it and reports progress.
    Heartbeat(Heartbeat),
    /// The holder of a lease reports success.
    Complete(CompleteAttempt),
    /// The holder of a lease reports a failure.
    Fail(FailAttempt),
    /// The leader ends an attempt whose lease ran out or that ran past its timeout.
    EndAttempt(EndAttempt),
    /// Create a periodic task.
    CreatePeriodic {
        /// Brand id of the request.
        brand: BrandId,
        /// Brand name from the token, when the token names this brand.
        brand_name: Option<String>,
        /// The creating user.
        created_by: UserRef,
        /// Its fields.
        spec: crate::PeriodicSpec,
    },
    /// Change a periodic task.
    UpdatePeriodic {
        /// The periodic task.
        id: crate::PeriodicId,
        /// The brand of the request.
        brand: BrandId,
        /// What changes.
        patch: crate::PeriodicPatch,
    },
    /// Delete a periodic task (the tasks it created stay).
    DeletePeriodic {
        /// The periodic task.
        id: crate::PeriodicId,
        /// The brand of the request.
        brand: BrandId,
    },
    /// Fire a periodic task: a due run, or a run-now.
    FirePeriodic(crate::FirePeriodic),
    /// The holder of a lease gives the task back unfinished (a worker shutting down).
    Release(ReleaseAttempt),
    /// Delete finished tasks past the retention age (proposed by the leader).
    Purge(crate::PurgeFinished),
    /// Create several tasks at once (`POST /tasks/bulk/`): all of them, in order, or none.
    CreateMany(CreateTasks),
}

/// Tasks created by one request, validated as a whole first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateTasks {
    /// The tasks, in the request's order; none carries an idempotency claim of its own.
    pub tasks: Vec<CreateTask>,
    /// The request's `Idempotency-Key` and the digest of its whole body, when sent.
    pub idempotency: Option<IdempotencyClaim>,
}

/// A worker's lease request, stamped by the leader.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaseTasks {
    /// The worker.
    pub worker_id: String,
    /// Task types it runs (empty: any).
    pub task_types: Vec<String>,
    /// At most this many tasks (1–100).
    pub max_tasks: u32,
    /// How long a lease lives without a heartbeat.
    pub lease_ttl_ms: u64,
    /// Random value drawn by the leader, from which lease ids are derived.
    pub seed: u64,
}

/// Worker-reported figures (TaskMetrics).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    /// Wall time of the attempt.
    pub execution_time_ms: Option<u64>,
    /// Peak memory.
    pub memory_usage_mb: Option<f64>,
    /// CPU time.
    pub cpu_time_ms: Option<u64>,
    /// Further figures, merged into `custom`.
    pub custom: Option<Json>,
}

/// A heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The task.
    pub id: TaskId,
    /// The lease it reports under.
    pub lease_id: String,
    /// Progress, 0–100.
    pub progress: Option<u8>,
    /// A checkpoint: makes the task resumable from it.
    pub checkpoint: Option<Json>,
    /// Figures so far.
    pub metrics: Option<MetricsReport>,
    /// The renewed lease lives this long.
    pub lease_ttl_ms: u64,
}

/// A report of success.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompleteAttempt {
    /// The task.
    pub id: TaskId,
    /// The lease it reports under.
    pub lease_id: String,
    /// The result object.
    pub result_data: Json,
    /// Final figures.
    pub metrics: Option<MetricsReport>,
}

/// How long to wait before an automatic retry: before attempt n+1, a delay drawn uniformly in
/// `[0, min(cap, base × 2^(n−1))]` (exponential back-off with full jitter).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// Base delay.
    pub base_ms: u64,
    /// Largest delay.
    pub cap_ms: u64,
    /// The uniform draw in `[0, 1)`, made by the leader.
    pub jitter: f64,
}

impl Backoff {
    /// The delay after attempt `n` (1-based) failed.
    pub fn delay_ms(&self, n: u32) -> u64 {
        let exp = n.saturating_sub(1).min(62);
        let ceiling = self.base_ms.saturating_mul(1u64 << exp).min(self.cap_ms);
        (ceiling as f64 * self.jitter.clamp(0.0, 1.0)) as u64
    }
}

/// A report of failure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailAttempt {
    /// The task.
    pub id: TaskId,
    /// The lease it reports under.
    pub lease_id: String,
    /// What went wrong.
    pub error_message: String,
    /// Whether an automatic retry may follow.
    pub retryable: bool,
    /// Final figures.
    pub metrics: Option<MetricsReport>,
    /// The back-off before a retry.
    pub backoff: Backoff,
}

/// A task given back unfinished by the holder of its lease: pending again at once, without a
/// back-off, and without spending a retry (the attempt did not fail).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleaseAttempt {
    /// The task.
    pub id: TaskId,
    /// The lease it gives back.
    pub lease_id: String,
    /// Why, kept in the attempts history.
    pub reason: String,
    /// Where the next attempt should resume, if the worker has a newer checkpoint.
    pub checkpoint: Option<Json>,
}

/// The end of an attempt decided by the leader's timers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndAttempt {
    /// The task.
    pub id: TaskId,
    /// The lease that ran out (a stale end for an older lease changes nothing).
    pub lease_id: String,
    /// `LeaseExpired` or `TimedOut`.
    pub outcome: crate::AttemptOutcome,
    /// The back-off before a retry.
    pub backoff: Backoff,
}

/// A task handed to a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeasedTask {
    /// The task, now running (its `persistent_job` carries the last checkpoint).
    pub task: Task,
    /// The lease.
    pub lease: crate::Lease,
}

/// A validated creation request, stamped by the proposer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateTask {
    /// Random `task_` id drawn by the proposer.
    pub task_id: String,
    /// Brand id of the request.
    pub brand: BrandId,
    /// Brand name from the token, when the token names this brand.
    pub brand_name: Option<String>,
    /// The creating user.
    pub created_by: UserRef,
    /// Task type (validated).
    pub task_type: String,
    /// Priority.
    pub priority: Priority,
    /// Description.
    pub description: String,
    /// Input object.
    pub context_data: Json,
    /// Not before this time.
    pub scheduled_for: Option<Timestamp>,
    /// Automatic retries allowed.
    pub max_retries: u32,
    /// Limit of one attempt.
    pub timeout_minutes: u32,
    /// The periodic task that spawned it.
    pub periodic_task: Option<u64>,
    /// The `Idempotency-Key` and body digest, when sent.
    pub idempotency: Option<IdempotencyClaim>,
}

/// An `Idempotency-Key` with the digest of the body it came with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyClaim {
    /// The key, at most 255 characters.
    pub key: String,
    /// [`crate::digest`] of the request body.
    pub digest: u64,
}

/// A validated update. `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateTask {
    /// The task.
    pub id: TaskId,
    /// The brand of the request.
    pub brand: BrandId,
    /// A `task_type` sent with the update: it must equal the current one.
    pub task_type: Option<String>,
    /// New priority.
    pub priority: Option<Priority>,
    /// New description.
    pub description: Option<String>,
    /// New input object: replaced (PUT) or merge-patched (PATCH).
    pub context_data: Option<Json>,
    /// Whether `context_data` is an RFC 7396 merge patch rather than a replacement.
    pub merge_context: bool,
    /// New `scheduled_for`; `Some(None)` clears it.
    pub scheduled_for: Option<Option<Timestamp>>,
    /// New `max_retries`.
    pub max_retries: Option<u32>,
    /// New `timeout_minutes`.
    pub timeout_minutes: Option<u32>,
}

/// A manual retry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryTask {
    /// The task.
    pub id: TaskId,
    /// The brand of the request.
    pub brand: BrandId,
    /// Progress to 0 and the checkpoint dropped.
    pub reset_progress: bool,
    /// `error_message` to null.
    pub clear_errors: bool,
    /// A new priority.
    pub new_priority: Option<Priority>,
}

/// What applying a command did. A refusal is an outcome, recorded the same on every replica.
///
/// **Append only**: written to the Raft log and sent between nodes by variant position, so a new
/// variant goes last and none is ever removed or reordered (`golden_formats` in
/// `taskcore-cluster` fails on any change).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// A task was created.
    Created(Task),
    /// The idempotency key was seen before with the same body: the task it created.
    Replayed(Task),
    /// The task after the update.
    Updated(Task),
    /// The task was deleted.
    Deleted,
    /// The task after cancelling, with the status it had before.
    Cancelled {
        /// The task after the cancel.
        task: Task,
        /// Its status before.
        previous_status: Status,
    },
    /// The task after a manual retry.
    Retried(Task),
    /// Nothing changed.
    Refused(Refusal),
    /// Tasks leased to a worker (possibly none).
    Leased(Vec<LeasedTask>),
    /// A heartbeat was accepted.
    HeartbeatAccepted {
        /// The renewed lease's end.
        lease_expires_at: Timestamp,
        /// The task was cancelled: the worker should stop.
        cancel_requested: bool,
    },
    /// A periodic task as created or changed.
    Periodic(Box<crate::PeriodicTask>),
    /// The periodic task is gone.
    PeriodicDeleted,
    /// A periodic task fired: the task it created, and the schedule moved on.
    PeriodicFired {
        /// The periodic task after the fire.
        periodic: Box<crate::PeriodicTask>,
        /// The task created.
        task: Task,
    },
    /// The attempt completed the task.
    AttemptCompleted(Task),
    /// The attempt failed, timed out or lost its lease.
    AttemptEnded {
        /// The task after the decision.
        task: Task,
        /// Whether an automatic retry follows.
        will_retry: bool,
        /// When the retry may start.
        next_attempt_at: Option<Timestamp>,
    },
    /// The holder gave the task back: pending again, no retry spent.
    AttemptReleased(Task),
    /// Finished tasks past the retention age were deleted.
    Purged {
        /// How many.
        count: u32,
    },
    /// Tasks created by one request, in its order.
    CreatedMany(Vec<Task>),
    /// The request's idempotency key was seen before with the same body: the tasks it created
    /// that still exist, in its order.
    ReplayedMany(Vec<Task>),
}

/// Why a command changed nothing.
///
/// **Append only**: written to the Raft log and sent between nodes by variant position, so a new
/// variant goes last and none is ever removed or reordered (`golden_formats` in
/// `taskcore-cluster` fails on any change).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Refusal {
    /// No task has that id.
    NotFound,
    /// The task belongs to another brand.
    WrongBrand,
    /// The operation is not allowed in the task's status.
    InvalidStatus {
        /// What was attempted, for the message (`retry`, `cancel`, …).
        action: String,
        /// The task's status.
        current: Status,
        /// The statuses that allow the operation.
        allowed: Vec<Status>,
    },
    /// A manual retry with `retry_count >= max_retries`.
    MaxRetriesExceeded {
        /// Retries so far.
        retry_count: u32,
        /// Retries allowed.
        max_retries: u32,
    },
    /// The idempotency key was used with another body.
    IdempotencyKeyReused,
    /// Field errors found against the current state.
    Validation(FieldErrors),
    /// The lease is not the task's current one (fenced), or the task is no longer running.
    LeaseLost,
    /// An end of attempt proposed before its time (a heartbeat renewed the lease since).
    NotDue,
}
