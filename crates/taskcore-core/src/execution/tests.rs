use serde_json::json;

use super::*;
use crate::{Command, CreateTask, MemRecords, Priority, Proposal, RetryTask, UserRef};

const T0: Timestamp = Timestamp(1_734_700_000_000_000);
const SECOND: i64 = Timestamp::SECOND;
const BACKOFF: Backoff = Backoff {
    base_ms: 5_000,
    cap_ms: 600_000,
    jitter: 0.5,
};

struct World {
    state: TaskState,
    rec: MemRecords,
    at: Timestamp,
}

impl World {
    fn new() -> Self {
        World {
            state: TaskState::new(),
            rec: MemRecords::default(),
            at: T0,
        }
    }

    fn run(&mut self, cmd: Command) -> Outcome {
        self.at = self.at.plus_micros(SECOND);
        self.state
            .apply(&Proposal { at: self.at, cmd }, &mut self.rec)
            .unwrap()
    }

    fn create(
        &mut self,
        brand: u64,
        priority: Priority,
        ty: &str,
        scheduled: Option<Timestamp>,
    ) -> u64 {
        let n = self.state.next_id();
        let cmd = Command::Create(CreateTask {
            task_id: format!("task_{n:012}"),
            brand,
            brand_name: None,
            created_by: UserRef {
                id: 1,
                username: "u".into(),
            },
            task_type: ty.into(),
            priority,
            description: String::new(),
            context_data: Json::empty_object(),
            scheduled_for: scheduled,
            max_retries: 2,
            timeout_minutes: 60,
            periodic_task: None,
            idempotency: None,
        });
        match self.run(cmd) {
            Outcome::Created(t) => t.id,
            other => panic!("{other:?}"),
        }
    }

    fn lease(&mut self, max: u32, types: &[&str]) -> Vec<LeasedTask> {
        let cmd = Command::Lease(LeaseTasks {
            worker_id: "w1".into(),
            task_types: types.iter().map(|t| t.to_string()).collect(),
            max_tasks: max,
            lease_ttl_ms: 30_000,
            seed: 42,
        });
        match self.run(cmd) {
            Outcome::Leased(l) => l,
            other => panic!("{other:?}"),
        }
    }

    fn heartbeat(
        &mut self,
        id: u64,
        lease: &str,
        progress: Option<u8>,
        checkpoint: Option<serde_json::Value>,
    ) -> Outcome {
        self.run(Command::Heartbeat(Heartbeat {
            id,
            lease_id: lease.into(),
            progress,
            checkpoint: checkpoint.map(Json),
            metrics: Some(MetricsReport {
                execution_time_ms: Some(5),
                ..Default::default()
            }),
            lease_ttl_ms: 30_000,
        }))
    }

    fn fail(&mut self, id: u64, lease: &str, retryable: bool) -> Outcome {
        self.run(Command::Fail(FailAttempt {
            id,
            lease_id: lease.into(),
            error_message: "boom".into(),
            retryable,
            metrics: None,
            backoff: BACKOFF,
        }))
    }

    fn complete(&mut self, id: u64, lease: &str) -> Outcome {
        self.run(Command::Complete(CompleteAttempt {
            id,
            lease_id: lease.into(),
            result_data: Json(json!({"ok": true})),
            metrics: None,
        }))
    }
}

fn ids(leased: &[LeasedTask]) -> Vec<u64> {
    leased.iter().map(|l| l.task.id).collect()
}

#[test]
fn leases_go_by_priority_and_brands_take_turns_oldest_first() {
    let mut w = World::new();
    let a1 = w.create(1, Priority::Normal, "data_export", None);
    let a2 = w.create(1, Priority::Normal, "data_export", None);
    let a3 = w.create(1, Priority::Normal, "data_export", None);
    let b1 = w.create(2, Priority::Normal, "data_export", None);
    let crit = w.create(1, Priority::Critical, "data_export", None);
    let low = w.create(3, Priority::Low, "data_export", None);
    assert_eq!(ids(&w.lease(3, &[])), vec![crit, a1, b1]);
    assert_eq!(ids(&w.lease(2, &[])), vec![a2, a3]);
    assert_eq!(ids(&w.lease(5, &[])), vec![low]);
    assert!(
        w.lease(5, &[]).is_empty(),
        "running tasks are not leased twice"
    );
}

#[test]
fn one_brands_backlog_does_not_starve_another() {
    let mut w = World::new();
    for _ in 0..10 {
        w.create(1, Priority::High, "data_export", None);
    }
    let other = w.create(2, Priority::High, "data_export", None);
    let first = w.lease(1, &[]);
    let second = w.lease(1, &[]);
    assert!(ids(&first).contains(&other) || ids(&second).contains(&other));
}

#[test]
fn scheduled_tasks_wait_and_types_filter() {
    let mut w = World::new();
    let later = w.create(
        1,
        Priority::Critical,
        "data_export",
        Some(T0.plus_micros(100 * SECOND)),
    );
    let report = w.create(1, Priority::Normal, "report_generation", None);
    let export = w.create(1, Priority::Normal, "data_export", None);
    assert_eq!(ids(&w.lease(5, &["report_generation"])), vec![report]);
    assert_eq!(
        ids(&w.lease(5, &[])),
        vec![export],
        "the scheduled task waits"
    );
    assert_eq!(
        w.state.index().next_due_after(w.at),
        Some(T0.plus_micros(100 * SECOND)),
        "a long poll knows when to look again"
    );
    w.at = T0.plus_micros(100 * SECOND);
    assert_eq!(w.state.index().next_due_after(w.at), None);
    let leased = w.lease(5, &[]);
    assert_eq!(ids(&leased), vec![later]);
    assert_eq!(
        leased[0]
            .task
            .metrics
            .as_ref()
            .and_then(|m| m.queue_wait_ms),
        Some(1_000),
        "waited since it became due"
    );
}

#[test]
fn a_lease_starts_an_attempt_and_heartbeats_renew_it_with_progress_and_checkpoints() {
    let mut w = World::new();
    let id = w.create(1, Priority::Normal, "data_export", None);
    let leased = w.lease(1, &[]).remove(0);
    assert_eq!(leased.task.status, Status::Running);
    assert_eq!(leased.lease.attempt, 1);
    assert_eq!(leased.task.attempts.len(), 1);
    assert_eq!(leased.lease.expires_at, w.at.plus_micros(30 * SECOND));
    let lease = leased.lease.id.clone();
    let Outcome::HeartbeatAccepted {
        lease_expires_at,
        cancel_requested,
    } = w.heartbeat(id, &lease, Some(40), Some(json!({"page": 4})))
    else {
        panic!()
    };
    assert!(!cancel_requested);
    assert_eq!(lease_expires_at, w.at.plus_micros(30 * SECOND));
    let t = &w.rec.tasks[&id];
    assert_eq!(t.progress_percentage, 40);
    assert!(t.is_resumable());
    assert_eq!(
        t.persistent_job.as_ref().map(|j| j.checkpoint.0.clone()),
        Some(json!({"page": 4}))
    );
    assert_eq!(
        t.metrics.as_ref().and_then(|m| m.execution_time_ms),
        Some(5)
    );
    assert_eq!(
        w.heartbeat(id, "lease_wrong", None, None),
        Outcome::Refused(Refusal::LeaseLost)
    );
    assert_eq!(
        w.heartbeat(999, &lease, None, None),
        Outcome::Refused(Refusal::NotFound)
    );
}

#[test]
fn completion_is_fenced_by_the_lease() {
    let mut w = World::new();
    let id = w.create(1, Priority::Normal, "data_export", None);
    let lease = w.lease(1, &[]).remove(0).lease.id;
    let Outcome::AttemptCompleted(t) = w.complete(id, &lease) else {
        panic!()
    };
    assert_eq!((t.status, t.progress_percentage), (Status::Completed, 100));
    assert_eq!(t.completed_at, Some(w.at));
    assert_eq!(t.result_data, Some(Json(json!({"ok": true}))));
    assert_eq!(t.attempts[0].outcome, AttemptOutcome::Completed);
    assert_eq!(t.lease, None);
    assert_eq!(w.complete(id, &lease), Outcome::Refused(Refusal::LeaseLost));
    assert_eq!(
        w.fail(id, &lease, true),
        Outcome::Refused(Refusal::LeaseLost)
    );
}

#[test]
fn failures_retry_with_backoff_until_max_retries_then_fail_for_good() {
    let mut w = World::new();
    let id = w.create(1, Priority::Normal, "data_export", None);
    let first = w.lease(1, &[]).remove(0).lease.id;
    let Outcome::AttemptEnded {
        task,
        will_retry,
        next_attempt_at,
    } = w.fail(id, &first, true)
    else {
        panic!()
    };
    assert!(will_retry);
    assert_eq!((task.status, task.retry_count), (Status::Pending, 1));
    // Attempt 1 failed: the delay is jitter × min(cap, base) = 0.5 × 5 s.
    assert_eq!(next_attempt_at, Some(w.at.plus_micros(2_500_000)));
    assert!(w.lease(1, &[]).is_empty(), "it waits out its back-off");
    w.at = next_attempt_at.unwrap_or(w.at);
    let second = w.lease(1, &[]).remove(0);
    assert_eq!(second.lease.attempt, 2);
    assert_eq!(
        w.fail(id, &first, true),
        Outcome::Refused(Refusal::LeaseLost),
        "the stale lease is fenced"
    );
    let Outcome::AttemptEnded {
        next_attempt_at, ..
    } = w.fail(id, &second.lease.id, true)
    else {
        panic!()
    };
    // Attempt 2 failed: 0.5 × min(cap, 2 × base) = 5 s.
    assert_eq!(next_attempt_at, Some(w.at.plus_micros(5_000_000)));
    w.at = next_attempt_at.unwrap_or(w.at);
    let third = w.lease(1, &[]).remove(0).lease.id;
    let Outcome::AttemptEnded {
        task,
        will_retry,
        next_attempt_at,
    } = w.fail(id, &third, true)
    else {
        panic!()
    };
    assert!(!will_retry && next_attempt_at.is_none());
    assert_eq!(
        (task.status, task.retry_count, task.completed_at),
        (Status::Failed, 2, Some(w.at))
    );
    assert_eq!(
        task.attempts.iter().map(|a| a.number).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let retry = RetryTask {
        id,
        brand: 1,
        reset_progress: true,
        clear_errors: true,
        new_priority: None,
    };
    assert!(matches!(
        w.run(Command::Retry(retry)),
        Outcome::Refused(Refusal::MaxRetriesExceeded { .. })
    ));
}

#[test]
fn a_failure_that_is_not_retryable_fails_at_once() {
    let mut w = World::new();
    let id = w.create(1, Priority::Normal, "data_export", None);
    let lease = w.lease(1, &[]).remove(0).lease.id;
    let Outcome::AttemptEnded {
        task, will_retry, ..
    } = w.fail(id, &lease, false)
    else {
        panic!()
    };
    assert!(!will_retry);
    assert_eq!((task.status, task.retry_count), (Status::Failed, 0));
    assert_eq!(task.error_message.as_deref(), Some("boom"));
}

fn end(id: u64, lease: &str, outcome: AttemptOutcome) -> Command {
    Command::EndAttempt(EndAttempt {
        id,
        lease_id: lease.into(),
        outcome,
        backoff: BACKOFF,
    })
}

#[test]
fn a_lease_ends_only_once_it_has_run_out_and_only_its_own() {
    let mut w = World::new();
    let id = w.create(1, Priority::Normal, "data_export", None);
    let lease = w.lease(1, &[]).remove(0).lease.id;
    assert_eq!(
        w.run(end(id, "lease_old", AttemptOutcome::LeaseExpired)),
        Outcome::Refused(Refusal::LeaseLost)
    );
    assert_eq!(
        w.run(end(id, &lease, AttemptOutcome::LeaseExpired)),
        Outcome::Refused(Refusal::NotDue),
        "30 s have not passed"
    );
    // A heartbeat at +25 s renews until +55 s: an end proposed at +40 s is not due.
    w.at = w.at.plus_micros(22 * SECOND);
    assert!(matches!(
        w.heartbeat(id, &lease, None, None),
        Outcome::HeartbeatAccepted { .. }
    ));
    w.at = w.at.plus_micros(14 * SECOND);
    assert_eq!(
        w.run(end(id, &lease, AttemptOutcome::LeaseExpired)),
        Outcome::Refused(Refusal::NotDue)
    );
    w.at = w.at.plus_micros(20 * SECOND);
    let Outcome::AttemptEnded {
        task, will_retry, ..
    } = w.run(end(id, &lease, AttemptOutcome::LeaseExpired))
    else {
        panic!()
    };
    assert!(will_retry);
    assert_eq!(task.status, Status::Pending);
    assert_eq!(task.attempts[0].outcome, AttemptOutcome::LeaseExpired);
    assert!(task.lease.is_none());
    assert_eq!(
        w.run(end(id, &lease, AttemptOutcome::LeaseExpired)),
        Outcome::Refused(Refusal::LeaseLost),
        "a second end of the same lease changes nothing"
    );
}

#[test]
fn an_attempt_times_out_even_while_its_heartbeats_renew_it() {
    let mut w = World::new();
    let id = w.create(1, Priority::Normal, "data_export", None);
    let lease = w.lease(1, &[]).remove(0).lease.id;
    for _ in 0..3 * 60 {
        w.at = w.at.plus_micros(19 * SECOND);
        assert!(matches!(
            w.heartbeat(id, &lease, None, None),
            Outcome::HeartbeatAccepted { .. }
        ));
        let entry = w.state.index().lease(id).cloned().unwrap();
        if entry.due().1 == AttemptOutcome::TimedOut {
            break;
        }
    }
    let entry = w.state.index().lease(id).cloned().unwrap();
    assert_eq!(entry.due().1, AttemptOutcome::TimedOut);
    assert_eq!(
        entry.timeout_at,
        Some(
            w.rec.tasks[&id]
                .started_at
                .unwrap()
                .plus_micros(3600 * SECOND)
        )
    );
    w.at = entry.due().0.plus_micros(-2 * SECOND);
    assert_eq!(
        w.run(end(id, &lease, AttemptOutcome::TimedOut)),
        Outcome::Refused(Refusal::NotDue)
    );
    let Outcome::AttemptEnded {
        task, will_retry, ..
    } = w.run(end(id, &lease, AttemptOutcome::TimedOut))
    else {
        panic!()
    };
    assert!(will_retry);
    assert_eq!(task.attempts[0].outcome, AttemptOutcome::TimedOut);
    assert!(task.error_message.is_some_and(|e| e.contains("60 minutes")));
}

#[test]
fn the_lease_journal_reports_each_change_once() {
    let mut w = World::new();
    let a = w.create(1, Priority::High, "data_export", None);
    let b = w.create(2, Priority::Normal, "data_export", None);
    assert!(w.state.take_lease_changes().is_empty(), "no lease yet");
    let leased = w.lease(2, &[]);
    let changes = w.state.take_lease_changes();
    assert_eq!(
        changes
            .iter()
            .map(|(id, e)| (*id, e.is_some()))
            .collect::<Vec<_>>(),
        vec![(a, true), (b, true)]
    );
    assert_eq!(changes[0].1.as_ref().unwrap().priority, Priority::High);
    assert!(w.state.take_lease_changes().is_empty(), "drained");
    w.complete(a, &leased[0].lease.id);
    w.run(Command::Cancel { id: b, brand: 2 });
    let changes = w.state.take_lease_changes();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0], (a, None));
    let kept = changes[1]
        .1
        .clone()
        .expect("a cancelled task keeps its lease");
    assert_eq!(kept.timeout_at, None, "a cancelled attempt cannot time out");
    assert_eq!(w.state.index().lease_count(), 1);
    // Its lease runs out: the scheduler's end drops it without touching the cancel.
    w.at = kept.expires_at;
    let Outcome::AttemptEnded {
        task, will_retry, ..
    } = w.run(end(b, &kept.lease_id, AttemptOutcome::LeaseExpired))
    else {
        panic!()
    };
    assert!(!will_retry);
    assert_eq!(task.status, Status::Cancelled);
    assert_eq!(task.attempts[0].outcome, AttemptOutcome::Cancelled);
    assert_eq!(w.state.take_lease_changes(), vec![(b, None)]);
    assert_eq!(w.state.index().lease_count(), 0);
}

#[test]
fn a_cancel_reaches_the_worker_and_fences_its_reports() {
    let mut w = World::new();
    let id = w.create(1, Priority::Normal, "data_export", None);
    let lease = w.lease(1, &[]).remove(0).lease.id;
    assert!(matches!(
        w.run(Command::Cancel { id, brand: 1 }),
        Outcome::Cancelled { .. }
    ));
    let Outcome::HeartbeatAccepted {
        cancel_requested, ..
    } = w.heartbeat(id, &lease, Some(50), None)
    else {
        panic!()
    };
    assert!(cancel_requested);
    assert_eq!(
        w.rec.tasks[&id].progress_percentage, 0,
        "a cancelled attempt reports nothing more"
    );
    assert_eq!(w.complete(id, &lease), Outcome::Refused(Refusal::LeaseLost));
    assert_eq!(
        w.rec.tasks[&id].attempts[0].outcome,
        AttemptOutcome::Cancelled
    );
}

#[test]
fn backoff_stays_within_its_bounds() {
    for n in 1..40 {
        for jitter in [0.0, 0.25, 0.999_999] {
            let b = Backoff {
                base_ms: 5_000,
                cap_ms: 600_000,
                jitter,
            };
            let ceiling = (5_000u64.saturating_mul(1 << (n - 1).min(62))).min(600_000);
            assert!(b.delay_ms(n) <= ceiling, "attempt {n}, jitter {jitter}");
        }
    }
    assert_eq!(
        BACKOFF.delay_ms(30),
        300_000,
        "capped at 10 min, halved by the jitter"
    );
}

mod release;

mod bounds;
