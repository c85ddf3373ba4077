//! Power loss: every node of a cluster under load loses, at the same instant, whatever it had
//! not synced. Each node runs with the power-loss test double (`TASKCORE_TEST_SYNCED_IMAGES`: a
//! copy of its store as of each finished sync); the test SIGKILLs all three at once, puts back
//! each one's last synced image, restarts them and checks the history: every acknowledged
//! create and write is still there on every node, reads were linearizable, jobs completed at
//! most once. An acknowledgement that did not wait for its sync would be lost here.

mod common;

use std::time::Duration;

use common::cluster::{all_tasks, Cluster, FAST_RAFT};
use common::history::{check, Op, Res};
use common::worker_token;
use common::workload::{attempt_violations, registers, Workload};
use taskcore_client::Client;

#[tokio::test]
async fn a_cluster_wide_power_cut_loses_no_acknowledged_write() {
    let mut c = Cluster::start_with_synced_images(3, FAST_RAFT).await;
    let users = (0..3).map(|i| c.client(i)).collect();
    let workers = (0..3)
        .map(|i| Client::new(&c.nodes[i].url, &worker_token()).with_brand(9))
        .collect();
    let workload = Workload::start(users, workers);
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The power goes out everywhere at once.
    for node in &mut c.nodes {
        node.kill9();
    }
    let history = workload.stop().await;
    for id in 1..=3u64 {
        let node = &c.nodes[id as usize - 1];
        let restored = taskcore_store::restore_synced_image(
            &c.synced_images(id),
            &node.data_dir.join("store"),
        )
        .expect("the synced image is put back");
        assert!(restored, "node {id} kept a synced image");
    }
    for node in &mut c.nodes {
        node.restart();
    }
    for i in 0..3 {
        c.wait_ready(i).await;
    }

    let events = history.events();
    let acked_writes = events
        .iter()
        .filter(|e| matches!(e.op, Op::Write { .. }) && matches!(e.res, Res::Ok(_)))
        .count();
    assert!(
        acked_writes > 10,
        "the workload made progress ({acked_writes} acknowledged writes)"
    );
    let mut finals = Vec::new();
    for i in 0..3 {
        finals.push(registers(&all_tasks(&c.client(i)).await));
    }
    let mut violations = check(&events, &[], &finals);
    violations.extend(attempt_violations(&all_tasks(&c.client(0)).await));
    violations.extend(history.server_errors());
    assert!(violations.is_empty(), "violations: {violations:#?}");
}
