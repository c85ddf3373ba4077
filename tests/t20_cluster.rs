//! A three-node cluster of real processes: forwarding, consistent reads, failover, quorum loss,
//! membership changes and catching up by snapshot.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::{all_tasks, create_until, task, Cluster, FAST_RAFT};
use common::{Launch, Node};
use taskcore_wire::TaskStatus;

#[tokio::test]
async fn a_write_through_a_follower_is_read_back_on_all_three() {
    let c = Cluster::start(3, FAST_RAFT).await;
    let leader = c.leader().await;
    let follower = (leader + 1) % 3;
    let created = c
        .client(follower)
        .create_task(&task("via a follower"), None)
        .await
        .unwrap();
    for i in 0..3 {
        // No waiting: the read barrier makes an acknowledged write visible on every node.
        let t = c.client(i).get_task(&created.task_id).await.unwrap();
        assert_eq!(
            (t.id, t.description.as_str()),
            (created.id, "via a follower"),
            "node {}",
            i + 1
        );
    }
    let cancelled = c
        .client((leader + 2) % 3)
        .cancel_task(&created.id.to_string())
        .await
        .unwrap();
    assert_eq!(cancelled.previous_status, TaskStatus::Pending);
    for i in 0..3 {
        assert_eq!(
            c.client(i).get_task(&created.task_id).await.unwrap().status,
            TaskStatus::Cancelled
        );
    }
    let status = c.admin_client(follower).cluster_status().await.unwrap();
    assert_eq!(status.leader_id, Some(leader as u64 + 1));
    assert_eq!(status.membership.voters, vec![1, 2, 3]);
    assert_eq!(status.membership.nodes.len(), 3);
    let on_leader = c.admin_client(leader).cluster_status().await.unwrap();
    assert_eq!(on_leader.replication.map(|r| r.len()), Some(3));
}

#[tokio::test]
async fn a_leader_commits_with_its_followers_while_its_own_disk_stalls() {
    let c = Cluster::start(3, FAST_RAFT).await;
    let leader = c.leader().await;
    // From now on every sync of the leader takes 30 s. A write needs two copies on disk, and
    // the leader writes its own while it replicates: the followers' two are enough.
    let stall = c.sync_delay_file(leader as u64 + 1);
    std::fs::write(&stall, "30000").unwrap();
    let created = tokio::time::timeout(
        Duration::from_secs(15),
        c.client(leader)
            .create_task(&task("while the leader's disk stalls"), None),
    )
    .await
    .expect("acknowledged long before the leader's own sync returns")
    .unwrap();
    for i in [(leader + 1) % 3, (leader + 2) % 3] {
        let t = c.client(i).get_task(&created.task_id).await.unwrap();
        assert_eq!(t.id, created.id, "node {}", i + 1);
    }
    std::fs::write(&stall, "0").unwrap();
}

#[tokio::test]
async fn concurrent_creates_through_every_node_get_unique_gap_free_ids() {
    let c = Cluster::start(3, FAST_RAFT).await;
    let mut joins = Vec::new();
    for n in 0..150 {
        let client = c.client(n % 3);
        joins.push(tokio::spawn(async move {
            client.create_task(&task(&format!("t{n}")), None).await
        }));
    }
    let mut ids = Vec::new();
    for j in joins {
        ids.push(j.await.unwrap().unwrap().id);
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=150).collect::<Vec<_>>());
    for i in 0..3 {
        let listed: Vec<u64> = all_tasks(&c.client(i)).await.iter().map(|t| t.id).collect();
        assert_eq!(
            listed,
            ids,
            "node {} holds the same tasks in commit order",
            i + 1
        );
    }
}

#[tokio::test]
async fn after_the_leader_is_killed_writes_go_on_and_nothing_acknowledged_is_lost() {
    let mut c = Cluster::start(3, FAST_RAFT).await;
    let leader = c.leader().await;
    let mut acknowledged = BTreeSet::new();
    for n in 0..30 {
        acknowledged.insert(
            c.client(n % 3)
                .create_task(&task(&format!("before {n}")), None)
                .await
                .unwrap()
                .id,
        );
    }
    c.nodes[leader].kill9();
    let survivor = (leader + 1) % 3;
    let t = create_until(
        &c.client(survivor),
        "after the kill",
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    acknowledged.insert(t.id);
    let new_leader = c.leader().await;
    assert_ne!(new_leader, leader);
    for i in [(leader + 1) % 3, (leader + 2) % 3] {
        let ids: BTreeSet<u64> = all_tasks(&c.client(i)).await.iter().map(|t| t.id).collect();
        assert_eq!(ids, acknowledged, "node {}", i + 1);
    }
    // The killed node comes back and catches up.
    c.nodes[leader].restart();
    c.wait_ready(leader).await;
    let ids: BTreeSet<u64> = all_tasks(&c.client(leader))
        .await
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, acknowledged);
}

#[tokio::test]
async fn with_two_of_three_down_writes_fail_with_503_then_succeed_once_one_returns() {
    let mut c = Cluster::start(3, FAST_RAFT).await;
    c.client(0).create_task(&task("first"), None).await.unwrap();
    c.nodes[1].kill9();
    c.nodes[2].kill9();
    let err = c
        .client(0)
        .create_task(&task("k-quorum"), Some("k-quorum"))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("UNAVAILABLE"), "{err}");
    let err = c.client(0).list_tasks(&[]).await.unwrap_err();
    assert_eq!(
        err.error_code(),
        Some("UNAVAILABLE"),
        "reads need a leader too: {err}"
    );
    c.nodes[2].restart();
    let t = create_until(&c.client(0), "k-quorum", Duration::from_secs(20))
        .await
        .unwrap();
    let all = all_tasks(&c.client(2)).await;
    assert!(all.iter().any(|x| x.id == t.id));
    // The resend under the same key did not create a second task.
    assert_eq!(
        all.iter().filter(|x| x.description == "k-quorum").count(),
        1
    );
}

#[tokio::test]
async fn a_learner_added_after_thousands_of_writes_catches_up_by_snapshot() {
    let raft = format!("{FAST_RAFT}snapshot_after_logs = 200\nlogs_to_keep = 20\n");
    let mut c = Cluster::start(3, &raft).await;
    let mut joins = Vec::new();
    for w in 0..16 {
        let client = c.client(w % 3);
        joins.push(tokio::spawn(async move {
            for n in 0..150 {
                client
                    .create_task(&task(&format!("w{w}-{n}")), None)
                    .await
                    .unwrap();
            }
        }));
    }
    for j in joins {
        j.await.unwrap();
    }
    let leader = c.leader().await;
    let status = c.admin_client(leader).cluster_status().await.unwrap();
    assert!(
        status.snapshot.is_some_and(|s| s >= 200),
        "the leader snapshotted and purged its log: {status:?}"
    );
    c.add_learner(4, (leader + 1) % 3).await;
    let learner = c.admin_client(3).cluster_status().await.unwrap();
    assert_eq!(learner.state, "learner");
    assert!(
        learner.snapshot.is_some(),
        "the learner installed a snapshot: {learner:?}"
    );
    assert_eq!(all_tasks(&c.client(3)).await.len(), 2400);
}

#[tokio::test]
async fn membership_goes_from_three_to_four_and_back() {
    let mut c = Cluster::start(3, FAST_RAFT).await;
    c.client(0)
        .create_task(&task("before"), None)
        .await
        .unwrap();
    c.add_learner(4, 0).await;
    let status = c
        .admin_client(1)
        .change_membership(&[1, 2, 3, 4])
        .await
        .unwrap();
    assert_eq!(status.membership.voters, vec![1, 2, 3, 4]);
    c.client(3)
        .create_task(&task("with four"), None)
        .await
        .unwrap();
    assert_eq!(all_tasks(&c.client(3)).await.len(), 2);
    let status = c.admin_client(2).remove_node(4).await.unwrap();
    assert_eq!(status.membership.voters, vec![1, 2, 3]);
    assert_eq!(status.membership.nodes.len(), 3);
    c.nodes[3].kill9();
    c.client(0)
        .create_task(&task("back to three"), None)
        .await
        .unwrap();
    assert_eq!(all_tasks(&c.client(2)).await.len(), 3);
    let err = c.admin_client(0).remove_node(9).await.unwrap_err();
    assert_eq!(err.error_code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn a_peer_with_the_wrong_secret_is_refused() {
    let c = Cluster::start(1, FAST_RAFT).await;
    let stranger = Node::spawn(Launch {
        cluster_secret: Some("another-cluster-secret-of-more-than-32-bytes".into()),
        ..c.launch(2)
    });
    let req = taskcore_wire::LearnerRequest {
        node_id: 2,
        http_addr: stranger.launch.http_addr.clone(),
        raft_addr: stranger.launch.raft_addr.clone(),
    };
    let admin = c.admin_client(0);
    let adding = tokio::time::timeout(Duration::from_secs(3), admin.add_learner(&req)).await;
    assert!(
        !matches!(adding, Ok(Ok(_))),
        "a learner behind another secret never catches up"
    );
    let status = admin.cluster_status().await.unwrap();
    let matched = status
        .replication
        .and_then(|r| r.get("2").and_then(|m| m.matched));
    assert_eq!(matched, None, "nothing was replicated to the stranger");
    // The leader is unharmed and goes on serving.
    c.client(0)
        .create_task(&task("still fine"), None)
        .await
        .unwrap();
}
