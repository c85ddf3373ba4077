//! Property tests: random command sequences keep the state machine's invariants.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::{MemRecords, Priority};

#[derive(Clone, Debug)]
enum Op {
    Create {
        brand: BrandId,
        priority: usize,
        ty: usize,
        key: Option<(u8, u64)>,
    },
    Update {
        id: TaskId,
        brand: BrandId,
        priority: Option<usize>,
        description: Option<String>,
    },
    Delete {
        id: TaskId,
        brand: BrandId,
    },
    Cancel {
        id: TaskId,
        brand: BrandId,
    },
    Retry {
        id: TaskId,
        brand: BrandId,
        reset: bool,
    },
    /// Forces a status, as no command does (for states the commands reach rarely).
    Force {
        id: TaskId,
        status: usize,
    },
    /// A worker leases up to `max` tasks.
    Lease {
        max: u32,
    },
    /// The holder of the task's lease (or a stale one) completes, fails or releases it.
    Report {
        id: TaskId,
        how: Report,
        stale: bool,
    },
    /// A periodic task every `hours` hours.
    PeriodicCreate {
        brand: BrandId,
        hours: u64,
    },
    /// The leader fires a periodic task at its next run (or at a stale due time).
    PeriodicFire {
        id: u64,
        stale: bool,
    },
    /// The leader purges finished tasks older than `keep_hours` (at most `max`).
    Purge {
        keep_hours: u64,
        max: u32,
    },
    /// Pause or resume a periodic task.
    PeriodicEnable {
        id: u64,
        brand: BrandId,
        on: bool,
    },
    /// Create `n` tasks in one bulk, with a key (of a few) and a body digest.
    CreateMany {
        brand: BrandId,
        n: usize,
        key: Option<(u8, u64)>,
    },
}

/// What a worker reports at the end of an attempt.
#[derive(Clone, Copy, Debug)]
enum Report {
    Complete,
    Fail,
    Release,
}

const TYPES: [&str; 3] = ["data_export", "seo_content_audit", "report_generation"];

fn op() -> impl Strategy<Value = Op> {
    let id = 1u64..40;
    let brand = 1u64..4;
    prop_oneof![
        4 => (brand.clone(), 0usize..4, 0usize..3, prop::option::of((0u8..3, 0u64..2)))
            .prop_map(|(brand, priority, ty, key)| Op::Create { brand, priority, ty, key }),
        2 => (id.clone(), brand.clone(), prop::option::of(0usize..4), prop::option::of("[a-z ]{0,8}"))
            .prop_map(|(id, brand, priority, description)| Op::Update { id, brand, priority, description }),
        1 => (id.clone(), brand.clone()).prop_map(|(id, brand)| Op::Delete { id, brand }),
        1 => (id.clone(), brand.clone()).prop_map(|(id, brand)| Op::Cancel { id, brand }),
        1 => (id.clone(), brand.clone(), any::<bool>()).prop_map(|(id, brand, reset)| Op::Retry { id, brand, reset }),
        1 => (id.clone(), 0usize..5).prop_map(|(id, status)| Op::Force { id, status }),
        2 => (1u32..4).prop_map(|max| Op::Lease { max }),
        2 => (id, prop_oneof![Just(Report::Complete), Just(Report::Fail), Just(Report::Release)], prop::bool::weighted(0.2))
            .prop_map(|(id, how, stale)| Op::Report { id, how, stale }),
        1 => (brand.clone(), 1u64..4).prop_map(|(brand, hours)| Op::PeriodicCreate { brand, hours }),
        2 => (1u64..5, prop::bool::weighted(0.3)).prop_map(|(id, stale)| Op::PeriodicFire { id, stale }),
        1 => (1u64..5, brand, any::<bool>()).prop_map(|(id, brand, on)| Op::PeriodicEnable { id, brand, on }),
        1 => (0u64..6, 1u32..4).prop_map(|(keep_hours, max)| Op::Purge { keep_hours, max }),
        1 => (1u64..4, 0usize..4, prop::option::of((0u8..3, 0u64..2)))
            .prop_map(|(brand, n, key)| Op::CreateMany { brand, n, key }),
    ]
}

fn command(op: &Op, n: usize) -> Option<Command> {
    Some(match op.clone() {
        Op::Create {
            brand,
            priority,
            ty,
            key,
        } => {
            let mut c = create_cmd(brand, &format!("task_{:012}", n % 7));
            c.priority = Priority::ALL[priority];
            c.task_type = TYPES[ty].into();
            c.idempotency = key.map(|(k, d)| IdempotencyClaim {
                key: format!("k{k}"),
                digest: d,
            });
            Command::Create(c)
        }
        Op::CreateMany {
            brand,
            n: count,
            key,
        } => Command::CreateMany(crate::CreateTasks {
            tasks: (0..count)
                .map(|i| create_cmd(brand, &format!("task_{:012}", (n + i) % 7)))
                .collect(),
            // The body differs with its count, as a real digest would.
            idempotency: key.map(|(k, d)| IdempotencyClaim {
                key: format!("k{k}"),
                digest: d * 10 + count as u64,
            }),
        }),
        Op::Update {
            id,
            brand,
            priority,
            description,
        } => Command::Update(UpdateTask {
            id,
            brand,
            priority: priority.map(|p| Priority::ALL[p]),
            description,
            ..Default::default()
        }),
        Op::Delete { id, brand } => Command::Delete { id, brand },
        Op::Cancel { id, brand } => Command::Cancel { id, brand },
        Op::Retry { id, brand, reset } => Command::Retry(RetryTask {
            id,
            brand,
            reset_progress: reset,
            clear_errors: true,
            new_priority: None,
        }),
        Op::Lease { max } => Command::Lease(crate::LeaseTasks {
            worker_id: "w".into(),
            task_types: Vec::new(),
            max_tasks: max,
            lease_ttl_ms: 30_000,
            seed: n as u64,
        }),
        Op::PeriodicCreate { brand, hours } => Command::CreatePeriodic {
            brand,
            brand_name: None,
            created_by: crate::UserRef {
                id: 1,
                username: "u".into(),
            },
            spec: crate::PeriodicSpec {
                name: format!("p{n}"),
                task_type: TYPES[0].into(),
                priority: Priority::Normal,
                description: String::new(),
                context_data: Json::empty_object(),
                max_retries: 1,
                timeout_minutes: 60,
                schedule: crate::schedule::Schedule::Interval(hours * 3600),
                timezone: "UTC".into(),
                enabled: true,
                start_at: None,
                expires_at: None,
                one_off: false,
            },
        },
        Op::PeriodicEnable { id, brand, on } => Command::UpdatePeriodic {
            id,
            brand,
            patch: crate::PeriodicPatch {
                enabled: Some(on),
                ..Default::default()
            },
        },
        Op::Purge { keep_hours, max } => Command::Purge(crate::PurgeFinished {
            keep_ms: keep_hours * 3600 * 1000,
            max,
        }),
        Op::Force { .. } | Op::Report { .. } | Op::PeriodicFire { .. } => return None,
    })
}

/// A fire of a periodic task at its next run, or at a due time that is not (any more) its
/// next run.
fn fire(state: &TaskState, id: u64, stale: bool, n: usize) -> Option<Command> {
    let next = state.periodic().get(&id)?.next_run_at;
    let due = if stale {
        Some(T0.plus_micros(n as i64 * Timestamp::SECOND))
    } else {
        Some(next?)
    };
    Some(Command::FirePeriodic(crate::FirePeriodic {
        id,
        due,
        brand: None,
        task_id: format!("task_p{n:011}"),
    }))
}

/// A report under the task's current lease (or a made-up, stale one).
fn report(rec: &MemRecords, id: TaskId, how: Report, stale: bool) -> Option<Command> {
    let lease = rec.tasks.get(&id)?.lease.as_ref()?;
    let lease_id = if stale {
        "lease_stale".to_owned()
    } else {
        lease.id.clone()
    };
    Some(match how {
        Report::Complete => Command::Complete(crate::CompleteAttempt {
            id,
            lease_id,
            result_data: Json::empty_object(),
            metrics: None,
        }),
        Report::Release => Command::Release(crate::ReleaseAttempt {
            id,
            lease_id,
            reason: "stopping".into(),
            checkpoint: Some(Json::empty_object()),
        }),
        Report::Fail => {
            let backoff = crate::Backoff {
                base_ms: 5_000,
                cap_ms: 600_000,
                jitter: 0.5,
            };
            Command::Fail(crate::FailAttempt {
                id,
                lease_id,
                error_message: "boom".into(),
                retryable: true,
                metrics: None,
                backoff,
            })
        }
    })
}

fn force(state: &mut TaskState, rec: &mut MemRecords, id: TaskId, status: Status, at: Timestamp) {
    let Some(mut t) = rec.tasks.get(&id).cloned() else {
        return;
    };
    t.status = status;
    t.started_at = Some(at.plus_micros(-90 * Timestamp::SECOND));
    t.completed_at = matches!(status, Status::Completed | Status::Failed).then_some(at);
    rec.put_task(&t);
    state.index.insert(&t);
}

/// Runs the ops, checking every step; returns the outcomes and the final world.
fn run(ops: &[Op]) -> (Vec<Option<Outcome>>, TaskState, MemRecords) {
    let mut state = TaskState::new();
    let mut rec = MemRecords::default();
    let mut outcomes = Vec::new();
    let mut last_id = 0;
    for (n, op) in ops.iter().enumerate() {
        let at = T0.plus_micros(n as i64 * 3600 * Timestamp::SECOND);
        let before = rec.clone();
        let cmd = match op {
            Op::Report { id, how, stale } => report(&rec, *id, *how, *stale),
            Op::PeriodicFire { id, stale } => fire(&state, *id, *stale, n),
            _ => command(op, n),
        };
        let Some(cmd) = cmd else {
            if let Op::Force { id, status } = op {
                force(&mut state, &mut rec, *id, Status::ALL[*status], at);
            }
            outcomes.push(None);
            continue;
        };
        let outcome = state.apply(&Proposal { at, cmd }, &mut rec).unwrap();
        check_transition(&before, &rec, &outcome, &mut last_id);
        check_index(&state, &rec);
        check_periodic(&state, &rec);
        outcomes.push(Some(outcome));
    }
    (outcomes, state, rec)
}

fn check_transition(
    before: &MemRecords,
    after: &MemRecords,
    outcome: &Outcome,
    last_id: &mut TaskId,
) {
    let status_of = |r: &MemRecords, id: TaskId| r.tasks.get(&id).map(|t| t.status);
    match outcome {
        Outcome::Created(t) => {
            assert!(t.id > *last_id, "ids increase");
            *last_id = t.id;
            assert_eq!(t.status, Status::Pending);
            assert_eq!(after.tasks.len(), before.tasks.len() + 1);
        }
        Outcome::Replayed(t) => assert_eq!(before.tasks.get(&t.id), Some(t)),
        Outcome::CreatedMany(tasks) => {
            for (i, t) in tasks.iter().enumerate() {
                if i == 0 {
                    assert!(t.id > *last_id, "ids increase");
                } else {
                    assert_eq!(t.id, *last_id + 1, "a bulk takes consecutive ids");
                }
                *last_id = t.id;
                assert_eq!(t.status, Status::Pending);
            }
            assert_eq!(after.tasks.len(), before.tasks.len() + tasks.len());
        }
        Outcome::ReplayedMany(tasks) => {
            assert!(!tasks.is_empty());
            for t in tasks {
                assert_eq!(before.tasks.get(&t.id), Some(t));
            }
            assert_eq!(before.tasks, after.tasks);
        }
        Outcome::Updated(t) => assert_eq!(status_of(before, t.id), Some(t.status)),
        Outcome::Deleted => assert_eq!(after.tasks.len() + 1, before.tasks.len()),
        Outcome::Cancelled {
            task,
            previous_status,
        } => {
            assert!(matches!(previous_status, Status::Pending | Status::Running));
            assert_eq!(status_of(before, task.id), Some(*previous_status));
            assert_eq!(task.status, Status::Cancelled);
        }
        Outcome::Retried(t) => {
            let was = status_of(before, t.id);
            assert!(matches!(was, Some(Status::Failed | Status::Cancelled)));
            assert_eq!(t.status, Status::Pending);
            assert!(t.retry_count <= t.max_retries);
        }
        Outcome::Refused(_) => assert_eq!(before.tasks, after.tasks, "a refusal changes nothing"),
        Outcome::Leased(leased) => {
            for l in leased {
                assert_eq!(
                    status_of(before, l.task.id),
                    Some(Status::Pending),
                    "only pending tasks lease"
                );
                assert_eq!(l.task.status, Status::Running);
                assert_eq!(l.task.lease.as_ref(), Some(&l.lease));
            }
        }
        Outcome::HeartbeatAccepted { .. } => {}
        Outcome::AttemptCompleted(t) => {
            assert_eq!(status_of(before, t.id), Some(Status::Running));
            assert_eq!(t.status, Status::Completed);
        }
        Outcome::Purged { count } => {
            assert_eq!(after.tasks.len() + *count as usize, before.tasks.len());
            for (id, t) in &before.tasks {
                if !after.tasks.contains_key(id) {
                    assert!(
                        matches!(
                            t.status,
                            Status::Completed | Status::Failed | Status::Cancelled
                        ),
                        "only finished tasks are purged"
                    );
                    assert!(t.lease.is_none(), "nor one whose worker holds a lease");
                }
            }
        }
        Outcome::AttemptReleased(t) => {
            let was = before.tasks.get(&t.id);
            assert_eq!(was.map(|t| t.status), Some(Status::Running));
            assert_eq!(t.status, Status::Pending);
            assert!(t.lease.is_none());
            assert_eq!(
                was.map(|t| t.retry_count),
                Some(t.retry_count),
                "a release spends no retry"
            );
        }
        Outcome::AttemptEnded { task, .. } if task.status == Status::Cancelled => {
            assert_eq!(status_of(before, task.id), Some(Status::Cancelled));
            assert!(task.lease.is_none(), "a cancelled task's lease is dropped");
        }
        Outcome::AttemptEnded {
            task, will_retry, ..
        } => {
            assert_eq!(status_of(before, task.id), Some(Status::Running));
            let expected = if *will_retry {
                Status::Pending
            } else {
                Status::Failed
            };
            assert_eq!(task.status, expected);
            assert!(task.retry_count <= task.max_retries);
        }
        Outcome::Periodic(_) | Outcome::PeriodicDeleted => {
            assert_eq!(before.tasks, after.tasks, "schedules change no task");
        }
        Outcome::PeriodicFired { task, .. } => {
            assert!(task.periodic_task.is_some());
            assert_eq!(after.tasks.len(), before.tasks.len() + 1);
        }
    }
}

/// Periodic tasks in memory equal their records, and no due time fired twice.
fn check_periodic(state: &TaskState, rec: &MemRecords) {
    assert_eq!(
        state.periodic(),
        &rec.periodic,
        "periodic tasks equal their records"
    );
    let mut fired = std::collections::BTreeSet::new();
    for t in rec.tasks.values() {
        if let (Some(p), Some(due)) = (t.periodic_task, t.scheduled_for) {
            assert!(fired.insert((p, due)), "periodic {p} fired {due:?} twice");
        }
    }
    for p in state.periodic().values() {
        let created = rec
            .tasks
            .values()
            .filter(|t| t.periodic_task == Some(p.id))
            .count() as u64;
        assert!(created <= p.total_run_count, "every run is counted");
        if let (Some(next), Some(last)) = (p.next_run_at, p.last_run_at) {
            assert!(next > last, "the next run is after the last");
        }
    }
}

type NamedQueues = Vec<BTreeMap<u64, BTreeMap<String, BTreeSet<(i64, u64)>>>>;

fn ready_by_name(index: &crate::Index) -> NamedQueues {
    index
        .global
        .ready
        .iter()
        .map(|by_brand| {
            by_brand
                .iter()
                .map(|(&brand, by_type)| {
                    let named = by_type
                        .iter()
                        .map(|(&ty, q)| (index.type_name(ty).to_owned(), q.clone()))
                        .collect();
                    (brand, named)
                })
                .collect()
        })
        .collect()
}

fn check_index(state: &TaskState, rec: &MemRecords) {
    let index = state.index();
    assert_eq!(index.len(), rec.tasks.len());
    assert!(rec.tasks.keys().all(|&id| id < state.next_id()));
    let rebuilt = TaskState::restore(
        state.next_id(),
        state.last_at(),
        rec.tasks.values().cloned(),
        [],
    );
    // Type ids are interned in the order tasks are met, which a rebuild does not repeat:
    // compare the queues by type name.
    assert_eq!(
        ready_by_name(index),
        ready_by_name(rebuilt.index()),
        "the lease queues equal the records"
    );
    for brand in 1..4 {
        let q = TaskQuery::all(brand);
        assert_eq!(
            index.query(&q),
            rebuilt.index().query(&q),
            "index equals records"
        );
        let now = T0;
        let stats = index.queue_stats(brand, None, None, now);
        assert_eq!(stats, rebuilt.index().queue_stats(brand, None, None, now));
        assert_eq!(
            index.type_stats(brand, None, None),
            rebuilt.index().type_stats(brand, None, None)
        );
        assert_eq!(
            stats.total_tasks as usize,
            index.brand_len(brand),
            "counts add up"
        );
        assert_eq!(
            stats.status_distribution.iter().sum::<u64>(),
            stats.total_tasks
        );
        let per_type: u64 = index
            .type_stats(brand, None, None)
            .types
            .iter()
            .map(|t| t.total)
            .sum();
        assert_eq!(per_type, stats.total_tasks);
        let filtered = index.queue_stats(brand, Some(Timestamp(i64::MIN)), None, now);
        assert_eq!(
            filtered, stats,
            "the scanning path agrees with the counters"
        );
    }
    for (id, t) in &rec.tasks {
        assert_eq!(
            index.by_task_id(&t.task_id),
            Some(*id),
            "task ids are unique"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_sequences_keep_the_invariants(ops in prop::collection::vec(op(), 1..60)) {
        let (outcomes, state, rec) = run(&ops);
        // Replaying the same proposals gives an equal state and equal outcomes.
        let (again, state2, rec2) = run(&ops);
        prop_assert_eq!(outcomes, again);
        prop_assert_eq!(rec, rec2);
        prop_assert_eq!(state.next_id(), state2.next_id());
    }
}
