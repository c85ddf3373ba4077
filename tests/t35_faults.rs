//! Faults that are not clean kills: a leader paused (SIGSTOP, as a long GC pause or VM steal
//! would) keeps its sockets open and answers nothing.

mod common;

use std::time::{Duration, Instant};

use common::cluster::{task, Cluster, FAST_RAFT};

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
