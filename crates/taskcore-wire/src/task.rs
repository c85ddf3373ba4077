//! Task bodies: the task as rendered, requests, action answers and the list page.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A task's lifecycle status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Waiting to be leased.
    Pending,
    /// An attempt holds a lease.
    Running,
    /// Finished successfully.
    Completed,
    /// Failed for good.
    Failed,
    /// Cancelled.
    Cancelled,
}

/// A task's priority queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TaskPriority {
    /// Served last.
    Low,
    /// The default.
    Normal,
    /// Before normal.
    High,
    /// First.
    Critical,
}

/// `{"id", "name"}` of a brand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrandBody {
    /// Brand id.
    pub id: u64,
    /// Brand name.
    pub name: String,
}

/// `{"id", "username"}` of the creating user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserBody {
    /// User id.
    pub id: u64,
    /// User name.
    pub username: String,
}

/// The TaskMetrics extension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricsBody {
    /// Wall time of the last attempt, reported by the worker.
    pub execution_time_ms: Option<u64>,
    /// Peak memory reported by the worker.
    pub memory_usage_mb: Option<f64>,
    /// Time from leasable to leased, measured by the server.
    pub queue_wait_ms: Option<u64>,
    /// CPU time reported by the worker.
    pub cpu_time_ms: Option<u64>,
    /// Further figures.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub custom: Value,
}

/// The PersistentJob extension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersistentJobBody {
    /// Progress at the checkpoint.
    pub progress_percentage: u8,
    /// Whether the next attempt resumes from the checkpoint.
    pub can_resume: bool,
    /// The checkpoint object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub checkpoint: Value,
    /// When the checkpoint was recorded.
    pub checkpointed_at: String,
}

/// One attempt, in the detail view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptBody {
    /// 1 for the first.
    pub number: u32,
    /// The worker that held the lease.
    pub worker_id: String,
    /// Lease time.
    pub started_at: String,
    /// End time.
    pub finished_at: Option<String>,
    /// `running`, `completed`, `failed`, `timed_out`, `lease_expired`, `cancelled` or `released`.
    pub outcome: String,
    /// The error it ended with.
    pub error_message: Option<String>,
}

/// A task as every endpoint renders it; every field present, `null` when unset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskBody {
    /// Cluster-wide id, in commit order.
    pub id: u64,
    /// `task_` + 12 characters.
    pub task_id: String,
    /// Task type.
    pub task_type: String,
    /// Status.
    pub status: TaskStatus,
    /// Priority.
    pub priority: TaskPriority,
    /// Description.
    pub description: String,
    /// 0–100.
    pub progress_percentage: u8,
    /// Owning brand.
    pub brand: BrandBody,
    /// Creating user.
    pub created_by: UserBody,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Start of the current attempt.
    pub started_at: Option<String>,
    /// End, when completed or failed for good.
    pub completed_at: Option<String>,
    /// Cancel time.
    pub cancelled_at: Option<String>,
    /// Not before.
    pub scheduled_for: Option<String>,
    /// Input.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub context_data: Value,
    /// Output.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result_data: Option<Value>,
    /// Last error.
    pub error_message: Option<String>,
    /// Retries so far.
    pub retry_count: u32,
    /// Retries allowed.
    pub max_retries: u32,
    /// Limit of one attempt.
    pub timeout_minutes: u32,
    /// Whether `metrics` exist.
    pub has_metrics: bool,
    /// Whether a resumable `persistent_job` exists.
    pub is_resumable: bool,
    /// TaskMetrics.
    pub metrics: Option<MetricsBody>,
    /// PersistentJob.
    pub persistent_job: Option<PersistentJobBody>,
    /// The periodic task that spawned it.
    pub periodic_task: Option<u64>,
    /// Every attempt, oldest first (detail view only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptBody>>,
}

/// A page of a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// Matches in all.
    pub count: u64,
    /// Relative link to the next page.
    pub next: Option<String>,
    /// Relative link to the previous page.
    pub previous: Option<String>,
    /// This page.
    pub results: Vec<T>,
}

/// `POST /tasks/`; absent fields take their defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTask {
    /// Required: one of the configured types.
    pub task_type: String,
    /// Default `normal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<TaskPriority>,
    /// At most 2000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An object of at most 64 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context_data: Option<Value>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
    /// 0–20, default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// 1–1440, default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<u32>,
}

/// `POST /tasks/bulk/`: up to 1,000 tasks, created together or not at all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTasks {
    /// The tasks, each as `POST /tasks/` takes it; created with increasing ids in this order.
    pub tasks: Vec<NewTask>,
}

/// The answer to `POST /tasks/bulk/`: the tasks, in the request's order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedTasks {
    /// How many tasks `results` holds.
    pub count: u64,
    /// The tasks as created (or, for a replayed `Idempotency-Key`, as they are now; a task
    /// deleted since is left out).
    pub results: Vec<TaskBody>,
}

/// `PATCH /tasks/{id}/` (and, with `task_type`, `PUT`): the fields to change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TaskPatch {
    /// May be sent, not changed; required by PUT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// New priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<TaskPriority>,
    /// New description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// PATCH: an RFC 7396 merge patch; PUT: the new object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context_data: Option<Value>,
    /// New `scheduled_for`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_for: Option<String>,
    /// New `max_retries`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// New `timeout_minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<u32>,
}

/// `POST /tasks/{id}/retry/`; every field optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetryRequest {
    /// Progress to 0 and the checkpoint dropped (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_progress: Option<bool>,
    /// `error_message` to null (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_errors: Option<bool>,
    /// A new priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_priority: Option<TaskPriority>,
}

/// The answer to a manual retry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetryResponse {
    /// `Task queued for retry`.
    pub message: String,
    /// The task's `task_id`.
    pub task_id: String,
    /// `pending`.
    pub new_status: TaskStatus,
    /// Retries so far.
    pub retry_count: u32,
    /// Retries allowed.
    pub max_retries: u32,
    /// When the task is expected to start.
    pub estimated_start: String,
}

/// The answer to a cancel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CancelResponse {
    /// `Task cancelled successfully`.
    pub message: String,
    /// The task's `task_id`.
    pub task_id: String,
    /// The status before the cancel.
    pub previous_status: TaskStatus,
    /// The cancel time.
    pub cancelled_at: String,
}
