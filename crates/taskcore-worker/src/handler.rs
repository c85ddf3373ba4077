//! What a handler is given and what it answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

/// A boxed future, so that handlers are object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs tasks of one type. The runtime drops the future when the attempt is cancelled, its
/// lease is lost or the worker stops for good: clean up in `Drop`, as with any async Rust.
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt; answers the result object (`result_data`) or why it failed.
    fn run<'a>(
        &'a self,
        job: &'a Job,
        attempt: &'a AttemptHandle,
    ) -> BoxFuture<'a, Result<Value, HandlerError>>;
}

/// One attempt of a task, as leased.
#[derive(Clone, Debug)]
pub struct Job {
    /// The numeric id.
    pub id: u64,
    /// The public id (`task_…`).
    pub task_id: String,
    /// Its type.
    pub task_type: String,
    /// The attempt number, 1 for the first.
    pub attempt: u32,
    /// The task's input.
    pub context_data: Value,
    /// The last checkpoint of an earlier attempt, when the task is resumable.
    pub checkpoint: Option<Value>,
}

/// Why an attempt failed.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    /// Becomes the task's `error_message`.
    pub message: String,
    /// Whether another attempt may succeed (false: the task fails for good).
    pub retryable: bool,
}

impl HandlerError {
    /// A failure another attempt may not have.
    pub fn retryable(message: impl Into<String>) -> Self {
        HandlerError {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure no retry can fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        HandlerError {
            message: message.into(),
            retryable: false,
        }
    }
}

/// What the handler reports while it runs; sent with the next heartbeat.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Report {
    pub(crate) progress: Option<u8>,
    pub(crate) checkpoint: Option<Value>,
    /// Bumped with every new checkpoint, so that each is sent once.
    pub(crate) checkpoint_seq: u64,
    pub(crate) custom: Map<String, Value>,
}

/// The handler's side of a running attempt: progress, checkpoints and custom figures, sent
/// to the server with the next heartbeat.
#[derive(Clone, Debug, Default)]
pub struct AttemptHandle {
    report: Arc<Mutex<Report>>,
}

impl AttemptHandle {
    /// A new attempt's handle.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Report) -> T) -> T {
        f(&mut self.report.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reports progress, 0–100 (larger values count as 100).
    pub fn progress(&self, percent: u8) {
        self.with(|r| r.progress = Some(percent.min(100)));
    }

    /// Records a checkpoint object: the next attempt, if any, resumes from it.
    pub fn checkpoint(&self, checkpoint: Value) {
        self.with(|r| {
            r.checkpoint = Some(checkpoint);
            r.checkpoint_seq += 1;
        });
    }

    /// Sets a custom figure, merged into the task's `metrics.custom`.
    pub fn metric(&self, name: &str, value: Value) {
        self.with(|r| {
            r.custom.insert(name.to_owned(), value);
        });
    }

    /// The last progress reported.
    pub fn reported_progress(&self) -> Option<u8> {
        self.with(|r| r.progress)
    }

    /// The last checkpoint recorded.
    pub fn reported_checkpoint(&self) -> Option<Value> {
        self.with(|r| r.checkpoint.clone())
    }

    pub(crate) fn snapshot(&self) -> Report {
        self.with(|r| r.clone())
    }
}
