//! Execution figures counted as the state machine applies: leases, completions, failures,
//! releases, retries, expiries, time-outs and attempt durations. Every replica counts the same committed
//! outcomes, so any node answers for the cluster (since it started).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use taskcore_core::{AttemptOutcome, Outcome, Status, Task};

/// Upper bounds of the attempt-duration buckets, in seconds.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0,
];

/// Completed attempts whose durations make the recent mean.
const RECENT: usize = 256;

/// Counters of the executions applied since this node started.
#[derive(Debug, Default)]
pub struct ExecutionStats {
    /// Attempts started (tasks leased).
    pub leased: AtomicU64,
    /// Attempts a worker completed.
    pub completed: AtomicU64,
    /// Attempts a worker reported failed.
    pub failed: AtomicU64,
    /// Attempts ended because their lease ran out.
    pub expired: AtomicU64,
    /// Attempts ended because they ran longer than `timeout_minutes`.
    pub timed_out: AtomicU64,
    /// Attempts given back unfinished by their worker (no retry spent).
    pub released: AtomicU64,
    /// Automatic retries decided.
    pub retried: AtomicU64,
    /// Tasks failed for good (retries exhausted or not retryable).
    pub exhausted: AtomicU64,
    /// Tasks created by periodic tasks (due runs and runs now).
    pub periodic_fired: AtomicU64,
    /// Finished tasks deleted by the retention policy.
    pub purged: AtomicU64,
    /// Durations of the latest completed attempts, in milliseconds, oldest first.
    recent_ms: Mutex<VecDeque<u64>>,
    duration_count: AtomicU64,
    duration_sum_micros: AtomicU64,
    duration_buckets: [AtomicU64; DURATION_BUCKETS.len()],
}

/// A copy of the duration histogram: count, sum in seconds and cumulative bucket counts.
#[derive(Clone, Debug, PartialEq)]
pub struct DurationHistogram {
    /// Attempts measured.
    pub count: u64,
    /// Their total duration in seconds.
    pub sum_seconds: f64,
    /// Per bound of [`DURATION_BUCKETS`], attempts that took at most that long.
    pub buckets: [u64; DURATION_BUCKETS.len()],
}

impl ExecutionStats {
    /// Counts one applied outcome.
    pub(crate) fn count(&self, outcome: &Outcome) {
        match outcome {
            Outcome::Leased(tasks) => add(&self.leased, tasks.len() as u64),
            Outcome::AttemptCompleted(task) => {
                add(&self.completed, 1);
                if let Some(micros) = self.observe(task) {
                    let mut recent = self.recent_ms.lock().unwrap_or_else(|e| e.into_inner());
                    if recent.len() == RECENT {
                        recent.pop_front();
                    }
                    recent.push_back(micros / 1000);
                }
            }
            Outcome::AttemptEnded {
                task, will_retry, ..
            } => {
                let ended = task.attempts.last().map(|a| a.outcome);
                match ended {
                    Some(AttemptOutcome::Failed) => add(&self.failed, 1),
                    Some(AttemptOutcome::TimedOut) => add(&self.timed_out, 1),
                    Some(AttemptOutcome::LeaseExpired) => add(&self.expired, 1),
                    // A cancelled task's lease dropped: the attempt ended at the cancel.
                    _ => return,
                }
                if *will_retry {
                    add(&self.retried, 1);
                } else if task.status == Status::Failed {
                    add(&self.exhausted, 1);
                }
                self.observe(task);
            }
            Outcome::AttemptReleased(task) => {
                add(&self.released, 1);
                self.observe(task);
            }
            Outcome::PeriodicFired { .. } => add(&self.periodic_fired, 1),
            Outcome::Purged { count } => add(&self.purged, u64::from(*count)),
            _ => {}
        }
    }

    /// Records the duration of the task's last attempt; answers it in microseconds.
    fn observe(&self, task: &Task) -> Option<u64> {
        let (started, finished) = task
            .attempts
            .last()
            .and_then(|a| Some((a.started_at, a.finished_at?)))?;
        let micros = u64::try_from(finished.0.saturating_sub(started.0)).unwrap_or(0);
        add(&self.duration_count, 1);
        add(&self.duration_sum_micros, micros);
        let seconds = micros as f64 / 1e6;
        for (bucket, bound) in self.duration_buckets.iter().zip(DURATION_BUCKETS) {
            if seconds <= bound {
                add(bucket, 1);
            }
        }
        Some(micros)
    }

    /// The mean duration of the latest completed attempts this node applied, in milliseconds;
    /// `None` before the first.
    pub fn recent_mean_ms(&self) -> Option<f64> {
        let recent = self.recent_ms.lock().unwrap_or_else(|e| e.into_inner());
        (!recent.is_empty()).then(|| recent.iter().sum::<u64>() as f64 / recent.len() as f64)
    }

    /// The attempt-duration histogram.
    pub fn durations(&self) -> DurationHistogram {
        DurationHistogram {
            count: self.duration_count.load(Ordering::Relaxed),
            sum_seconds: self.duration_sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            buckets: std::array::from_fn(|i| self.duration_buckets[i].load(Ordering::Relaxed)),
        }
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}
