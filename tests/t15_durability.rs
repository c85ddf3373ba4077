//! Acknowledged writes survive SIGKILL: same ids, same index answers after a restart.

mod common;

use common::*;
use taskcore_client::Client;
use taskcore_wire::{NewTask, TaskStatus};

#[tokio::test]
async fn every_acknowledged_task_survives_sigkill_with_the_same_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path());
    let tok = token(false);
    let client = Client::new(&node.url, &tok).with_brand(9);

    // Concurrent creates, so that many share a group commit.
    let mut joins = Vec::new();
    for n in 0..200 {
        let c = client.clone();
        joins.push(tokio::spawn(async move {
            let t = NewTask {
                task_type: "data_export".into(),
                description: Some(format!("task {n}")),
                ..Default::default()
            };
            c.create_task(&t, Some(&format!("key-{n}"))).await
        }));
    }
    let mut acknowledged = Vec::new();
    for j in joins {
        let t = j.await.unwrap().unwrap();
        acknowledged.push((t.id, t.task_id, t.description));
    }
    // The creates ran concurrently, so ids do not follow `n`: pick the tasks by their keys, and
    // never the one whose key is resent below (a resend of a deleted task's key creates afresh).
    let (cancelled, deleted) = (acknowledged[7].0, acknowledged[8].0);
    client.cancel_task(&cancelled.to_string()).await.unwrap();
    client.delete_task(&deleted.to_string()).await.unwrap();
    let before_list = client.list_tasks(&[("page_size", "500")]).await.unwrap();
    let before_stats = client.queue_stats().await.unwrap();

    node.kill9();
    node.restart();
    let client = Client::new(&node.url, &tok).with_brand(9);
    let after_list = client.list_tasks(&[("page_size", "500")]).await.unwrap();
    assert_eq!(after_list, before_list, "the index answers the same");
    assert_eq!(client.queue_stats().await.unwrap(), before_stats);
    for (id, task_id, description) in acknowledged.iter().filter(|(id, ..)| *id != deleted) {
        let t = client.get_task(&id.to_string()).await.unwrap();
        assert_eq!((&t.task_id, &t.description), (task_id, description));
    }
    assert_eq!(
        client
            .get_task(&cancelled.to_string())
            .await
            .unwrap()
            .status,
        TaskStatus::Cancelled
    );
    // Idempotency keys survived too: a resend after the crash creates nothing.
    let resend = NewTask {
        task_type: "data_export".into(),
        description: Some("task 3".into()),
        ..Default::default()
    };
    let replayed = client.create_task(&resend, Some("key-3")).await.unwrap();
    assert_eq!(
        replayed.id, acknowledged[3].0,
        "the resend names the first task"
    );
    assert_eq!(client.list_tasks(&[]).await.unwrap().count, 199);
    // Ids go on from where they were: none is reused.
    let next = client
        .create_task(
            &NewTask {
                task_type: "data_export".into(),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(next.id, 201);
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(dir.path());
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    client
        .create_task(
            &NewTask {
                task_type: "data_export".into(),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap();
    assert!(node.terminate(), "exit status 0 after SIGTERM");
    node.restart();
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    assert_eq!(client.list_tasks(&[]).await.unwrap().count, 1);
}
