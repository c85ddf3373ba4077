//! The task record and its enums.

use serde::{Deserialize, Serialize};

use crate::{BrandId, Json, TaskId, Timestamp};

/// Where a task is in its lifecycle. The declaration order is the lifecycle order used to sort.
///
/// Stored and replicated by position: a new status goes last, none is reordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Waiting to be leased (possibly until `scheduled_for`).
    Pending,
    /// An attempt holds a lease.
    Running,
    /// Finished successfully.
    Completed,
    /// Failed for good.
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Running,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
    ];

    /// The contract's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Parses the contract's name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Position in [`Status::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The priority queue a task waits in. The declaration order is the rank (low < critical).
///
/// Stored and replicated by position: the order never changes (`golden_formats` checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Served last.
    Low,
    /// The default.
    Normal,
    /// Served before normal.
    High,
    /// Served first.
    Critical,
}

impl Priority {
    /// Every priority, by rank from low to critical.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ];

    /// The contract's name of the priority.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    /// Parses the contract's name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Position in [`Priority::ALL`] (its rank).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The brand (tenant) a task belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandRef {
    /// Brand id, as in `X-Brand-ID`.
    pub id: BrandId,
    /// Display name, from the creating token's claim.
    pub name: String,
}

/// The user who created a task, from the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// User id (`sub` or `user_id`).
    pub id: u64,
    /// User name (`username`, or `user-{id}`).
    pub username: String,
}

/// The TaskMetrics extension: figures reported by workers and measured by the server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Wall time of the last attempt, as reported by the worker.
    pub execution_time_ms: Option<u64>,
    /// Peak memory reported by the worker.
    pub memory_usage_mb: Option<f64>,
    /// Time from becoming leasable to the lease, measured by the server.
    pub queue_wait_ms: Option<u64>,
    /// CPU time reported by the worker.
    pub cpu_time_ms: Option<u64>,
    /// Any further figures, as a JSON object.
    pub custom: Json,
}

/// The PersistentJob extension: the checkpoint a resumable task restarts from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersistentJob {
    /// Progress at the checkpoint.
    pub progress_percentage: u8,
    /// Whether the next attempt may resume from `checkpoint`.
    pub can_resume: bool,
    /// The worker's checkpoint object.
    pub checkpoint: Json,
    /// When the checkpoint was recorded.
    pub checkpointed_at: Timestamp,
}

/// How an attempt ended, or `Running` while it holds its lease.
///
/// **Append only**: stored and replicated by variant position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttemptOutcome {
    /// Still holds its lease.
    Running,
    /// The worker reported success.
    Completed,
    /// The worker reported a failure.
    Failed,
    /// The attempt ran longer than `timeout_minutes`.
    TimedOut,
    /// No heartbeat renewed the lease in time.
    LeaseExpired,
    /// The task was cancelled while the attempt ran.
    Cancelled,
    /// The worker gave the task back unfinished (it was shutting down).
    Released,
}

impl AttemptOutcome {
    /// The contract's name of the outcome.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Running => "running",
            AttemptOutcome::Completed => "completed",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::TimedOut => "timed_out",
            AttemptOutcome::LeaseExpired => "lease_expired",
            AttemptOutcome::Cancelled => "cancelled",
            AttemptOutcome::Released => "released",
        }
    }
}

/// One attempt at running a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// The worker that held the lease.
    pub worker_id: String,
    /// When the lease was granted.
    pub started_at: Timestamp,
    /// When the attempt ended.
    pub finished_at: Option<Timestamp>,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The error the attempt ended with.
    pub error_message: Option<String>,
}

/// The lease of the running attempt: only its holder may report on the attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Fences the attempt: every report must carry it.
    pub id: String,
    /// The worker holding it.
    pub worker_id: String,
    /// When it runs out unless a heartbeat renews it.
    pub expires_at: Timestamp,
    /// The attempt number it belongs to.
    pub attempt: u32,
}

/// A task: the full record, as stored and replicated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Cluster-wide id, assigned in commit order.
    pub id: TaskId,
    /// `task_` and 12 characters of `[a-z0-9]`.
    pub task_id: String,
    /// One of the configured task types.
    pub task_type: String,
    /// Lifecycle status.
    pub status: Status,
    /// Priority queue.
    pub priority: Priority,
    /// Free text, at most 2000 characters.
    pub description: String,
    /// 0 to 100.
    pub progress_percentage: u8,
    /// Owning brand.
    pub brand: BrandRef,
    /// Creating user.
    pub created_by: UserRef,
    /// Creation time (leader time).
    pub created_at: Timestamp,
    /// Time of the last change.
    pub updated_at: Timestamp,
    /// Start of the current attempt.
    pub started_at: Option<Timestamp>,
    /// End, when completed or failed for good.
    pub completed_at: Option<Timestamp>,
    /// Cancel time.
    pub cancelled_at: Option<Timestamp>,
    /// Not before this time.
    pub scheduled_for: Option<Timestamp>,
    /// Input object.
    pub context_data: Json,
    /// Output object reported by the worker.
    pub result_data: Option<Json>,
    /// Last error.
    pub error_message: Option<String>,
    /// Automatic and manual retries so far.
    pub retry_count: u32,
    /// 0 to 20.
    pub max_retries: u32,
    /// Limit of one attempt, 1 to 1440.
    pub timeout_minutes: u32,
    /// The TaskMetrics extension.
    pub metrics: Option<TaskMetrics>,
    /// The PersistentJob extension.
    pub persistent_job: Option<PersistentJob>,
    /// The periodic task that spawned this one.
    pub periodic_task: Option<u64>,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
    /// The lease of the running attempt (kept after a cancel, so that its holder hears of it).
    pub lease: Option<Lease>,
    /// When the task last became pending (created or retried): the start of its queue wait.
    pub queued_at: Timestamp,
}

impl Task {
    /// Whether the TaskMetrics extension exists.
    pub fn has_metrics(&self) -> bool {
        self.metrics.is_some()
    }

    /// Whether a resumable PersistentJob exists.
    pub fn is_resumable(&self) -> bool {
        self.persistent_job.as_ref().is_some_and(|j| j.can_resume)
    }
}

/// A `task_id` from a random number drawn by the proposer: `task_` and twelve characters of
/// `[a-z0-9]`, the base-36 digits of the number (36^12 is far below 2^128, so every suffix is
/// as likely as any other, to within one part in 10^19).
pub fn task_id_from(mut random: u128) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut suffix = String::with_capacity(12);
    for _ in 0..12 {
        suffix.push(char::from(ALPHABET[(random % 36) as usize]));
        random /= 36;
    }
    format!("task_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::task_id_from;

    #[test]
    fn task_ids_are_twelve_base36_characters() {
        for r in [0, 1, 35, 36, u128::MAX] {
            let id = task_id_from(r);
            let suffix = id.strip_prefix("task_").unwrap();
            assert_eq!(suffix.len(), 12);
            assert!(suffix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        }
        assert_eq!(task_id_from(0), "task_aaaaaaaaaaaa");
        assert_eq!(task_id_from(37), "task_bbaaaaaaaaaa");
        assert_ne!(task_id_from(1), task_id_from(2));
    }
}
