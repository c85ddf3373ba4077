//! Faults that are not clean kills: a leader paused (SIGSTOP, as a long GC pause or VM steal
//! would) keeps its sockets open and answers nothing; a leader killed while its own disk
//! stalls and restarted while its followers are paused.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{all_tasks, task, Cluster, FAST_RAFT};

#[tokio::test]
async fn a_read_on_a_follower_is_served_by_the_next_leader_when_the_leader_pauses() {
    let mut c = Cluster::start(3, FAST_RAFT).await;
    let l = c.leader().await;
    let f = (l + 1) % 3;
    let created = c
        .client(l)
        .create_task(&task("before the pause"), None)
        .await
        .unwrap();

    c.nodes[l].signal(libc::SIGSTOP);
    let started = Instant::now();
    // The follower asks the paused leader for a read index, hears nothing, and asks again
    // whoever leads next (an election timeout of 300–600 ms here) instead of waiting out the
    // 5 s deadline and answering 503.
    let read = c.client(f).get_task(&created.id.to_string()).await;
    let took = started.elapsed();
    c.nodes[l].signal(libc::SIGCONT);
    let read = read.expect("the read is served by the new leader");
    assert_eq!(read.id, created.id);
    assert!(took < Duration::from_secs(4), "answered after {took:?}");

    // The paused node comes back as a follower and catches up.
    let after = c
        .client(f)
        .create_task(&task("after the pause"), None)
        .await
        .unwrap();
    c.wait_ready(l).await;
    let seen = c.client(l).get_task(&after.id.to_string()).await.unwrap();
    assert_eq!(seen.id, after.id);
    c.nodes.clear();
}

/// A leader's own copy of an entry may reach its disk after the followers' copies (it writes
/// while it replicates), so a leader killed meanwhile loses entries its followers hold and
/// that may have been acknowledged. Restarted, it must not lead again under its old vote: it
/// would give those entries' log ids to new ones, and a follower holding the old entry under
/// the same id would take it for the new one (the two nodes would apply different writes).
#[tokio::test]
async fn a_restarted_leader_does_not_give_new_writes_the_log_ids_of_those_it_lost() {
    let mut c = Cluster::start(3, FAST_RAFT).await;
    let l = c.leader().await;
    let (f1, f2) = ((l + 1) % 3, (l + 2) % 3);
    // Every sync of the leader now waits a minute: the followers' copies make the write.
    let stall = c.sync_delay_file(l as u64 + 1);
    std::fs::write(&stall, "60000").unwrap();
    let acked = tokio::time::timeout(
        Duration::from_secs(15),
        c.client(l).create_task(&task("acknowledged"), None),
    )
    .await
    .expect("acknowledged with the followers' copies")
    .unwrap();
    // The leader dies with its own copy unwritten; nobody may elect anyone while it is away.
    for f in [f1, f2] {
        c.nodes[f].signal(libc::SIGSTOP);
    }
    c.nodes[l].kill9();
    std::fs::write(&stall, "0").unwrap();
    c.nodes[l].restart();
    // A write to the restarted node. Leading again under its old vote, it would append this
    // one where its log now ends: at the index, and under the term, of the entry it lost.
    let lone = {
        let client = c.client(l);
        tokio::spawn(async move { client.create_task(&task("lone"), None).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    // One follower back: with the restarted node, a majority.
    c.nodes[f1].signal(libc::SIGCONT);
    let lone = tokio::time::timeout(Duration::from_secs(20), lone).await;
    c.nodes[f2].signal(libc::SIGCONT);

    // Every node ends with the same tasks: the acknowledged one, and the lone write if it was
    // acknowledged.
    let until = Instant::now() + Duration::from_secs(30);
    let finals = loop {
        let mut finals = Vec::new();
        for i in 0..3 {
            c.wait_ready(i).await;
            let tasks = all_tasks(&c.client(i)).await;
            finals.push(
                tasks
                    .into_iter()
                    .map(|t| (t.id, t.description))
                    .collect::<Vec<_>>(),
            );
        }
        if finals.windows(2).all(|w| w[0] == w[1]) || Instant::now() > until {
            break finals;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        finals.windows(2).all(|w| w[0] == w[1]),
        "the nodes disagree: {finals:?}"
    );
    assert!(
        finals[0].contains(&(acked.id, "acknowledged".to_string())),
        "the acknowledged task is kept: {finals:?}"
    );
    if let Ok(Ok(Ok(lone))) = lone {
        assert!(
            finals[0].contains(&(lone.id, "lone".to_string())),
            "the acknowledged lone write is kept: {finals:?}"
        );
    }
}

/// The same rule for a one-node cluster: restarted, the node leads again only in a new term
/// (its only voter, it stands at once rather than after an election timeout).
#[tokio::test]
async fn a_restarted_lone_node_leads_again_in_a_new_term() {
    let mut c = Cluster::start(1, FAST_RAFT).await;
    let created = c
        .client(0)
        .create_task(&task("before the restart"), None)
        .await
        .unwrap();
    let before = c.admin_client(0).cluster_status().await.unwrap();
    assert_eq!(before.state, "leader");
    c.nodes[0].kill9();
    c.nodes[0].restart();
    c.wait_ready(0).await;
    let after = c.admin_client(0).cluster_status().await.unwrap();
    assert_eq!(after.state, "leader");
    assert!(
        after.term > before.term,
        "term {} after the restart, {} before",
        after.term,
        before.term
    );
    let kept = c.client(0).get_task(&created.task_id).await.unwrap();
    assert_eq!(kept.id, created.id);
}
