//! Clusters in one process, over real loopback sockets.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use taskcore_cluster::{ClusterConfig, ClusterError, ClusterGuard, ClusterHandle, NodeAddr};
use taskcore_core::{Command, CreateTask, IdempotencyClaim, Json, Outcome, Priority, UserRef};
use taskcore_store::Storage;

struct Member {
    handle: ClusterHandle,
    addr: NodeAddr,
    guard: Option<ClusterGuard>,
    _storage: Storage,
    _dir: tempfile::TempDir,
}

fn create(n: u64) -> Command {
    Command::Create(CreateTask {
        task_id: format!("task_{n:012}"),
        brand: 1,
        brand_name: None,
        created_by: UserRef {
            id: 1,
            username: "u".into(),
        },
        task_type: "data_export".into(),
        priority: Priority::Normal,
        description: format!("task {n}"),
        context_data: Json::empty_object(),
        scheduled_for: None,
        max_retries: 3,
        timeout_minutes: 60,
        periodic_task: None,
        idempotency: None,
    })
}

async fn start_three() -> Vec<Member> {
    let mut listeners = Vec::new();
    let mut voters = BTreeMap::new();
    for id in 1..=3u64 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = NodeAddr {
            http_addr: "127.0.0.1:1".into(),
            raft_addr: l.local_addr().unwrap().to_string(),
        };
        voters.insert(id, addr.clone());
        listeners.push((id, addr, l));
    }
    let mut members = Vec::new();
    for (id, addr, listener) in listeners {
        let config_addr = addr.clone();
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let mut config = ClusterConfig::new(id, config_addr, "secret");
        config.heartbeat = Duration::from_millis(50);
        config.election_timeout = (Duration::from_millis(300), Duration::from_millis(600));
        let (handle, guard) = ClusterHandle::start(config, &storage, listener)
            .await
            .unwrap();
        members.push(Member {
            handle,
            addr,
            guard: Some(guard),
            _storage: storage,
            _dir: dir,
        });
    }
    members[0].handle.init(voters).await.unwrap();
    for m in &members {
        assert!(
            m.handle.wait_ready(Duration::from_secs(10)).await,
            "node {} ready",
            m.handle.node_id()
        );
    }
    members
}

fn leader(members: &[Member]) -> usize {
    members
        .iter()
        .position(|m| m.guard.is_some() && m.handle.status().state == "leader")
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_a_follower_is_applied_everywhere_and_survives_the_leader() {
    let mut members = start_three().await;
    let l = leader(&members);
    let follower = (l + 1) % 3;
    let outcome = members[follower].handle.propose(create(1)).await.unwrap();
    let Outcome::Created(task) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(task.id, 1);
    for m in &members {
        m.handle.read_barrier().await.unwrap();
        assert_eq!(
            m.handle.state_machine().read().index().len(),
            1,
            "node {}",
            m.handle.node_id()
        );
    }

    // The leader stops; the two others elect a new one and go on.
    if let Some(guard) = members[l].guard.take() {
        guard.shutdown().await;
    }
    let survivor = &members[follower].handle;
    // A request caught on a connection to the stopped leader answers 503 (it cannot know whether
    // the leader took it), as a client would see; the client resends.
    let mut outcome = survivor.propose(create(2)).await;
    if let Err(ClusterError::Unavailable(_)) = outcome {
        outcome = survivor.propose(create(2)).await;
    }
    assert!(
        matches!(&outcome, Ok(Outcome::Created(t)) if t.id == 2),
        "{outcome:?}"
    );
    let other = &members[(l + 2) % 3].handle;
    other.read_barrier().await.unwrap();
    assert_eq!(other.state_machine().read().index().len(), 2);
    assert_ne!(survivor.status().leader_id, Some(l as u64 + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_wrong_secrets_on_the_peer_port_harm_nothing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let members = start_three().await;
    let raft_addr = members[0].handle.status().nodes[&1].raft_addr.clone();
    let frames: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\n\r\n",
        &[0xff, 0xff, 0xff, 0xff, 1, 2, 3],
        &[0, 0, 0, 3, 9, 9, 9],
        &[],
    ];
    for frame in frames {
        let mut s = tokio::net::TcpStream::connect(&raft_addr).await.unwrap();
        s.write_all(frame).await.unwrap();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        // The node closes the connection (with at most a refusal) instead of serving it.
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    }
    // A peer with the wrong secret is refused: it cannot even get the node to prove itself
    // to it in a way it could use, and the node sends it nothing else.
    let mut s = tokio::net::TcpStream::connect(&raft_addr).await.unwrap();
    let refused = taskcore_cluster::handshake::dial(
        &mut s,
        &taskcore_cluster::identity::Credentials::new("wrong"),
    )
    .await;
    assert!(
        matches!(refused, Err(taskcore_cluster::wire::WireError::Refused(_))),
        "{refused:?}"
    );
    // The 15 bytes that used to abort a node (a greeting whose string claims 2^60 bytes), to
    // every node.
    for m in &members {
        let addr = m.handle.status().nodes[&m.handle.node_id()]
            .raft_addr
            .clone();
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(&[0, 0, 0, 0x0b, 1, 0, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0x10])
            .await
            .unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    }
    // Connections that never greet hold at most MAX_UNAUTHENTICATED slots: the next one is
    // closed at once, and the cluster's own (authenticated) connections are not among them.
    let mut idle = Vec::new();
    for _ in 0..taskcore_cluster::MAX_UNAUTHENTICATED {
        idle.push(tokio::net::TcpStream::connect(&raft_addr).await.unwrap());
    }
    let mut extra = tokio::net::TcpStream::connect(&raft_addr).await.unwrap();
    let mut buf = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(10), extra.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "a connection past the limit was kept: {closed:?}"
    );
    let outcome = members[0].handle.propose(create(6)).await.unwrap();
    assert!(matches!(outcome, Outcome::Created(_)));
    drop(idle);
    // The cluster goes on.
    let outcome = members[1].handle.propose(create(7)).await.unwrap();
    assert!(matches!(outcome, Outcome::Created(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_writes_replicate_in_entries_that_fit_and_one_too_large_is_refused() {
    let members = start_three().await;
    let l = leader(&members);
    let big = |n: u64, bytes: usize| {
        let Command::Create(mut c) = create(n) else {
            unreachable!()
        };
        c.description = "d".repeat(bytes);
        c.idempotency = Some(IdempotencyClaim {
            key: format!("big-{n}"),
            digest: n,
        });
        Command::Create(c)
    };
    // 28 × 1.5 MiB, proposed at once through the leader: one entry of 42 MiB would not cross
    // to a follower within openraft's append timeout (the 50 ms heartbeat here) and would be
    // retried for ever; bounded entries and appends replicate. A debug build applying 42 MiB on
    // a busy machine may miss heartbeats and hold an election meanwhile, so each write is
    // resent under its idempotency key, as a client would, until a deadline.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    let writes = (0..28u64).map(|n| {
        let handle = members[l].handle.clone();
        let cmd = big(100 + n, 3 * 512 * 1024);
        tokio::spawn(async move {
            loop {
                match handle.propose(cmd.clone()).await {
                    Err(ClusterError::Unavailable(why)) if std::time::Instant::now() < until => {
                        eprintln!("write {n} resent: {why}");
                    }
                    other => return other,
                }
            }
        })
    });
    for w in writes.collect::<Vec<_>>() {
        let outcome = w.await.unwrap().unwrap();
        assert!(
            matches!(outcome, Outcome::Created(_) | Outcome::Replayed(_)),
            "{outcome:?}"
        );
    }
    // Every node gets them (a debug build applying 42 MiB may miss a heartbeat or two and hold
    // an election meanwhile: poll with a deadline).
    for m in &members {
        while m.handle.read_barrier().await.is_err() {
            assert!(
                std::time::Instant::now() < until,
                "node {} never caught up",
                m.handle.node_id()
            );
        }
        assert_eq!(m.handle.state_machine().read().index().len(), 28);
    }
    // One command over the cap is refused on the leader and on a follower, before any
    // proposal; the cluster goes on.
    let too_large = taskcore_cluster::MAX_COMMAND_BYTES + 1;
    for m in [l, (l + 1) % 3] {
        let refused = members[m].handle.propose(big(200, too_large)).await;
        assert!(
            matches!(refused, Err(ClusterError::TooLarge { .. })),
            "{refused:?}"
        );
    }
    let outcome = members[(l + 2) % 3]
        .handle
        .propose(create(9))
        .await
        .unwrap();
    assert!(matches!(outcome, Outcome::Created(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_cut_off_from_its_followers_stops_calling_itself_ready() {
    let mut members = start_three().await;
    let l = leader(&members);
    // Settled first: a write committed everywhere.
    members[l].handle.propose(create(1)).await.unwrap();
    for m in &members {
        m.handle.read_barrier().await.unwrap();
    }
    assert!(members[l].handle.is_ready());
    for m in [(l + 1) % 3, (l + 2) % 3] {
        if let Some(guard) = members[m].guard.take() {
            guard.shutdown().await;
        }
    }
    // It still believes it leads, but has no quorum: within an election timeout (600 ms
    // here) and a little, it is no longer ready, so a load balancer stops sending to it.
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while members[l].handle.is_ready() {
        assert!(
            std::time::Instant::now() < until,
            "the isolated leader still says it is ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(members[l].handle.status().state, "leader");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_a_leader_without_a_quorum_are_answered_within_the_deadline() {
    let mut members = start_three().await;
    let l = leader(&members);
    members[l].handle.propose(create(1)).await.unwrap();
    for m in [(l + 1) % 3, (l + 2) % 3] {
        if let Some(guard) = members[m].guard.take() {
            guard.shutdown().await;
        }
    }
    // More writes than batches may be in flight: those waiting for a slot used to wait for a
    // whole deadline more per wave (5 s, 10 s, 15 s). Each is answered within its own 5 s.
    let started = std::time::Instant::now();
    let writes: Vec<_> = (0..12u64)
        .map(|n| {
            let handle = members[l].handle.clone();
            tokio::spawn(async move {
                let r = handle.propose(create(10 + n)).await;
                (r, started.elapsed())
            })
        })
        .collect();
    for w in writes {
        let (r, took) = w.await.unwrap();
        assert!(matches!(r, Err(ClusterError::Unavailable(_))), "{r:?}");
        assert!(took < Duration::from_secs(8), "answered after {took:?}");
    }
}

/// A follower whose leader is gone (and with it the quorum) tries the leader's address again
/// when something changes or every `LEADER_POLL` (200 ms) until the deadline, not in a loop:
/// a write and a read both waited on a fresh metrics receiver, which never waits, and
/// reconnected to the dead leader tens of thousands of times a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_without_a_leader_tries_the_old_one_at_a_polite_pace() {
    let mut members = start_three().await;
    let l = leader(&members);
    let survivor = (l + 1) % 3;
    for m in [l, (l + 2) % 3] {
        if let Some(guard) = members[m].guard.take() {
            guard.shutdown().await;
        }
    }
    // Whatever now listens at the leader's address hangs up at once: nothing is ever sent, so
    // the follower may look for the leader again, and each look is one connection here.
    let dead = &members[l].addr.raft_addr;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let listener = loop {
        match tokio::net::TcpListener::bind(dead).await {
            Ok(listener) => break listener,
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::debug!(%e, "the stopped leader's port is not free yet");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("cannot listen at {dead}: {e}"),
        }
    };
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    let hang_up = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(tcp);
        }
    });
    let handle = &members[survivor].handle;
    let started = std::time::Instant::now();
    let (write, read) = tokio::join!(handle.propose(create(1)), handle.read_barrier());
    let took = started.elapsed();
    hang_up.abort();
    assert!(
        matches!(write, Err(ClusterError::Unavailable(_))),
        "{write:?}"
    );
    assert!(
        matches!(read, Err(ClusterError::Unavailable(_))),
        "{read:?}"
    );
    // Each of the two looks at most once per 200 ms and once per change of the survivor's own
    // metrics (a handful); its pre-votes ask the dead leader too, at most every half
    // heartbeat (25 ms here). The loops without a wait made about 90,000 in those 5 s.
    let tries = connections.load(std::sync::atomic::Ordering::SeqCst);
    let ms = usize::try_from(took.as_millis()).unwrap_or(usize::MAX);
    assert!(tries > 0, "the follower never tried the leader's address");
    assert!(
        tries <= ms / 25 + 2 * (ms / 200) + 20,
        "{tries} connections to the dead leader in {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_through_a_follower_travel_together_and_each_gets_its_own_answer() {
    let members = start_three().await;
    let l = leader(&members);
    let follower = members[(l + 1) % 3].handle.clone();
    let before = follower.forwarded();
    let writes: Vec<_> = (0..300u64)
        .map(|n| {
            let follower = follower.clone();
            tokio::spawn(async move { (n, follower.propose(create(n)).await) })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for write in writes {
        let (n, outcome) = write.await.unwrap();
        let Ok(Outcome::Created(task)) = outcome else {
            panic!("write {n}: {outcome:?}")
        };
        // Each answer is its own write's, not a neighbour's in the same request.
        assert_eq!(task.description, format!("task {n}"));
        assert!(ids.insert(task.id), "id {} given twice", task.id);
    }
    assert_eq!(ids.len(), 300);
    let sent = follower.forwarded();
    assert_eq!(sent.writes - before.writes, 300);
    assert!(
        sent.requests - before.requests < 300,
        "300 concurrent writes took {} requests",
        sent.requests - before.requests
    );
    for m in &members {
        m.handle.read_barrier().await.unwrap();
        assert_eq!(m.handle.state_machine().read().index().len(), 300);
    }
}

/// The state machine is flushed in the background, the Raft log on every append: a node whose
/// state machine lost what it applied last (a crash before sled's flush) finds it again in its
/// log when it starts.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A one-node cluster's node on `dir`, and its address.
async fn start_one(dir: &Path) -> (Storage, ClusterHandle, ClusterGuard, NodeAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = NodeAddr {
        http_addr: "127.0.0.1:1".into(),
        raft_addr: listener.local_addr().unwrap().to_string(),
    };
    let storage = Storage::open(dir).unwrap();
    let mut config = ClusterConfig::new(1, addr.clone(), "secret");
    config.heartbeat = Duration::from_millis(50);
    config.election_timeout = (Duration::from_millis(300), Duration::from_millis(600));
    let (handle, guard) = ClusterHandle::start(config, &storage, listener)
        .await
        .unwrap();
    (storage, handle, guard, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_machine_behind_its_log_catches_up_from_the_log() {
    let root = tempfile::tempdir().unwrap();
    let (live, behind) = (root.path().join("live"), root.path().join("behind"));
    {
        let (storage, handle, guard, addr) = start_one(&live).await;
        handle.init(BTreeMap::from([(1, addr)])).await.unwrap();
        assert!(handle.wait_ready(Duration::from_secs(10)).await);
        // The state machine as it stands now, durable; then fifty acknowledged creates.
        storage.flush().unwrap();
        copy_dir(&live, &behind);
        for n in 1..=50 {
            let outcome = handle.propose(create(n)).await.unwrap();
            assert!(matches!(outcome, Outcome::Created(_)), "{outcome:?}");
        }
        // What a crash right now leaves: the log synced with every create, sled's state
        // machine from before them (its background flush had not run).
        std::fs::remove_dir_all(behind.join("raft-log")).unwrap();
        copy_dir(&live.join("raft-log"), &behind.join("raft-log"));
        guard.shutdown().await;
    }
    {
        let storage = Storage::open(&behind).unwrap();
        assert_eq!(
            storage.state_machine().read().index().len(),
            0,
            "the copied state machine holds none of the creates"
        );
    }
    let (_storage, handle, guard, _) = start_one(&behind).await;
    assert!(handle.wait_ready(Duration::from_secs(10)).await);
    handle.read_barrier().await.unwrap();
    assert_eq!(handle.state_machine().read().index().len(), 50);
    guard.shutdown().await;
}
