use serde_json::json;

use super::*;
use crate::{IdempotencyClaim, Json, Priority, RetryTask, TaskQuery, UserRef};

mod bulk;
mod props;

const T0: Timestamp = Timestamp(1_734_700_000_000_000);

pub(crate) fn create_cmd(brand: BrandId, task_id: &str) -> CreateTask {
    CreateTask {
        task_id: task_id.to_owned(),
        brand,
        brand_name: Some(format!("Brand {brand}")),
        created_by: UserRef {
            id: 1,
            username: "martin".into(),
        },
        task_type: "data_export".into(),
        priority: Priority::Normal,
        description: String::new(),
        context_data: Json::empty_object(),
        scheduled_for: None,
        max_retries: 3,
        timeout_minutes: 60,
        periodic_task: None,
        idempotency: None,
    }
}

/// A state, its records and a clock that moves one second per command.
struct World {
    state: TaskState,
    rec: crate::MemRecords,
    at: Timestamp,
}

impl World {
    fn new() -> Self {
        World {
            state: TaskState::new(),
            rec: Default::default(),
            at: T0,
        }
    }

    fn run(&mut self, cmd: Command) -> Outcome {
        self.at = self.at.plus_micros(Timestamp::SECOND);
        self.state
            .apply(&Proposal { at: self.at, cmd }, &mut self.rec)
            .unwrap()
    }

    fn create(&mut self, brand: BrandId) -> Task {
        let n = self.state.next_id();
        match self.run(Command::Create(create_cmd(brand, &format!("task_{n:012}")))) {
            Outcome::Created(t) => t,
            other => panic!("{other:?}"),
        }
    }

    /// Forces a task into a status, as later commands (leases, failures) will.
    fn force(&mut self, id: TaskId, status: Status) -> Task {
        let mut t = self.rec.tasks[&id].clone();
        t.status = status;
        self.rec.put_task(&t);
        self.state.index.insert(&t);
        t
    }
}

fn refused(o: Outcome) -> Refusal {
    match o {
        Outcome::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn create_assigns_increasing_ids_and_stamps_leader_time() {
    let mut w = World::new();
    let a = w.create(9);
    let b = w.create(9);
    assert_eq!((a.id, b.id), (1, 2));
    assert_eq!(a.status, Status::Pending);
    assert_eq!(a.created_at, T0.plus_micros(Timestamp::SECOND));
    assert_eq!(a.created_at, a.updated_at);
    assert_eq!(
        a.brand,
        BrandRef {
            id: 9,
            name: "Brand 9".into()
        }
    );
    assert_eq!(w.state.index().by_task_id(&b.task_id), Some(2));
}

#[test]
fn deleted_ids_are_never_reused() {
    let mut w = World::new();
    let a = w.create(1);
    assert_eq!(
        w.run(Command::Delete { id: a.id, brand: 1 }),
        Outcome::Deleted
    );
    assert_eq!(w.create(1).id, 2);
}

#[test]
fn a_taken_task_id_is_replaced_deterministically() {
    let mut w = World::new();
    let a = w.create(1);
    let Outcome::Created(b) = w.run(Command::Create(create_cmd(1, &a.task_id))) else {
        panic!()
    };
    assert_ne!(a.task_id, b.task_id);
    assert!(b.task_id.starts_with("task_") && b.task_id.len() == 17);
}

#[test]
fn brand_name_falls_back_to_the_last_recorded_then_a_placeholder() {
    let mut w = World::new();
    let mut c = create_cmd(5, "task_aaaaaaaaaaaa");
    c.brand_name = None;
    let Outcome::Created(t) = w.run(Command::Create(c.clone())) else {
        panic!()
    };
    assert_eq!(t.brand.name, "brand-5");
    w.create(5);
    c.task_id = "task_bbbbbbbbbbbb".into();
    let Outcome::Created(t) = w.run(Command::Create(c)) else {
        panic!()
    };
    assert_eq!(t.brand.name, "Brand 5");
}

#[test]
fn idempotency_key_replays_refuses_other_bodies_and_expires() {
    let mut w = World::new();
    let mut c = create_cmd(1, "task_aaaaaaaaaaaa");
    c.idempotency = Some(IdempotencyClaim {
        key: "k1".into(),
        digest: 7,
    });
    let Outcome::Created(first) = w.run(Command::Create(c.clone())) else {
        panic!()
    };
    assert_eq!(
        w.run(Command::Create(c.clone())),
        Outcome::Replayed(first.clone())
    );
    // Same key in another brand is another key.
    let mut other_brand = c.clone();
    other_brand.brand = 2;
    assert!(matches!(
        w.run(Command::Create(other_brand)),
        Outcome::Created(_)
    ));
    let mut other_body = c.clone();
    other_body.idempotency = Some(IdempotencyClaim {
        key: "k1".into(),
        digest: 8,
    });
    assert_eq!(
        refused(w.run(Command::Create(other_body))),
        Refusal::IdempotencyKeyReused
    );
    w.at = w.at.plus_micros(IDEMPOTENCY_TTL_MICROS);
    let Outcome::Created(again) = w.run(Command::Create(c)) else {
        panic!()
    };
    assert_ne!(again.id, first.id);
    // Both old keys expired and were forgotten; only the new one remains.
    assert_eq!(w.rec.keys.len(), 1);
    assert_eq!(w.rec.keys[&(1, "k1".to_owned())].task, again.id);
}

#[test]
fn an_idempotency_key_of_a_deleted_task_creates_anew() {
    let mut w = World::new();
    let mut c = create_cmd(1, "task_aaaaaaaaaaaa");
    c.idempotency = Some(IdempotencyClaim {
        key: "k".into(),
        digest: 1,
    });
    let Outcome::Created(first) = w.run(Command::Create(c.clone())) else {
        panic!()
    };
    w.run(Command::Delete {
        id: first.id,
        brand: 1,
    });
    assert!(matches!(w.run(Command::Create(c)), Outcome::Created(t) if t.id == 2));
}

#[test]
fn patch_merges_context_and_put_replaces() {
    let mut w = World::new();
    let t = w.create(1);
    let patch = |ctx| UpdateTask {
        id: t.id,
        brand: 1,
        context_data: Some(Json(ctx)),
        merge_context: true,
        ..Default::default()
    };
    w.run(Command::Update(patch(json!({"a": 1, "b": {"c": 2}}))));
    let Outcome::Updated(u) = w.run(Command::Update(patch(json!({"b": {"c": null}, "d": 4}))))
    else {
        panic!()
    };
    assert_eq!(u.context_data.0, json!({"a": 1, "b": {}, "d": 4}));
    assert!(u.updated_at > t.updated_at);
    let mut put = patch(json!({"z": 0}));
    put.merge_context = false;
    let Outcome::Updated(u) = w.run(Command::Update(put)) else {
        panic!()
    };
    assert_eq!(u.context_data.0, json!({"z": 0}));
}

#[test]
fn update_refuses_a_task_type_change_but_accepts_the_same_type() {
    let mut w = World::new();
    let t = w.create(1);
    let mut u = UpdateTask {
        id: t.id,
        brand: 1,
        task_type: Some("report_generation".into()),
        ..Default::default()
    };
    let Refusal::Validation(e) = refused(w.run(Command::Update(u.clone()))) else {
        panic!()
    };
    assert!(e.0.contains_key("task_type"));
    u.task_type = Some("data_export".into());
    assert!(matches!(w.run(Command::Update(u)), Outcome::Updated(_)));
}

#[test]
fn a_running_task_only_takes_a_new_description() {
    let mut w = World::new();
    let t = w.create(1);
    w.force(t.id, Status::Running);
    let desc = UpdateTask {
        id: t.id,
        brand: 1,
        description: Some("new".into()),
        ..Default::default()
    };
    assert!(matches!(w.run(Command::Update(desc)), Outcome::Updated(u) if u.description == "new"));
    let prio = UpdateTask {
        id: t.id,
        brand: 1,
        priority: Some(Priority::High),
        ..Default::default()
    };
    let Refusal::InvalidStatus {
        current, allowed, ..
    } = refused(w.run(Command::Update(prio)))
    else {
        panic!()
    };
    assert_eq!(current, Status::Running);
    assert_eq!(allowed, ALL_BUT_RUNNING.to_vec());
    // Sending the current value is no change.
    let same = UpdateTask {
        id: t.id,
        brand: 1,
        priority: Some(Priority::Normal),
        ..Default::default()
    };
    assert!(matches!(w.run(Command::Update(same)), Outcome::Updated(_)));
}

#[test]
fn delete_refuses_running_tasks_and_scopes_by_brand() {
    let mut w = World::new();
    let t = w.create(1);
    assert_eq!(
        refused(w.run(Command::Delete { id: t.id, brand: 2 })),
        Refusal::WrongBrand
    );
    assert_eq!(
        refused(w.run(Command::Delete { id: 99, brand: 1 })),
        Refusal::NotFound
    );
    w.force(t.id, Status::Running);
    assert!(matches!(
        refused(w.run(Command::Delete { id: t.id, brand: 1 })),
        Refusal::InvalidStatus {
            current: Status::Running,
            ..
        }
    ));
    for s in [
        Status::Pending,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
    ] {
        let t = w.create(1);
        w.force(t.id, s);
        assert_eq!(
            w.run(Command::Delete { id: t.id, brand: 1 }),
            Outcome::Deleted
        );
        assert!(w.state.index().entry(t.id).is_none());
        assert!(!w.rec.tasks.contains_key(&t.id));
    }
}

#[test]
fn cancel_from_pending_and_running_only() {
    let mut w = World::new();
    for (from, ok) in [
        (Status::Pending, true),
        (Status::Running, true),
        (Status::Completed, false),
        (Status::Failed, false),
        (Status::Cancelled, false),
    ] {
        let t = w.create(1);
        w.force(t.id, from);
        match w.run(Command::Cancel { id: t.id, brand: 1 }) {
            Outcome::Cancelled {
                task,
                previous_status,
            } => {
                assert!(ok);
                assert_eq!(previous_status, from);
                assert_eq!(task.status, Status::Cancelled);
                assert_eq!(task.cancelled_at, Some(w.at));
            }
            Outcome::Refused(Refusal::InvalidStatus {
                current, allowed, ..
            }) => {
                assert!(!ok);
                assert_eq!(current, from);
                assert_eq!(allowed, vec![Status::Pending, Status::Running]);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn retry_from_failed_or_cancelled_until_max_retries() {
    let mut w = World::new();
    let t = w.create(1);
    let retry = RetryTask {
        id: t.id,
        brand: 1,
        reset_progress: true,
        clear_errors: true,
        new_priority: None,
    };
    let Refusal::InvalidStatus {
        current, allowed, ..
    } = refused(w.run(Command::Retry(retry.clone())))
    else {
        panic!()
    };
    assert_eq!(
        (current, allowed),
        (Status::Pending, vec![Status::Failed, Status::Cancelled])
    );
    for n in 1..=3 {
        let mut f = w.force(t.id, Status::Failed);
        f.error_message = Some("boom".into());
        f.progress_percentage = 40;
        w.rec.put_task(&f);
        let Outcome::Retried(r) = w.run(Command::Retry(retry.clone())) else {
            panic!()
        };
        assert_eq!(
            (r.status, r.retry_count, r.progress_percentage),
            (Status::Pending, n, 0)
        );
        assert_eq!(r.error_message, None);
    }
    w.force(t.id, Status::Cancelled);
    assert_eq!(
        refused(w.run(Command::Retry(retry))),
        Refusal::MaxRetriesExceeded {
            retry_count: 3,
            max_retries: 3
        }
    );
}

#[test]
fn retry_keeps_progress_and_errors_when_asked_and_changes_priority() {
    let mut w = World::new();
    let t = w.create(1);
    let mut f = w.force(t.id, Status::Failed);
    f.error_message = Some("boom".into());
    f.progress_percentage = 40;
    w.rec.put_task(&f);
    let retry = RetryTask {
        id: t.id,
        brand: 1,
        reset_progress: false,
        clear_errors: false,
        new_priority: Some(Priority::Critical),
    };
    let Outcome::Retried(r) = w.run(Command::Retry(retry)) else {
        panic!()
    };
    assert_eq!(r.error_message.as_deref(), Some("boom"));
    assert_eq!(r.progress_percentage, 40);
    assert_eq!(r.priority, Priority::Critical);
    assert_eq!(
        w.state.index().entry(t.id).unwrap().priority,
        Priority::Critical
    );
}

#[test]
fn restore_rebuilds_an_equal_index() {
    let mut w = World::new();
    for b in [1, 2, 1, 3] {
        w.create(b);
    }
    w.run(Command::Delete { id: 2, brand: 2 });
    let restored = TaskState::restore(
        w.state.next_id(),
        w.state.last_at(),
        w.rec.tasks.values().cloned(),
        [],
    );
    assert_eq!(restored.next_id(), 5);
    assert_eq!(
        restored.index().query(&TaskQuery::all(1)),
        w.state.index().query(&TaskQuery::all(1))
    );
    assert_eq!(restored.index().len(), 3);
}

#[test]
fn a_retry_that_resets_progress_drops_the_checkpoint_and_one_that_does_not_keeps_it() {
    let mut w = World::new();
    let t = w.create(1);
    for reset in [false, true] {
        let mut f = w.force(t.id, Status::Failed);
        f.persistent_job = Some(crate::PersistentJob {
            progress_percentage: 40,
            can_resume: true,
            checkpoint: crate::Json(serde_json::json!({"page": 4})),
            checkpointed_at: f.updated_at,
        });
        w.rec.put_task(&f);
        let retry = RetryTask {
            id: t.id,
            brand: 1,
            reset_progress: reset,
            clear_errors: true,
            new_priority: None,
        };
        let Outcome::Retried(r) = w.run(Command::Retry(retry)) else {
            panic!()
        };
        if reset {
            assert_eq!(r.persistent_job, None, "the checkpoint is dropped");
        } else {
            let job = r.persistent_job.expect("kept");
            assert_eq!(job.checkpoint.0, serde_json::json!({"page": 4}));
            assert!(job.can_resume);
        }
    }
}
