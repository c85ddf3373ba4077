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
