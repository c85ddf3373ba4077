use serde_json::json;
use taskcore_core::{
    Command, CreateTask, IdempotencyClaim, Json, Outcome, Priority, Proposal, Status, TaskQuery,
    Timestamp, UserRef,
};

use super::*;

fn create(brand: u64, n: u64, key: Option<&str>) -> Proposal {
    Proposal {
        at: Timestamp(1_700_000_000_000_000 + n as i64),
        cmd: Command::Create(CreateTask {
            task_id: format!("task_{n:012}"),
            brand,
            brand_name: Some("Humari".into()),
            created_by: UserRef {
                id: 1,
                username: "martin".into(),
            },
            task_type: "data_export".into(),
            priority: Priority::High,
            description: format!("task {n}"),
            context_data: Json(json!({"n": n, "nested": {"list": [1, 2, 3]}})),
            scheduled_for: None,
            max_retries: 3,
            timeout_minutes: 60,
            periodic_task: None,
            idempotency: key.map(|k| IdempotencyClaim {
                key: k.into(),
                digest: 42,
            }),
        }),
    }
}

#[test]
fn applied_batches_survive_a_reopen_with_the_same_ids_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let before;
    {
        let sm = StateMachine::open(dir.path()).unwrap();
        let batch: Vec<_> = (1..=50).map(|n| create(9, n, None)).collect();
        let outcomes = sm.apply_batch(&batch).unwrap();
        assert!(outcomes.iter().all(|o| matches!(o, Outcome::Created(_))));
        let cancel = Proposal {
            at: Timestamp(1_800_000_000_000_000),
            cmd: Command::Cancel { id: 7, brand: 9 },
        };
        let delete = Proposal {
            at: Timestamp(1_800_000_000_000_001),
            cmd: Command::Delete { id: 8, brand: 9 },
        };
        sm.apply_batch(&[cancel, delete]).unwrap();
        before = sm.read().index().query(&TaskQuery::all(9));
        // A clean stop (without the Raft log, nothing would replay what was not written).
        sm.flush().unwrap();
    }
    let sm = StateMachine::open(dir.path()).unwrap();
    let view = sm.read();
    assert_eq!(view.index().query(&TaskQuery::all(9)), before);
    assert_eq!(view.index().len(), 49);
    assert_eq!(view.task(7).unwrap().unwrap().status, Status::Cancelled);
    assert!(view.task(8).unwrap().is_none());
    let t = view.task(50).unwrap().unwrap();
    assert_eq!(t.context_data.0["nested"]["list"], json!([1, 2, 3]));
    drop(view);
    // The counter survives too: deleted ids are not reused after a restart.
    let outcomes = sm.apply_batch(&[create(9, 51, None)]).unwrap();
    assert!(matches!(&outcomes[0], Outcome::Created(t) if t.id == 51));
}

#[test]
fn idempotency_keys_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let sm = StateMachine::open(dir.path()).unwrap();
        sm.apply_batch(&[create(1, 1, Some("abc"))]).unwrap();
        sm.flush().unwrap();
    }
    let sm = StateMachine::open(dir.path()).unwrap();
    let outcomes = sm.apply_batch(&[create(1, 2, Some("abc"))]).unwrap();
    assert!(matches!(&outcomes[0], Outcome::Replayed(t) if t.id == 1));
}

#[test]
fn a_batch_sees_its_own_earlier_writes() {
    let dir = tempfile::tempdir().unwrap();
    let sm = StateMachine::open(dir.path()).unwrap();
    let cancel = Proposal {
        at: Timestamp(1_700_000_001_000_000),
        cmd: Command::Cancel { id: 1, brand: 1 },
    };
    let outcomes = sm
        .apply_batch(&[create(1, 1, Some("k")), cancel, create(1, 2, Some("k"))])
        .unwrap();
    assert!(matches!(&outcomes[1], Outcome::Cancelled { .. }));
    assert!(matches!(&outcomes[2], Outcome::Replayed(t) if t.status == Status::Cancelled));
}

#[test]
fn a_corrupt_record_stops_the_open_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let sm = StateMachine::open(dir.path()).unwrap();
        sm.apply_batch(&[create(1, 1, None)]).unwrap();
        sm.inner
            .tree
            .insert(keys::task(2), &[1u8, 0xff, 0xff][..])
            .unwrap();
        sm.flush().unwrap();
    }
    let err = StateMachine::open(dir.path())
        .err()
        .expect("open must fail");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}

#[test]
fn the_turns_of_the_lease_queues_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let turns;
    {
        let sm = StateMachine::open(dir.path()).unwrap();
        sm.apply_batch(&[create(3, 1, None), create(5, 2, None)])
            .unwrap();
        let lease = Proposal {
            at: Timestamp(1_700_000_100_000_000),
            cmd: Command::Lease(taskcore_core::LeaseTasks {
                worker_id: "w".into(),
                task_types: vec![],
                max_tasks: 1,
                lease_ttl_ms: 30_000,
                seed: 1,
            }),
        };
        let outcomes = sm.apply_batch(&[lease]).unwrap();
        assert!(matches!(&outcomes[0], Outcome::Leased(l) if l.len() == 1));
        turns = sm.inner.state.read().unwrap().state.turns();
        assert_ne!(turns, [0; 4]);
        sm.flush().unwrap();
    }
    let sm = StateMachine::open(dir.path()).unwrap();
    assert_eq!(sm.inner.state.read().unwrap().state.turns(), turns);
    let running = sm.read().index().entry(1).map(|e| e.status);
    assert_eq!(
        running,
        Some(Status::Running),
        "the leased task is running after the reopen"
    );
}

#[test]
fn periodic_tasks_and_their_counter_survive_a_reopen_and_signal_the_scheduler() {
    use taskcore_core::schedule::Schedule;
    use taskcore_core::{FirePeriodic, PeriodicSpec};
    let dir = tempfile::tempdir().unwrap();
    let at = Timestamp(1_700_000_000_000_000);
    let fired;
    {
        let sm = StateMachine::open(dir.path()).unwrap();
        let mut events = sm.state_events();
        let spec = PeriodicSpec {
            name: "hourly".into(),
            task_type: "data_export".into(),
            priority: Priority::Normal,
            description: String::new(),
            context_data: Json::empty_object(),
            max_retries: 3,
            timeout_minutes: 60,
            schedule: Schedule::Interval(3600),
            timezone: "UTC".into(),
            enabled: true,
            start_at: None,
            expires_at: None,
            one_off: false,
        };
        let created = Proposal {
            at,
            cmd: Command::CreatePeriodic {
                brand: 9,
                brand_name: None,
                created_by: UserRef {
                    id: 1,
                    username: "martin".into(),
                },
                spec,
            },
        };
        let Outcome::Periodic(p) = sm.apply_batch(&[created]).unwrap().remove(0) else {
            panic!()
        };
        assert!(matches!(events.try_recv(), Ok(StateEvent::PeriodicChanged)));
        let due = p.next_run_at.unwrap();
        let fire = Proposal {
            at: due,
            cmd: Command::FirePeriodic(FirePeriodic {
                id: p.id,
                due: Some(due),
                brand: None,
                task_id: "task_periodic001".into(),
            }),
        };
        let Outcome::PeriodicFired { periodic, .. } = sm.apply_batch(&[fire]).unwrap().remove(0)
        else {
            panic!()
        };
        fired = periodic;
        sm.flush().unwrap();
    }
    let sm = StateMachine::open(dir.path()).unwrap();
    let view = sm.read();
    assert_eq!(view.periodic().get(&fired.id), Some(&*fired));
    assert_eq!(view.index().len(), 1, "the fired task is there too");
    drop(view);
    let again = sm.inner.state.read().unwrap().state.next_periodic_id();
    assert_eq!(again, fired.id + 1, "ids are never reused");
}

#[test]
fn execution_figures_count_what_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let sm = StateMachine::open(dir.path()).unwrap();
    assert_eq!(sm.execution_stats().recent_mean_ms(), None);
    sm.apply_batch(&[create(9, 1, None), create(9, 2, None)])
        .unwrap();
    let t0 = 1_700_000_100_000_000;
    let lease = Proposal {
        at: Timestamp(t0),
        cmd: Command::Lease(taskcore_core::LeaseTasks {
            worker_id: "w".into(),
            task_types: vec![],
            max_tasks: 2,
            lease_ttl_ms: 30_000,
            seed: 1,
        }),
    };
    let Outcome::Leased(leased) = sm.apply_batch(&[lease]).unwrap().remove(0) else {
        panic!()
    };
    let complete = |i: usize, after_ms: i64| Proposal {
        at: Timestamp(t0 + after_ms * 1000),
        cmd: Command::Complete(taskcore_core::CompleteAttempt {
            id: leased[i].task.id,
            lease_id: leased[i].lease.id.clone(),
            result_data: Json::empty_object(),
            metrics: None,
        }),
    };
    sm.apply_batch(&[complete(0, 100), complete(1, 300)])
        .unwrap();
    let stats = sm.execution_stats();
    assert_eq!(stats.leased.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(
        stats.completed.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(stats.recent_mean_ms(), Some(200.0));
    let d = stats.durations();
    assert_eq!(d.count, 2);
    assert!((d.sum_seconds - 0.4).abs() < 1e-9);
}

#[test]
fn a_snapshot_install_that_fails_half_way_stops_the_state_machine() {
    let dir = tempfile::tempdir().unwrap();
    let sm = StateMachine::open(dir.path()).unwrap();
    sm.apply_batch(&[create(1, 1, None)]).unwrap();
    let mut kvs = sm.export().unwrap();
    // A snapshot whose second task's record is corrupt: it reaches the disk, then fails to load.
    kvs.push((keys::task(2).to_vec(), vec![1u8, 0xff, 0xff]));
    let err = sm.import(kvs).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    let fault = sm.fault().expect("the fault is set");
    assert!(fault.contains("snapshot install failed"), "{fault}");
    assert!(
        sm.apply_batch(&[create(1, 2, None)]).is_err(),
        "no write is applied over a state that is not the disk's"
    );
}

#[test]
fn applied_changes_are_read_before_they_reach_sled_together() {
    let dir = tempfile::tempdir().unwrap();
    let sm = StateMachine::open(dir.path()).unwrap();
    // The writer thread cannot write while this is held.
    let writer_held = sm.inner.sled_order.lock().unwrap();
    sm.apply_batch(&[create(1, 1, Some("k"))]).unwrap();
    sm.apply_batch(&[create(1, 2, None)]).unwrap();
    assert_eq!(
        sm.inner.tree.get(keys::task(1)).unwrap(),
        None,
        "written behind, not by the apply"
    );
    let view = sm.read();
    assert_eq!(view.task(1).unwrap().unwrap().description, "task 1");
    assert_eq!(view.task(2).unwrap().unwrap().description, "task 2");
    drop(view);
    // The idempotency key is found where it waits: the same key answers with the first task.
    let again = sm.apply_batch(&[create(1, 3, Some("k"))]).unwrap();
    assert!(
        matches!(&again[..], [Outcome::Replayed(t)] if t.id == 1),
        "{again:?}"
    );
    drop(writer_held);
    sm.flush().unwrap();
    assert!(sm.inner.tree.get(keys::task(1)).unwrap().is_some());
    assert!(sm.inner.tree.get(keys::task(2)).unwrap().is_some());
    assert_eq!(sm.inner.tree.get(keys::task(3)).unwrap(), None);
}
