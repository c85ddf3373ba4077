//! The state machine is flushed in the background, the Raft log on every append: a node whose
//! state machine lost what it applied last (a crash before sled's flush) finds it again in its
//! log when it starts.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use taskcore_cluster::{ClusterConfig, ClusterHandle, NodeAddr};
use taskcore_core::{Command, CreateTask, Json, Outcome, Priority, UserRef};
use taskcore_store::Storage;

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
async fn start(
    dir: &Path,
) -> (
    Storage,
    ClusterHandle,
    taskcore_cluster::ClusterGuard,
    NodeAddr,
) {
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
        let (storage, handle, guard, addr) = start(&live).await;
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
    let (_storage, handle, guard, _) = start(&behind).await;
    assert!(handle.wait_ready(Duration::from_secs(10)).await);
    handle.read_barrier().await.unwrap();
    assert_eq!(handle.state_machine().read().index().len(), 50);
    guard.shutdown().await;
}
