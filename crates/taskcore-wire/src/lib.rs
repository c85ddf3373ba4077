//! The HTTP bodies of Task Core's contract (`CONTRACT.md`), as serde types.
//!
//! Shared by the edge (which renders them), the client, the worker and `taskctl` (which read
//! them). Serde only: no behaviour, and no dependency on any other crate of ours. With the
//! `openapi` feature the types also describe themselves for the OpenAPI document.

mod cluster;
mod error;
mod periodic;
mod stats;
mod task;
mod worker;

pub use cluster::{
    ClusterStatusBody, InitRequest, LearnerRequest, MembershipBody, MembershipRequest,
    NodeAddrBody, NodeStatusBody, ReplicationBody,
};
pub use error::ErrorBody;
pub use periodic::{PeriodicTaskBody, PeriodicTaskRequest, ScheduleBody};
pub use stats::{PerPriority, PerStatus, QueueCounts, QueueStats, TypeStat, TypeStats};
pub use task::{
    AttemptBody, BrandBody, CancelResponse, CreatedTasks, MetricsBody, NewTask, NewTasks, Page,
    PersistentJobBody, RetryRequest, RetryResponse, TaskBody, TaskPatch, TaskPriority, TaskStatus,
    UserBody,
};
pub use worker::{
    CompleteManyRequest, CompleteManyResponse, CompleteRequest, Completion, CompletionResult,
    FailRequest, FailResponse, HeartbeatRequest, HeartbeatResponse, LeaseRequest, LeaseResponse,
    LeasedTaskBody, MetricsReportBody, ReleaseRequest,
};
