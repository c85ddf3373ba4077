//! The leader's actors over a real one-node cluster: leases that run out, heartbeats that keep
//! attempts alive, time-outs, cancelled leases, actors restarted from the replicated state, and
//! a rebuild when leadership is taken over, and the retention of finished tasks.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use taskcore_cluster::{ClusterConfig, ClusterGuard, ClusterHandle, NodeAddr};
use taskcore_core::{
    AttemptOutcome, Command, CreateTask, Heartbeat, Json, LeaseTasks, Outcome, Priority, Status,
    Task, TaskId, UserRef,
};
use taskcore_scheduler::{SchedulerConfig, SchedulerHandle};
use taskcore_store::Storage;

static NAMES: AtomicU32 = AtomicU32::new(0);

struct Node {
    cluster: ClusterHandle,
    _guard: ClusterGuard,
    _storage: Storage,
    _dir: tempfile::TempDir,
}

async fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = NodeAddr {
        http_addr: "127.0.0.1:1".into(),
        raft_addr: listener.local_addr().unwrap().to_string(),
    };
    let (cluster, guard) =
        ClusterHandle::start(ClusterConfig::new(1, addr, "s"), &storage, listener)
            .await
            .unwrap();
    cluster.init(Default::default()).await.unwrap();
    assert!(cluster.wait_ready(Duration::from_secs(10)).await);
    Node {
        cluster,
        _guard: guard,
        _storage: storage,
        _dir: dir,
    }
}

fn config(grace: Duration) -> SchedulerConfig {
    SchedulerConfig {
        retry_base_ms: 10,
        retry_cap_ms: 20,
        takeover_grace: grace,
        retry_propose_after: Duration::from_millis(50),
        name: format!("test{}", NAMES.fetch_add(1, Ordering::Relaxed)),
        ..SchedulerConfig::default()
    }
}

impl Node {
    async fn run(&self, cmd: Command) -> Outcome {
        self.cluster.propose(cmd).await.unwrap()
    }

    async fn create(&self, priority: Priority, timeout_minutes: u32) -> TaskId {
        let n = self.cluster.state_machine().read().index().len();
        let cmd = Command::Create(CreateTask {
            task_id: format!("task_{n:012}"),
            brand: 1,
            brand_name: None,
            created_by: UserRef {
                id: 1,
                username: "u".into(),
            },
            task_type: "data_export".into(),
            priority,
            description: String::new(),
            context_data: Json::empty_object(),
            scheduled_for: None,
            max_retries: 3,
            timeout_minutes,
            periodic_task: None,
            idempotency: None,
        });
        match self.run(cmd).await {
            Outcome::Created(t) => t.id,
            other => panic!("{other:?}"),
        }
    }

    /// Leases one task for `ttl_ms`; answers its lease id.
    async fn lease(&self, ttl_ms: u64) -> (TaskId, String) {
        let cmd = Command::Lease(LeaseTasks {
            worker_id: "w".into(),
            task_types: vec![],
            max_tasks: 1,
            lease_ttl_ms: ttl_ms,
            seed: 7,
        });
        match self.run(cmd).await {
            Outcome::Leased(mut l) if l.len() == 1 => {
                let l = l.remove(0);
                (l.task.id, l.lease.id)
            }
            other => panic!("{other:?}"),
        }
    }

    async fn heartbeat(&self, id: TaskId, lease: &str, ttl_ms: u64) -> Outcome {
        self.run(Command::Heartbeat(Heartbeat {
            id,
            lease_id: lease.into(),
            progress: None,
            checkpoint: None,
            metrics: None,
            lease_ttl_ms: ttl_ms,
        }))
        .await
    }

    fn task(&self, id: TaskId) -> Task {
        self.cluster
            .state_machine()
            .read()
            .task(id)
            .unwrap()
            .unwrap()
    }

    /// Polls (at most 10 s) until the task satisfies `done`.
    async fn until(&self, id: TaskId, what: &str, done: impl Fn(&Task) -> bool) -> Task {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.task(id);
            if done(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "{what}: {t:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Polls (at most 10 s) until the scheduler supervises exactly `want`, per priority.
async fn until_tracked(s: &SchedulerHandle, want: [Vec<TaskId>; 4]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = s.tracked().await;
        if got.as_ref() == Some(&want) {
            return;
        }
        assert!(Instant::now() < deadline, "tracked {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_lease_nobody_renews_ends_and_the_task_is_retried() {
    let n = node().await;
    let s = SchedulerHandle::start(n.cluster.clone(), config(Duration::ZERO));
    let id = n.create(Priority::High, 60).await;
    let (_, lease) = n.lease(300).await;
    let t = n
        .until(id, "the lease ends", |t| t.status == Status::Pending)
        .await;
    assert!(s.is_running());
    assert_eq!(t.attempts.len(), 1);
    assert_eq!(t.attempts[0].outcome, AttemptOutcome::LeaseExpired);
    assert_eq!(t.retry_count, 1);
    assert!(t.lease.is_none());
    let ended = t.attempts[0].finished_at.unwrap();
    assert!(
        ended.0 - t.attempts[0].started_at.0 >= 300_000,
        "never before the lease ran out"
    );
    assert_eq!(
        n.heartbeat(id, &lease, 300).await,
        Outcome::Refused(taskcore_core::Refusal::LeaseLost),
        "the old holder is fenced"
    );
    until_tracked(&s, Default::default()).await;
    s.shutdown().await;
}

#[tokio::test]
async fn heartbeats_keep_an_attempt_alive_until_they_stop() {
    let n = node().await;
    let s = SchedulerHandle::start(n.cluster.clone(), config(Duration::ZERO));
    let id = n.create(Priority::Normal, 60).await;
    let (_, lease) = n.lease(400).await;
    until_tracked(&s, [vec![], vec![id], vec![], vec![]]).await;
    let renewed_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < renewed_until {
        assert!(matches!(
            n.heartbeat(id, &lease, 400).await,
            Outcome::HeartbeatAccepted { .. }
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = n.task(id);
    assert_eq!(t.status, Status::Running, "renewed leases never end");
    assert_eq!(t.attempts[0].outcome, AttemptOutcome::Running);
    let t = n
        .until(id, "the lease ends", |t| t.status == Status::Pending)
        .await;
    assert_eq!(t.attempts[0].outcome, AttemptOutcome::LeaseExpired);
    s.shutdown().await;
}

#[tokio::test]
async fn an_attempt_past_its_timeout_ends_timed_out() {
    let n = node().await;
    let s = SchedulerHandle::start(n.cluster.clone(), config(Duration::ZERO));
    // Zero minutes cannot come through the API (1–1440); here it makes the timeout immediate
    // while the lease would last a minute.
    let id = n.create(Priority::Critical, 0).await;
    n.lease(60_000).await;
    let t = n
        .until(id, "the attempt times out", |t| t.status == Status::Pending)
        .await;
    assert_eq!(t.attempts[0].outcome, AttemptOutcome::TimedOut);
    assert!(t.error_message.unwrap().contains("0 minutes"));
    s.shutdown().await;
}

#[tokio::test]
async fn a_cancelled_attempt_keeps_its_lease_until_it_runs_out() {
    let n = node().await;
    let s = SchedulerHandle::start(n.cluster.clone(), config(Duration::ZERO));
    let id = n.create(Priority::Low, 60).await;
    let (_, lease) = n.lease(500).await;
    assert!(matches!(
        n.run(Command::Cancel { id, brand: 1 }).await,
        Outcome::Cancelled { .. }
    ));
    let Outcome::HeartbeatAccepted {
        cancel_requested, ..
    } = n.heartbeat(id, &lease, 500).await
    else {
        panic!("the holder still hears of the cancel")
    };
    assert!(cancel_requested);
    let t = n
        .until(id, "the lease is dropped", |t| t.lease.is_none())
        .await;
    assert_eq!(t.status, Status::Cancelled);
    assert_eq!(t.retry_count, 0, "a cancelled task is not retried");
    assert_eq!(t.attempts[0].outcome, AttemptOutcome::Cancelled);
    until_tracked(&s, Default::default()).await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_killed_task_actor_is_restarted_from_the_replicated_state() {
    let n = node().await;
    let cfg = config(Duration::ZERO);
    let name = cfg.name.clone();
    let s = SchedulerHandle::start(n.cluster.clone(), cfg);
    let id = n.create(Priority::Normal, 60).await;
    n.lease(2_000).await;
    until_tracked(&s, [vec![], vec![id], vec![], vec![]]).await;
    let actor_name = format!("{name}-task-{id}");
    let first = ractor::registry::where_is(actor_name.clone()).expect("the attempt's actor");
    first.kill();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ractor::registry::where_is(actor_name.clone()) {
            Some(cell) if cell.get_id() != first.get_id() => break,
            _ => assert!(Instant::now() < deadline, "the actor is restarted"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    until_tracked(&s, [vec![], vec![id], vec![], vec![]]).await;
    let t = n
        .until(id, "the restarted actor still ends the lease", |t| {
            t.status == Status::Pending
        })
        .await;
    assert_eq!(t.attempts[0].outcome, AttemptOutcome::LeaseExpired);
    s.shutdown().await;
}

#[tokio::test]
async fn a_new_leader_rebuilds_from_the_state_and_gives_workers_a_grace() {
    let n = node().await;
    let id = n.create(Priority::High, 60).await;
    let (_, lease) = n.lease(100).await;
    // The lease has run out before any scheduler runs: a new leader must not end it before
    // its grace, so that the worker can renew through it.
    let started = n.cluster.now();
    let s = SchedulerHandle::start(n.cluster.clone(), config(Duration::from_millis(800)));
    until_tracked(&s, [vec![], vec![], vec![id], vec![]]).await;
    let t = n
        .until(id, "the lease ends after the grace", |t| {
            t.status == Status::Pending
        })
        .await;
    assert!(t.attempts[0].finished_at.unwrap().0 >= started.0 + 800_000);
    assert_eq!(
        n.heartbeat(id, &lease, 100).await,
        Outcome::Refused(taskcore_core::Refusal::LeaseLost)
    );
    s.shutdown().await;
    assert!(!s.is_running());
}

#[tokio::test]
async fn missed_periodic_runs_are_caught_up_once_when_a_leader_starts() {
    use taskcore_core::schedule::Schedule;
    use taskcore_core::PeriodicSpec;
    let n = node().await;
    let spec = PeriodicSpec {
        name: "tick".into(),
        task_type: "data_export".into(),
        priority: Priority::Normal,
        description: String::new(),
        context_data: Json::empty_object(),
        max_retries: 0,
        timeout_minutes: 60,
        schedule: Schedule::Interval(1),
        timezone: "UTC".into(),
        enabled: true,
        start_at: None,
        expires_at: None,
        one_off: false,
    };
    let cmd = Command::CreatePeriodic {
        brand: 1,
        brand_name: None,
        created_by: UserRef {
            id: 1,
            username: "u".into(),
        },
        spec,
    };
    let Outcome::Periodic(p) = n.run(cmd).await else {
        panic!()
    };
    // No scheduler runs for three and a half intervals: three runs are missed.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let s = SchedulerHandle::start(n.cluster.clone(), config(Duration::ZERO));
    let deadline = Instant::now() + Duration::from_secs(10);
    let caught_up = loop {
        let now = n.cluster.state_machine().read().periodic()[&p.id].clone();
        if now.total_run_count >= 1 {
            break now;
        }
        assert!(Instant::now() < deadline, "the catch-up fires");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let first_due = p.next_run_at.unwrap();
    let fired_at = caught_up.last_run_at.unwrap();
    assert!(
        caught_up.next_run_at.unwrap() > fired_at,
        "the next run is in the future"
    );
    s.shutdown().await;
    let view = n.cluster.state_machine().read();
    let runs = view.periodic()[&p.id].total_run_count;
    let tasks: Vec<Task> = (1..=view.index().len() as u64)
        .filter_map(|id| view.task(id).unwrap())
        .collect();
    assert_eq!(tasks.len() as u64, runs);
    assert_eq!(
        tasks[0].scheduled_for,
        Some(first_due),
        "the catch-up is the first missed run"
    );
    assert!(
        runs <= 2,
        "one catch-up (and at most one on-time run before the shutdown), not one per missed tick: {runs}"
    );
}

#[tokio::test]
async fn finished_tasks_are_purged_once_past_the_retention_age_and_no_sooner() {
    let n = node().await;
    let keep = Duration::from_millis(1500);
    let s = SchedulerHandle::start(
        n.cluster.clone(),
        SchedulerConfig {
            keep_finished: Some(keep),
            retention_min_gap: Duration::from_millis(100),
            ..config(Duration::ZERO)
        },
    );
    let kept = n.create(Priority::Normal, 60).await;
    let mut ends = Vec::new();
    // Two tasks finish at different times, after the actor's first look found nothing: its
    // timer wakes for each as it comes of age.
    for _ in 0..2 {
        let id = n.create(Priority::Low, 60).await;
        let Outcome::Cancelled { task, .. } = n.run(Command::Cancel { id, brand: 1 }).await else {
            panic!("cancelled")
        };
        ends.push((id, task.updated_at));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (id, ended) in ends {
        loop {
            let (exists, now) = {
                let sm = n.cluster.state_machine().read();
                (sm.task(id).unwrap().is_some(), n.cluster.now())
            };
            if !exists {
                let age = now.0 - ended.0;
                assert!(
                    age >= keep.as_micros() as i64,
                    "purged only past the age ({age} µs)"
                );
                break;
            }
            assert!(Instant::now() < deadline, "task {id} is purged");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(
        n.task(kept).status,
        Status::Pending,
        "unfinished tasks stay"
    );
    assert_eq!(
        n.cluster
            .state_machine()
            .execution_stats()
            .purged
            .load(Ordering::Relaxed),
        2
    );
    s.shutdown().await;
}
