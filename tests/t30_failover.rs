//! No acknowledged write is lost while nodes are killed and restarted, and nothing a client
//! resent under its idempotency key appears twice.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::cluster::{all_tasks, retryable, task, Cluster, FAST_RAFT};
use taskcore_client::Client;

/// Writes under fresh keys until told to stop, moving to the next node when one fails;
/// returns the acknowledged keys with their ids, and the keys given up on.
async fn writer(
    w: usize,
    clients: Vec<Client>,
    stop: Arc<AtomicBool>,
) -> (BTreeMap<String, u64>, Vec<String>) {
    let mut acknowledged = BTreeMap::new();
    let mut abandoned = Vec::new();
    let mut node = w;
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("w{w}-{n}");
        let mut done = false;
        for _attempt in 0..200 {
            let client = &clients[node % clients.len()];
            match client.create_task(&task(&key), Some(&key)).await {
                Ok(t) => {
                    acknowledged.insert(key.clone(), t.id);
                    done = true;
                    break;
                }
                Err(e) if retryable(&e) => {
                    node += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("writer {w}, key {key}: {e}"),
            }
        }
        if !done {
            abandoned.push(key);
        }
    }
    (acknowledged, abandoned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_while_nodes_are_killed_and_restarted() {
    let mut c = Cluster::start(3, FAST_RAFT).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<Client> = (0..3).map(|i| c.client(i)).collect();
    let writers: Vec<_> = (0..3)
        .map(|w| tokio::spawn(writer(w, clients.clone(), stop.clone())))
        .collect();

    // Four faults, bounded in time: the leader, a follower, the leader, a follower.
    for round in 0..4 {
        let leader = c.leader().await;
        let victim = if round % 2 == 0 {
            leader
        } else {
            (leader + 1) % 3
        };
        c.nodes[victim].kill9();
        // The fault lasts a while under load (a schedule, not a synchronisation).
        tokio::time::sleep(Duration::from_millis(700)).await;
        c.nodes[victim].restart();
        c.wait_ready(victim).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = BTreeMap::new();
    let mut abandoned = Vec::new();
    for w in writers {
        let (a, b) = w.await.unwrap();
        acknowledged.extend(a);
        abandoned.extend(b);
    }
    assert!(
        acknowledged.len() > 50,
        "the writers made progress: {}",
        acknowledged.len()
    );

    for i in 0..3 {
        c.wait_ready(i).await;
        let tasks = all_tasks(&c.client(i)).await;
        let mut by_key: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for t in &tasks {
            by_key.entry(t.description.as_str()).or_default().push(t.id);
        }
        for (key, ids) in &by_key {
            assert_eq!(
                ids.len(),
                1,
                "node {}: {key} appears {} times",
                i + 1,
                ids.len()
            );
        }
        for (key, id) in &acknowledged {
            assert_eq!(
                by_key.get(key.as_str()),
                Some(&vec![*id]),
                "node {}: acknowledged {key} lost",
                i + 1
            );
        }
        let unknown = by_key.len() - acknowledged.len();
        assert!(
            unknown <= abandoned.len(),
            "node {}: {unknown} tasks nobody wrote",
            i + 1
        );
    }
}

/// A leader that stops gracefully hands leadership over first: by the time its process has
/// exited, another node already leads, one term later, and takes writes. (Without the handover
/// the others would still be waiting out an election timeout at that moment.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_leader_hands_leadership_over_before_it_exits() {
    // The default timing: elections 400–800 ms after the last heartbeat.
    let mut c = Cluster::start(3, "").await;
    for round in 0..2 {
        let leader = c.leader().await;
        let term = c.admin_client(leader).cluster_status().await.unwrap().term;
        c.client(leader)
            .create_task(&task(&format!("before {round}")), None)
            .await
            .unwrap();
        assert!(c.nodes[leader].terminate(), "a clean exit");
        let mut leaders = Vec::new();
        for i in (0..3).filter(|i| *i != leader) {
            let s = c.admin_client(i).cluster_status().await.unwrap();
            if s.state == "leader" {
                leaders.push((i, s.term));
            }
        }
        assert_eq!(leaders.len(), 1, "round {round}: a new leader at once");
        let (new, new_term) = leaders[0];
        assert_eq!(new_term, term + 1, "one election, no split vote");
        c.client(new)
            .create_task(&task(&format!("after {round}")), None)
            .await
            .unwrap();
        c.nodes[leader].restart();
        c.wait_ready(leader).await;
    }
}
