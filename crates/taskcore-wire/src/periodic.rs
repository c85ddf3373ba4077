//! Periodic-task bodies.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{BrandBody, TaskPriority};

/// When a periodic task runs: exactly one of the two.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleBody {
    /// A 5-field cron expression (`minute hour day-of-month month day-of-week`, names such as
    /// `MON` and `JAN`, ranges, lists, steps), read in the task's `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// Every this many seconds, from `start_at` (or one interval after creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u64>,
}

/// A periodic task as every endpoint renders it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeriodicTaskBody {
    /// Cluster-wide id.
    pub id: u64,
    /// Unique within the brand.
    pub name: String,
    /// The type of the tasks it creates.
    pub task_type: String,
    /// Their priority.
    pub priority: TaskPriority,
    /// Their description.
    pub description: String,
    /// Their input.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub context_data: Value,
    /// Their automatic retries.
    pub max_retries: u32,
    /// Their attempt limit.
    pub timeout_minutes: u32,
    /// When it runs.
    pub schedule: ScheduleBody,
    /// IANA time zone of cron expressions.
    pub timezone: String,
    /// Whether it runs.
    pub enabled: bool,
    /// No run before.
    pub start_at: Option<String>,
    /// No run after.
    pub expires_at: Option<String>,
    /// Runs once, then disables itself.
    pub one_off: bool,
    /// When it last fired.
    pub last_run_at: Option<String>,
    /// When it fires next (`null`: disabled, expired or done).
    pub next_run_at: Option<String>,
    /// Tasks it created.
    pub total_run_count: u64,
    /// Owning brand.
    pub brand: BrandBody,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// `POST /periodic-tasks/` and `PUT`/`PATCH /periodic-tasks/{id}/`: absent fields keep (PATCH)
/// or take (POST, PUT) their defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeriodicTaskRequest {
    /// Required on POST and PUT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Required on POST and PUT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// Required on POST and PUT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleBody>,
    /// `normal` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<TaskPriority>,
    /// `""` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `{}` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub context_data: Option<Value>,
    /// 3 by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// 60 by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_minutes: Option<u32>,
    /// `UTC` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `true` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// No run before (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// No run after (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `false` by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub one_off: Option<bool>,
}
