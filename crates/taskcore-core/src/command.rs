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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch(pub Vec<Proposal>);

/// Every change to the replicated task state.
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
}

/// Why a command changed nothing.
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
}
