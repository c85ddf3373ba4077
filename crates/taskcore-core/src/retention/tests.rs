use super::*;
use crate::state::tests::create_cmd;
use crate::{Command, CompleteAttempt, Json, LeaseTasks, MemRecords, Proposal};

const T0: Timestamp = Timestamp(1_734_700_000_000_000);
const HOUR: i64 = 3600 * Timestamp::SECOND;

struct World {
    state: TaskState,
    rec: MemRecords,
}

impl World {
    fn run(&mut self, at: Timestamp, cmd: Command) -> Outcome {
        self.state
            .apply(&Proposal { at, cmd }, &mut self.rec)
            .unwrap()
    }

    fn create(&mut self, at: Timestamp, brand: u64) -> TaskId {
        let n = self.state.next_id();
        match self.run(
            at,
            Command::Create(create_cmd(brand, &format!("task_{n:012}"))),
        ) {
            Outcome::Created(t) => t.id,
            other => panic!("{other:?}"),
        }
    }

    /// Leases the next task and completes it at `at`.
    fn lease_and_complete(&mut self, at: Timestamp) -> TaskId {
        let Outcome::Leased(leased) = self.run(at, lease()) else {
            panic!("leased");
        };
        let l = &leased[0];
        let done = self.run(
            at,
            Command::Complete(CompleteAttempt {
                id: l.task.id,
                lease_id: l.lease.id.clone(),
                result_data: Json::empty_object(),
                metrics: None,
            }),
        );
        assert!(matches!(done, Outcome::AttemptCompleted(_)));
        l.task.id
    }

    fn purge(&mut self, at: Timestamp, keep_hours: u64, max: u32) -> u32 {
        let cmd = Command::Purge(PurgeFinished {
            keep_ms: keep_hours * 3600 * 1000,
            max,
        });
        match self.run(at, cmd) {
            Outcome::Purged { count } => count,
            other => panic!("{other:?}"),
        }
    }
}

fn lease() -> Command {
    Command::Lease(LeaseTasks {
        worker_id: "w".into(),
        task_types: vec![],
        max_tasks: 1,
        lease_ttl_ms: 30_000,
        seed: 7,
    })
}

fn at(hours: i64) -> Timestamp {
    T0.plus_micros(hours * HOUR)
}

#[test]
fn finished_tasks_past_the_age_are_purged_oldest_first_in_bounded_batches() {
    let mut w = World {
        state: TaskState::new(),
        rec: MemRecords::default(),
    };
    for brand in [1, 2, 1] {
        w.create(at(0), brand);
    }
    let pending = w.create(at(0), 3);
    // Finished at hours 1, 2 and 3 (the pending one is leased last).
    let first = w.lease_and_complete(at(1));
    let second = w.lease_and_complete(at(2));
    let third = w.lease_and_complete(at(3));
    assert_eq!(w.state.index().oldest_finished(), Some(at(1)));
    assert_eq!(
        w.state
            .index()
            .finished_before(at(10), 10, &Default::default()),
        vec![first, second, third]
    );

    // Kept 24 hours: nothing is old enough at hour 20.
    assert_eq!(w.purge(at(20), 24, 10), 0);
    // At hour 26.5, the tasks finished at hours 1 and 2 are; one per purge here.
    let half = at(26).plus_micros(HOUR / 2);
    assert_eq!(w.purge(half, 24, 1), 1);
    assert!(w.rec.task(first).unwrap().is_none(), "the oldest first");
    assert!(w.rec.task(second).unwrap().is_some());
    assert_eq!(w.purge(half, 24, 10), 1);
    assert!(w.rec.task(second).unwrap().is_none());
    assert_eq!(w.purge(half, 24, 10), 0, "the third is younger");
    assert_eq!(w.state.index().oldest_finished(), Some(at(3)));
    assert!(w.rec.task(pending).unwrap().is_some(), "pending tasks stay");
    assert_eq!(w.state.index().len(), 2);
}

#[test]
fn a_task_still_holding_a_lease_is_kept_until_the_lease_is_gone() {
    let mut w = World {
        state: TaskState::new(),
        rec: MemRecords::default(),
    };
    let id = w.create(at(0), 1);
    let Outcome::Leased(leased) = w.run(at(0), lease()) else {
        panic!()
    };
    w.run(at(0), Command::Cancel { id, brand: 1 });
    assert_eq!(w.purge(at(100), 1, 10), 0, "its worker has not heard yet");
    let end = Command::EndAttempt(crate::EndAttempt {
        id,
        lease_id: leased[0].lease.id.clone(),
        outcome: crate::AttemptOutcome::LeaseExpired,
        backoff: crate::Backoff {
            base_ms: 1,
            cap_ms: 1,
            jitter: 0.0,
        },
    });
    assert!(matches!(w.run(at(100), end), Outcome::AttemptEnded { .. }));
    assert_eq!(w.purge(at(200), 1, 10), 1);
    assert_eq!(w.state.index().len(), 0);
}

#[test]
fn the_pick_is_the_oldest_whatever_the_order_of_ids_and_brands() {
    let mut w = World {
        state: TaskState::new(),
        rec: MemRecords::default(),
    };
    let ids: Vec<TaskId> = (0..60).map(|i| w.create(at(0), 1 + i % 3)).collect();
    // Cancelled in a scrambled order, some at the same hour.
    for (n, i) in (0..60).map(|i| (i * 37) % 60).enumerate() {
        let id = ids[i as usize];
        let brand = 1 + (i as u64) % 3;
        w.run(at(1 + n as i64 / 2), Command::Cancel { id, brand });
    }
    let mut all: Vec<(i64, TaskId)> = w
        .rec
        .tasks
        .values()
        .map(|t| (t.updated_at.0, t.id))
        .collect();
    all.sort_unstable();
    for (before, max) in [(at(10), 7), (at(100), 25), (at(2), 60), (at(0), 5)] {
        let want: Vec<TaskId> = all
            .iter()
            .filter(|(t, _)| *t < before.0)
            .take(max)
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(
            w.state
                .index()
                .finished_before(before, max, &Default::default()),
            want
        );
    }
}

#[test]
fn a_finished_task_a_live_idempotency_key_names_is_kept_until_the_key_expires() {
    let mut w = World {
        state: TaskState::new(),
        rec: MemRecords::default(),
    };
    let keyed = |n: u64| {
        let Command::Create(mut c) = Command::Create(create_cmd(1, &format!("task_{n:012}")))
        else {
            unreachable!()
        };
        c.idempotency = Some(crate::IdempotencyClaim {
            key: "order-42".into(),
            digest: 7,
        });
        Command::Create(c)
    };
    let Outcome::Created(first) = w.run(at(0), keyed(1)) else {
        panic!("created")
    };
    w.create(at(0), 1);
    assert_eq!(w.lease_and_complete(at(1)), first.id);
    w.lease_and_complete(at(1));
    // One hour's retention: both are of age at 3 h, but the key still names the first.
    assert_eq!(w.purge(at(3), 1, 100), 1);
    assert!(w.rec.tasks.contains_key(&first.id));
    let due = w
        .state
        .purge_due_at(std::time::Duration::from_secs(3600))
        .unwrap();
    assert_eq!(due, at(24), "the next purge is due when the key expires");
    // A resend of the key within its 24 hours answers the same task, never a second one.
    assert!(matches!(w.run(at(20), keyed(2)), Outcome::Replayed(t) if t.id == first.id));
    // Once the key expired, the task goes.
    assert_eq!(w.purge(at(25), 1, 100), 1);
    assert!(!w.rec.tasks.contains_key(&first.id));
    assert_eq!(
        w.state.purge_due_at(std::time::Duration::from_secs(3600)),
        None
    );
}
