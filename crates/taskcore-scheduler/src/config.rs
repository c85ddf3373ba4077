//! How the scheduler ends attempts, spaces their retries and purges finished tasks.

use std::time::Duration;

use taskcore_core::Backoff;

/// The scheduler's settings.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Back-off base before the second attempt, in milliseconds.
    pub retry_base_ms: u64,
    /// Longest back-off, in milliseconds.
    pub retry_cap_ms: u64,
    /// After a node becomes leader, no lease ends before this much time has passed: workers
    /// get a full lease to reach the new leader with their heartbeats (they could not renew
    /// while no leader existed).
    pub takeover_grace: Duration,
    /// How long to wait before proposing again after a proposal failed (no quorum).
    pub retry_propose_after: Duration,
    /// How long a finished task is kept after its last change; `None`: for ever.
    pub keep_finished: Option<Duration>,
    /// The shortest time between two retention sweeps (each reads the whole index).
    pub retention_min_gap: Duration,
    /// A prefix for actor names, unique per node in one process (tests run several nodes).
    pub name: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            retry_base_ms: 5_000,
            retry_cap_ms: 600_000,
            takeover_grace: Duration::from_secs(30),
            retry_propose_after: Duration::from_millis(500),
            keep_finished: None,
            retention_min_gap: Duration::from_secs(60),
            name: "taskcore".into(),
        }
    }
}

impl SchedulerConfig {
    /// A back-off with its jitter drawn now, by the proposer: `apply` draws nothing.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            base_ms: self.retry_base_ms,
            cap_ms: self.retry_cap_ms,
            jitter: rand::random::<f64>(),
        }
    }
}
