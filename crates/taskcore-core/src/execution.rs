//! The execution commands of the state machine: leases, heartbeats, completions, failures and
//! the ends the leader's timers decide, with automatic retries.

use crate::{
    Attempt, AttemptOutcome, Backoff, CompleteAttempt, EndAttempt, FailAttempt, FieldErrors,
    Heartbeat, Json, Lease, LeaseTasks, LeasedTask, MetricsReport, Outcome, PersistentJob, Records,
    Refusal, ReleaseAttempt, Status, StorageFault, Task, TaskMetrics, TaskState, Timestamp,
};

/// Most tasks one lease request takes.
pub const MAX_LEASE_TASKS: u32 = 100;
/// Largest `metrics.custom` of a task, as JSON text, once a worker's report is merged into it.
pub const MAX_CUSTOM_METRICS_BYTES: usize = 64 * 1024;
/// Attempts a task keeps: past this, the oldest are dropped (numbers go on counting).
pub const MAX_ATTEMPTS_KEPT: usize = 100;
/// Longest `error_message` kept from a worker's failure report, in characters; a longer one is
/// cut there and marked (a failure is never refused for its message's length).
pub const MAX_ERROR_MESSAGE_CHARS: usize = 16 * 1024;

/// `message`, cut to [`MAX_ERROR_MESSAGE_CHARS`] characters and marked when it was longer.
pub fn truncate_error_message(message: &str) -> String {
    const MARK: &str = " … [truncated]";
    match message.char_indices().nth(MAX_ERROR_MESSAGE_CHARS) {
        None => message.to_owned(),
        Some(_) => {
            let keep = MAX_ERROR_MESSAGE_CHARS - MARK.chars().count();
            let cut = message
                .char_indices()
                .nth(keep)
                .map_or(message.len(), |(i, _)| i);
            format!("{}{MARK}", &message[..cut])
        }
    }
}

/// A lease id derived from the leader's seed and the task: unguessable, and the same on every
/// replica.
fn lease_id(seed: u64, id: u64, attempt: u32) -> String {
    let value = serde_json::json!([seed, id, attempt]);
    format!("lease_{:016x}", crate::digest(&value))
}

/// Merges a worker's figures into the task's metrics; refused (and nothing merged) when the
/// custom figures would grow past [`MAX_CUSTOM_METRICS_BYTES`].
fn merge_metrics(task: &mut Task, report: Option<&MetricsReport>) -> Result<(), Refusal> {
    let Some(r) = report else { return Ok(()) };
    let custom = match (&r.custom, task.metrics.as_ref()) {
        (None, _) => None,
        (Some(patch), current) => {
            let mut merged = current.map_or_else(Json::empty_object, |m| m.custom.clone());
            crate::merge_patch(&mut merged.0, &patch.0);
            if merged.encoded_len() > MAX_CUSTOM_METRICS_BYTES {
                let mut e = FieldErrors::default();
                e.add(
                    "metrics",
                    format!(
                        "custom metrics would exceed {MAX_CUSTOM_METRICS_BYTES} bytes once merged \
                         into the task's; send fewer or remove some with null"
                    ),
                );
                return Err(Refusal::Validation(e));
            }
            Some(merged)
        }
    };
    let m = task.metrics.get_or_insert_with(|| TaskMetrics {
        custom: Json::empty_object(),
        ..Default::default()
    });
    m.execution_time_ms = r.execution_time_ms.or(m.execution_time_ms);
    m.memory_usage_mb = r.memory_usage_mb.or(m.memory_usage_mb);
    m.cpu_time_ms = r.cpu_time_ms.or(m.cpu_time_ms);
    if let Some(custom) = custom {
        m.custom = custom;
    }
    Ok(())
}

/// The number of the task's next attempt: one past the last kept (older ones may be dropped).
fn next_attempt(task: &Task) -> u32 {
    task.attempts
        .last()
        .map_or(1, |a| a.number.saturating_add(1))
}

impl TaskState {
    pub(crate) fn lease<R: Records>(
        &mut self,
        l: &LeaseTasks,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let max = l.max_tasks.clamp(1, MAX_LEASE_TASKS) as usize;
        let ids = self
            .index
            .pick_leasable(at, &l.task_types, max, &mut self.turns);
        let mut leased = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(mut task) = rec.task(id)? else {
                continue;
            };
            let attempt = next_attempt(&task);
            let lease = Lease {
                id: lease_id(l.seed, id, attempt),
                worker_id: l.worker_id.clone(),
                expires_at: at
                    .plus_micros(i64::try_from(l.lease_ttl_ms).unwrap_or(i64::MAX / 2000) * 1000),
                attempt,
            };
            let eligible = task
                .scheduled_for
                .map_or(task.queued_at, |s| s.max(task.queued_at));
            let waited = u64::try_from(at.millis_since(eligible)).unwrap_or(0);
            let m = task.metrics.get_or_insert_with(|| TaskMetrics {
                custom: Json::empty_object(),
                ..Default::default()
            });
            m.queue_wait_ms = Some(waited);
            task.status = Status::Running;
            task.started_at = Some(at);
            task.updated_at = at;
            task.attempts.push(Attempt {
                number: attempt,
                worker_id: l.worker_id.clone(),
                started_at: at,
                finished_at: None,
                outcome: AttemptOutcome::Running,
                error_message: None,
            });
            if task.attempts.len() > MAX_ATTEMPTS_KEPT {
                let drop = task.attempts.len() - MAX_ATTEMPTS_KEPT;
                task.attempts.drain(..drop);
            }
            task.lease = Some(lease.clone());
            self.save(&task, rec);
            leased.push(LeasedTask { task, lease });
        }
        Ok(Outcome::Leased(leased))
    }

    /// The task, if `lease_id` is its current lease, the lease has not run out at `at` (by the
    /// leader's clock, even if the leader has not ended it yet) and the task is running (a
    /// cancelled task keeps its lease only for its holder to hear of the cancel).
    fn running<R: Records>(
        &self,
        id: u64,
        lease_id: &str,
        at: Timestamp,
        rec: &R,
    ) -> Result<Result<Task, Refusal>, StorageFault> {
        Ok(match self.live(id, lease_id, at, rec)? {
            Ok(t) if t.status == Status::Running => Ok(t),
            Ok(_) => Err(Refusal::LeaseLost),
            Err(r) => Err(r),
        })
    }

    /// The task, if `lease_id` is its current lease and has not run out at `at`: a report under a
    /// lease past its expiry is refused, so that once the lease ran out only the leader's end
    /// of the attempt can close it.
    fn live<R: Records>(
        &self,
        id: u64,
        lease_id: &str,
        at: Timestamp,
        rec: &R,
    ) -> Result<Result<Task, Refusal>, StorageFault> {
        Ok(match self.leased(id, lease_id, rec)? {
            Ok(t) if t.lease.as_ref().is_some_and(|l| l.expires_at > at) => Ok(t),
            Ok(_) => Err(Refusal::LeaseLost),
            Err(r) => Err(r),
        })
    }

    /// The task, if `lease_id` is its current lease.
    fn leased<R: Records>(
        &self,
        id: u64,
        lease_id: &str,
        rec: &R,
    ) -> Result<Result<Task, Refusal>, StorageFault> {
        Ok(match rec.task(id)? {
            None => Err(Refusal::NotFound),
            Some(t) if t.lease.as_ref().is_some_and(|l| l.id == lease_id) => Ok(t),
            Some(_) => Err(Refusal::LeaseLost),
        })
    }

    pub(crate) fn heartbeat<R: Records>(
        &mut self,
        h: &Heartbeat,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let mut task = match self.live(h.id, &h.lease_id, at, rec)? {
            Ok(t) => t,
            Err(r) => return Ok(Outcome::Refused(r)),
        };
        let Some(lease) = task.lease.as_mut() else {
            return Ok(Outcome::Refused(Refusal::LeaseLost));
        };
        match task.status {
            Status::Cancelled => {
                return Ok(Outcome::HeartbeatAccepted {
                    lease_expires_at: lease.expires_at,
                    cancel_requested: true,
                })
            }
            Status::Running => {}
            _ => return Ok(Outcome::Refused(Refusal::LeaseLost)),
        }
        lease.expires_at =
            at.plus_micros(i64::try_from(h.lease_ttl_ms).unwrap_or(i64::MAX / 2000) * 1000);
        let expires = lease.expires_at;
        if let Some(p) = h.progress {
            task.progress_percentage = p.min(100);
        }
        if let Err(refusal) = merge_metrics(&mut task, h.metrics.as_ref()) {
            return Ok(Outcome::Refused(refusal));
        }
        keep_checkpoint(&mut task, h.checkpoint.as_ref(), at);
        task.updated_at = at;
        self.save(&task, rec);
        Ok(Outcome::HeartbeatAccepted {
            lease_expires_at: expires,
            cancel_requested: false,
        })
    }

    pub(crate) fn complete<R: Records>(
        &mut self,
        c: &CompleteAttempt,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let mut task = match self.running(c.id, &c.lease_id, at, rec)? {
            Ok(t) => t,
            Err(r) => return Ok(Outcome::Refused(r)),
        };
        if let Err(refusal) = merge_metrics(&mut task, c.metrics.as_ref()) {
            return Ok(Outcome::Refused(refusal));
        }
        close_attempt(&mut task, at, AttemptOutcome::Completed, None);
        task.status = Status::Completed;
        task.progress_percentage = 100;
        task.completed_at = Some(at);
        task.result_data = Some(c.result_data.clone());
        self.save(&task, rec);
        Ok(Outcome::AttemptCompleted(task))
    }

    pub(crate) fn fail<R: Records>(
        &mut self,
        f: &FailAttempt,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let mut task = match self.running(f.id, &f.lease_id, at, rec)? {
            Ok(t) => t,
            Err(r) => return Ok(Outcome::Refused(r)),
        };
        if let Err(refusal) = merge_metrics(&mut task, f.metrics.as_ref()) {
            return Ok(Outcome::Refused(refusal));
        }
        let outcome = self.end(
            &mut task,
            at,
            AttemptOutcome::Failed,
            &f.error_message,
            f.retryable,
            f.backoff,
        );
        self.save(&task, rec);
        Ok(outcome(task))
    }

    /// Gives a running task back: the attempt ends as `released`, the task is pending again at
    /// once and keeps its place in its queue (which is ordered by `scheduled_for`, else
    /// `created_at`), and `retry_count` is unchanged. A checkpoint sent with it is kept for the
    /// next attempt.
    pub(crate) fn release<R: Records>(
        &mut self,
        r: &ReleaseAttempt,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let mut task = match self.running(r.id, &r.lease_id, at, rec)? {
            Ok(t) => t,
            Err(r) => return Ok(Outcome::Refused(r)),
        };
        keep_checkpoint(&mut task, r.checkpoint.as_ref(), at);
        close_attempt(&mut task, at, AttemptOutcome::Released, Some(&r.reason));
        task.status = Status::Pending;
        task.started_at = None;
        task.queued_at = at;
        self.save(&task, rec);
        Ok(Outcome::AttemptReleased(task))
    }

    /// Ends an attempt whose lease ran out or that timed out, as the leader's scheduler saw it.
    /// Decided here against the replicated state, so every node agrees: an end proposed before
    /// a heartbeat renewed the lease is refused as not due. A lease kept by a task that is no
    /// longer running (cancelled) is simply dropped.
    pub(crate) fn end_attempt<R: Records>(
        &mut self,
        e: &EndAttempt,
        at: Timestamp,
        rec: &mut R,
    ) -> Result<Outcome, StorageFault> {
        let mut task = match self.leased(e.id, &e.lease_id, rec)? {
            Ok(t) => t,
            Err(r) => return Ok(Outcome::Refused(r)),
        };
        let Some(entry) = crate::LeaseEntry::of(&task) else {
            return Ok(Outcome::Refused(Refusal::LeaseLost));
        };
        let due = match e.outcome {
            AttemptOutcome::TimedOut => entry.timeout_at.is_some_and(|t| t <= at),
            _ => entry.expires_at <= at,
        };
        if !due {
            return Ok(Outcome::Refused(Refusal::NotDue));
        }
        if task.status != Status::Running {
            close_attempt(&mut task, at, AttemptOutcome::LeaseExpired, None);
            self.save(&task, rec);
            return Ok(Outcome::AttemptEnded {
                task,
                will_retry: false,
                next_attempt_at: None,
            });
        }
        let why = match e.outcome {
            AttemptOutcome::TimedOut => format!(
                "the attempt ran longer than {} minutes",
                task.timeout_minutes
            ),
            _ => "the lease expired: no heartbeat renewed it".to_owned(),
        };
        let outcome = self.end(&mut task, at, e.outcome, &why, true, e.backoff);
        self.save(&task, rec);
        Ok(outcome(task))
    }

    /// Ends the running attempt and decides: retry after a back-off, or fail for good.
    fn end(
        &mut self,
        task: &mut Task,
        at: Timestamp,
        how: AttemptOutcome,
        error: &str,
        retryable: bool,
        backoff: Backoff,
    ) -> impl FnOnce(Task) -> Outcome {
        let attempt = task.lease.as_ref().map_or(1, |l| l.attempt);
        close_attempt(task, at, how, Some(error));
        task.error_message = Some(error.to_owned());
        let will_retry = retryable && task.retry_count < task.max_retries;
        let mut next_attempt_at = None;
        if will_retry {
            let next = at.plus_micros(i64::try_from(backoff.delay_ms(attempt)).unwrap_or(0) * 1000);
            task.retry_count += 1;
            task.status = Status::Pending;
            task.started_at = None;
            task.scheduled_for = Some(next);
            task.queued_at = at;
            next_attempt_at = Some(next);
        } else {
            task.status = Status::Failed;
            task.completed_at = Some(at);
        }
        move |task| Outcome::AttemptEnded {
            task,
            will_retry,
            next_attempt_at,
        }
    }
}

/// Makes `checkpoint`, if any, what the task's next attempt resumes from.
fn keep_checkpoint(task: &mut Task, checkpoint: Option<&Json>, at: Timestamp) {
    if let Some(checkpoint) = checkpoint {
        task.persistent_job = Some(PersistentJob {
            progress_percentage: task.progress_percentage,
            can_resume: true,
            checkpoint: checkpoint.clone(),
            checkpointed_at: at,
        });
    }
}

/// Closes the current attempt and drops the lease.
fn close_attempt(task: &mut Task, at: Timestamp, how: AttemptOutcome, error: Option<&str>) {
    if let Some(a) = task.attempts.last_mut() {
        if a.outcome == AttemptOutcome::Running {
            a.outcome = how;
            a.finished_at = Some(at);
            a.error_message = error.map(str::to_owned);
        }
    }
    task.lease = None;
    task.updated_at = at;
}

#[cfg(test)]
mod tests;
