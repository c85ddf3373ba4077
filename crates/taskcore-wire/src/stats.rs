//! Statistics bodies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One value per priority queue, in the seed's order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PerPriority<T> {
    /// `critical`.
    pub critical: T,
    /// `high`.
    pub high: T,
    /// `normal`.
    pub normal: T,
    /// `low`.
    pub low: T,
}

/// One value per status, in lifecycle order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PerStatus<T> {
    /// `pending`.
    pub pending: T,
    /// `running`.
    pub running: T,
    /// `completed`.
    pub completed: T,
    /// `failed`.
    pub failed: T,
    /// `cancelled`.
    pub cancelled: T,
}

/// Counts of one priority queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueCounts {
    /// Pending tasks.
    pub pending: u64,
    /// Running tasks.
    pub running: u64,
    /// Tasks created since 00:00 UTC.
    pub total_today: u64,
}

/// `GET /tasks/queue-stats/`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueStats {
    /// Tasks in all.
    pub total_tasks: u64,
    /// Counts per priority queue.
    pub queues: PerPriority<QueueCounts>,
    /// Tasks per status.
    pub status_distribution: PerStatus<u64>,
    /// Mean processing time of completed tasks per priority, minutes, one decimal.
    pub avg_processing_time_minutes: PerPriority<Option<f64>>,
}

/// The statistics of one task type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TypeStat {
    /// Tasks in all.
    pub total: u64,
    /// Completed tasks.
    pub completed: u64,
    /// Failed tasks.
    pub failed: u64,
    /// Mean processing time of completed tasks, minutes, one decimal.
    pub avg_duration_minutes: Option<f64>,
    /// `completed / total × 100`, one decimal.
    pub success_rate: f64,
}

/// `GET /tasks/type-stats/`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TypeStats {
    /// Every type with at least one task.
    pub task_types: BTreeMap<String, TypeStat>,
}
