use super::*;
use crate::{Command, MemRecords, Proposal, Status, TaskState};

const T0: Timestamp = Timestamp(1_740_000_000_000_000); // 2025-02-19T21:20:00Z
const SECOND: i64 = Timestamp::SECOND;

struct World {
    state: TaskState,
    rec: MemRecords,
}

fn spec(name: &str, schedule: Schedule) -> PeriodicSpec {
    PeriodicSpec {
        name: name.into(),
        task_type: "report_generation".into(),
        priority: Priority::High,
        description: "weekly report".into(),
        context_data: Json::empty_object(),
        max_retries: 2,
        timeout_minutes: 30,
        schedule,
        timezone: "UTC".into(),
        enabled: true,
        start_at: None,
        expires_at: None,
        one_off: false,
    }
}

impl World {
    fn new() -> Self {
        World {
            state: TaskState::new(),
            rec: MemRecords::default(),
        }
    }

    fn run(&mut self, at: Timestamp, cmd: Command) -> Outcome {
        self.state
            .apply(&Proposal { at, cmd }, &mut self.rec)
            .unwrap()
    }

    fn create(&mut self, at: Timestamp, spec: PeriodicSpec) -> PeriodicTask {
        let cmd = Command::CreatePeriodic {
            brand: 9,
            brand_name: Some("Humari".into()),
            created_by: UserRef {
                id: 1,
                username: "martin".into(),
            },
            spec,
        };
        match self.run(at, cmd) {
            Outcome::Periodic(p) => *p,
            other => panic!("{other:?}"),
        }
    }

    fn fire(&mut self, at: Timestamp, id: PeriodicId, due: Option<Timestamp>) -> Outcome {
        let n = self.state.next_id();
        self.run(
            at,
            Command::FirePeriodic(FirePeriodic {
                id,
                due,
                brand: None,
                task_id: format!("task_{n:012}"),
            }),
        )
    }

    fn periodic(&self, id: PeriodicId) -> &PeriodicTask {
        &self.state.periodic()[&id]
    }
}

#[test]
fn an_interval_schedule_fires_each_due_time_exactly_once() {
    let mut w = World::new();
    let p = w.create(T0, spec("every minute", Schedule::Interval(60)));
    let first = T0.plus_micros(60 * SECOND);
    assert_eq!(p.next_run_at, Some(first), "one interval after creation");
    assert_eq!(
        w.fire(first.plus_micros(-SECOND), p.id, Some(first)),
        Outcome::Refused(Refusal::NotDue),
        "not before its time"
    );
    let Outcome::PeriodicFired { periodic, task } = w.fire(first, p.id, Some(first)) else {
        panic!()
    };
    assert_eq!(task.periodic_task, Some(p.id));
    assert_eq!(
        task.scheduled_for,
        Some(first),
        "the task carries its due time"
    );
    assert_eq!(
        (task.task_type.as_str(), task.priority, task.max_retries),
        ("report_generation", Priority::High, 2)
    );
    assert_eq!(task.created_by.username, "martin");
    assert_eq!(task.status, Status::Pending);
    assert_eq!(periodic.total_run_count, 1);
    assert_eq!(periodic.last_run_at, Some(first));
    assert_eq!(periodic.next_run_at, Some(first.plus_micros(60 * SECOND)));
    // The same run proposed again — a deposed leader, a retried proposal — is refused.
    assert_eq!(
        w.fire(first.plus_micros(SECOND), p.id, Some(first)),
        Outcome::Refused(Refusal::NotDue)
    );
    assert_eq!(w.rec.tasks.len(), 1);
}

#[test]
fn missed_runs_are_caught_up_once_and_the_schedule_moves_to_the_future() {
    let mut w = World::new();
    let p = w.create(T0, spec("every minute", Schedule::Interval(60)));
    let first = p.next_run_at.unwrap();
    // No leader for ten minutes: one fire catches up, then the next run is in the future.
    let late = T0.plus_micros(10 * 60 * SECOND + 5 * SECOND);
    let Outcome::PeriodicFired { periodic, .. } = w.fire(late, p.id, Some(first)) else {
        panic!()
    };
    assert_eq!(periodic.total_run_count, 1);
    assert_eq!(periodic.next_run_at, Some(T0.plus_micros(11 * 60 * SECOND)));
    for missed in 2..=10 {
        assert_eq!(
            w.fire(late, p.id, Some(T0.plus_micros(missed * 60 * SECOND))),
            Outcome::Refused(Refusal::NotDue),
            "missed run {missed} is not fired again"
        );
    }
    assert_eq!(w.rec.tasks.len(), 1);
}

#[test]
fn run_now_leaves_the_schedule_alone() {
    let mut w = World::new();
    let p = w.create(T0, spec("daily", Schedule::Cron("0 9 * * *".into())));
    let next = p.next_run_at;
    let Outcome::PeriodicFired { periodic, task } = w.fire(T0.plus_micros(SECOND), p.id, None)
    else {
        panic!()
    };
    assert_eq!(task.scheduled_for, None);
    assert_eq!(periodic.total_run_count, 1);
    assert_eq!(periodic.next_run_at, next);
    // A run-now from another brand is refused.
    let cmd = Command::FirePeriodic(FirePeriodic {
        id: p.id,
        due: None,
        brand: Some(10),
        task_id: "task_x".into(),
    });
    assert_eq!(
        w.run(T0.plus_micros(2 * SECOND), cmd),
        Outcome::Refused(Refusal::WrongBrand)
    );
}

#[test]
fn a_paused_schedule_fires_nothing_and_resumes_from_now() {
    let mut w = World::new();
    let p = w.create(T0, spec("every minute", Schedule::Interval(60)));
    let due = p.next_run_at.unwrap();
    let pause = PeriodicPatch {
        enabled: Some(false),
        ..Default::default()
    };
    let cmd = Command::UpdatePeriodic {
        id: p.id,
        brand: 9,
        patch: pause,
    };
    let Outcome::Periodic(paused) = w.run(T0.plus_micros(SECOND), cmd) else {
        panic!()
    };
    assert_eq!(paused.next_run_at, None);
    assert_eq!(
        w.fire(due, p.id, Some(due)),
        Outcome::Refused(Refusal::NotDue)
    );
    let resume = Command::UpdatePeriodic {
        id: p.id,
        brand: 9,
        patch: PeriodicPatch {
            enabled: Some(true),
            ..Default::default()
        },
    };
    let later = T0.plus_micros(3600 * SECOND + 30 * SECOND);
    let Outcome::Periodic(resumed) = w.run(later, resume) else {
        panic!()
    };
    assert_eq!(
        resumed.next_run_at,
        Some(T0.plus_micros(61 * 60 * SECOND)),
        "the next interval after now; the pause is not caught up"
    );
    assert!(w.rec.tasks.is_empty());
}

#[test]
fn names_are_unique_in_a_brand_and_windows_are_checked() {
    let mut w = World::new();
    w.create(T0, spec("nightly", Schedule::Interval(60)));
    let again = Command::CreatePeriodic {
        brand: 9,
        brand_name: None,
        created_by: UserRef {
            id: 1,
            username: "martin".into(),
        },
        spec: spec("nightly", Schedule::Interval(60)),
    };
    let Outcome::Refused(Refusal::Validation(e)) = w.run(T0, again.clone()) else {
        panic!()
    };
    assert!(format!("{e:?}").contains("already exists"));
    let Command::CreatePeriodic { spec: mut s, .. } = again else {
        unreachable!()
    };
    s.name = "other".into();
    s.start_at = Some(T0);
    s.expires_at = Some(T0);
    let cmd = Command::CreatePeriodic {
        brand: 9,
        brand_name: None,
        created_by: UserRef {
            id: 1,
            username: "martin".into(),
        },
        spec: s,
    };
    assert!(matches!(
        w.run(T0, cmd),
        Outcome::Refused(Refusal::Validation(_))
    ));
}

#[test]
fn start_expiry_and_one_off() {
    let mut w = World::new();
    let mut s = spec("from tomorrow", Schedule::Interval(3600));
    let start = T0.plus_micros(86_400 * SECOND);
    s.start_at = Some(start);
    s.expires_at = Some(start.plus_micros(2 * 3600 * SECOND));
    let p = w.create(T0, s);
    assert_eq!(p.next_run_at, Some(start), "an interval starts at start_at");
    let Outcome::PeriodicFired { periodic, .. } = w.fire(start, p.id, Some(start)) else {
        panic!()
    };
    let second = periodic.next_run_at.unwrap();
    let Outcome::PeriodicFired { periodic, .. } = w.fire(second, p.id, Some(second)) else {
        panic!()
    };
    let third = periodic.next_run_at.unwrap();
    assert_eq!(
        third,
        start.plus_micros(2 * 3600 * SECOND),
        "expiry is inclusive"
    );
    let Outcome::PeriodicFired { periodic, .. } = w.fire(third, p.id, Some(third)) else {
        panic!()
    };
    assert_eq!(periodic.next_run_at, None, "expired");

    let mut w = World::new();
    let mut once = spec("once", Schedule::Cron("30 10 * * *".into()));
    once.one_off = true;
    let p = w.create(T0, once);
    let due = p.next_run_at.unwrap();
    assert_eq!(due.to_rfc3339(), "2025-02-20T10:30:00Z");
    let Outcome::PeriodicFired { periodic, .. } = w.fire(due, p.id, Some(due)) else {
        panic!()
    };
    assert!(!periodic.spec.enabled);
    assert_eq!(periodic.next_run_at, None);
    assert_eq!(w.periodic(p.id).total_run_count, 1);
}

#[test]
fn deleting_leaves_the_tasks_it_created() {
    let mut w = World::new();
    let p = w.create(T0, spec("x", Schedule::Interval(60)));
    w.fire(T0.plus_micros(SECOND), p.id, None);
    assert_eq!(
        w.run(
            T0,
            Command::DeletePeriodic {
                id: p.id,
                brand: 10
            }
        ),
        Outcome::Refused(Refusal::WrongBrand)
    );
    assert_eq!(
        w.run(T0, Command::DeletePeriodic { id: p.id, brand: 9 }),
        Outcome::PeriodicDeleted
    );
    assert!(w.state.periodic().is_empty() && w.rec.periodic.is_empty());
    assert_eq!(w.rec.tasks.len(), 1);
    assert_eq!(
        w.fire(T0.plus_micros(120 * SECOND), p.id, None),
        Outcome::Refused(Refusal::NotFound)
    );
}
