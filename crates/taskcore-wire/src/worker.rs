//! Worker protocol bodies.

use serde::{Deserialize, Serialize};

use crate::TaskBody;

/// A leased task: the task and its lease.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeasedTaskBody {
    /// The task, now running.
    #[serde(flatten)]
    pub task: TaskBody,
    /// Every report on this attempt carries it.
    pub lease_id: String,
    /// When the lease runs out unless a heartbeat renews it.
    pub lease_expires_at: String,
    /// The attempt number (1 for the first).
    pub attempt: u32,
}

/// `POST /workers/lease/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaseResponse {
    /// The tasks leased (possibly none).
    pub tasks: Vec<LeasedTaskBody>,
}

/// `POST /workers/tasks/{id}/heartbeat/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatResponse {
    /// The renewed lease's end.
    pub lease_expires_at: String,
    /// The task was cancelled: stop working on it.
    pub cancel_requested: bool,
}

/// `POST /workers/tasks/{id}/fail/`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailResponse {
    /// Whether an automatic retry follows.
    pub will_retry: bool,
    /// When the retry may start.
    pub next_attempt_at: Option<String>,
}

/// The body of `POST /workers/lease/`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeaseRequest {
    /// Who asks (shown in the attempts history).
    pub worker_id: String,
    /// The task types it runs; empty: any.
    pub task_types: Vec<String>,
    /// At most this many tasks, 1–100.
    pub max_tasks: u32,
    /// Wait this long for a task, 0–30 seconds.
    pub wait_seconds: u32,
}

/// Figures a worker reports on an attempt.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricsReportBody {
    /// Wall time of the attempt so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_time_ms: Option<u64>,
    /// Peak memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_usage_mb: Option<f64>,
    /// CPU time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_time_ms: Option<u64>,
    /// Anything else, merged into the task's custom metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub custom: Option<serde_json::Value>,
}

/// The body of `POST /workers/tasks/{id}/heartbeat/`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeartbeatRequest {
    /// The attempt's lease.
    pub lease_id: String,
    /// Progress, 0–100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress_percentage: Option<u8>,
    /// A checkpoint to resume from.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub checkpoint: Option<serde_json::Value>,
    /// Figures so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsReportBody>,
}

/// The body of `POST /workers/tasks/{id}/complete/`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompleteRequest {
    /// The attempt's lease.
    pub lease_id: String,
    /// The result object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub result_data: serde_json::Value,
    /// Final figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsReportBody>,
}

/// One report of `POST /workers/complete/`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Completion {
    /// The task's numeric `id`.
    pub id: u64,
    /// The attempt's lease.
    pub lease_id: String,
    /// The result object.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub result_data: serde_json::Value,
    /// Final figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsReportBody>,
}

/// The body of `POST /workers/complete/`: up to 100 successes reported at once.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompleteManyRequest {
    /// The reports, each as `POST /workers/tasks/{id}/complete/` takes it, with the task's id.
    pub completions: Vec<Completion>,
}

/// What became of one report of `POST /workers/complete/`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompletionResult {
    /// The task.
    pub id: u64,
    /// The HTTP status the report would have had alone (200: completed; 409: the lease is
    /// lost; 404: no such task).
    pub status: u16,
    /// Why it was refused, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::ErrorBody>,
}

/// The answer to `POST /workers/complete/`: one result per report, in the request's order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompleteManyResponse {
    /// The results.
    pub results: Vec<CompletionResult>,
}

/// The body of `POST /workers/tasks/{id}/fail/`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailRequest {
    /// The attempt's lease.
    pub lease_id: String,
    /// What went wrong.
    pub error_message: String,
    /// Whether another attempt may help (default true).
    pub retryable: bool,
    /// Final figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsReportBody>,
}

/// The body of `POST /workers/tasks/{id}/release/`: give the task back unfinished.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReleaseRequest {
    /// The attempt's lease.
    pub lease_id: String,
    /// Why (kept in the attempts history), e.g. "the worker is shutting down".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the next attempt should resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub checkpoint: Option<serde_json::Value>,
}
