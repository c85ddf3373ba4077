//! The domain of Task Core: tasks and their enums, every validation rule, the replicated
//! `Command`s and the pure, deterministic state machine that applies them, and the in-memory
//! index that answers queries and statistics.
//!
//! This crate does no IO, reads no clock and draws no random number: time and random values
//! arrive inside a [`Proposal`], stamped by the proposer. Full task records are read and written
//! through the [`Records`] trait, which the storage crate implements over sled and tests implement
//! in memory. It must not depend on any other crate of ours.

mod columns;
mod command;
mod execution;
mod index;
mod json;
mod leases;
mod leasing;
mod periodic;
mod query;
mod records;
mod retention;
pub mod schedule;
mod state;
mod stats;
mod task;
mod time;
pub mod validate;

pub use command::{
    Backoff, Batch, Command, CompleteAttempt, CreateTask, CreateTasks, EndAttempt, FailAttempt,
    Heartbeat, IdempotencyClaim, LeaseTasks, LeasedTask, MetricsReport, Outcome, Proposal, Refusal,
    ReleaseAttempt, RetryTask, UpdateTask,
};
pub use execution::{
    truncate_error_message, MAX_ATTEMPTS_KEPT, MAX_CUSTOM_METRICS_BYTES, MAX_ERROR_MESSAGE_CHARS,
    MAX_LEASE_TASKS,
};
pub use index::{Entry, Index};
pub use json::{digest, merge_patch, Json};
pub use leases::LeaseEntry;
pub use periodic::{
    too_many_periodic, FirePeriodic, PeriodicId, PeriodicPatch, PeriodicSpec, PeriodicTask,
    MAX_PERIODIC_PER_BRAND,
};
pub use query::{OrderField, OrderKey, QueryPage, TaskQuery};
pub use records::{IdempotencyRecord, MemRecords, Records, StorageFault};
pub use retention::{PurgeFinished, MAX_PURGE};
pub use state::{TaskState, IDEMPOTENCY_TTL_MICROS, MAX_BULK_TASKS};
pub use stats::{QueueStats, TypeStat, TypeStats};
pub use task::{
    task_id_from, Attempt, AttemptOutcome, BrandRef, Lease, PersistentJob, Priority, Status, Task,
    TaskMetrics, UserRef,
};
pub use time::Timestamp;
pub use validate::{FieldErrors, TaskTypes};

/// The cluster-wide numeric id of a task, assigned in commit order.
pub type TaskId = u64;
/// The numeric id of a brand (tenant).
pub type BrandId = u64;
