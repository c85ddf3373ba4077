//! Backup and restore: `taskctl backup` from a live node, `taskcore restore` into a new data
//! directory, and the new node started from it holds the same tasks (ids, fields, attempts'
//! outcome), periodic tasks and idempotency keys, and never reuses an id. The restored node is a
//! new cluster: it and the old one refuse each other as members.

mod common;

use std::process::Command;

use common::cluster::task;
use common::{binary, token, wait_ready, Launch, Node};
use taskcore_client::Client;
use taskcore_wire::{LearnerRequest, PeriodicTaskRequest, ScheduleBody};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_backup_restores_into_a_new_cluster_with_every_task_key_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let old = Node::start(&dir.path().join("old"));
    let c = Client::new(&old.url, &token(false)).with_brand(9);
    wait_ready(&c).await;
    let keyed = c.create_task(&task("keyed"), Some("key-1")).await.unwrap();
    let mut ids = vec![keyed.id];
    for i in 0..5 {
        ids.push(
            c.create_task(&task(&format!("t{i}")), None)
                .await
                .unwrap()
                .id,
        );
    }
    let gone = ids.pop().unwrap();
    c.delete_task(&gone.to_string()).await.unwrap();
    c.cancel_task(&ids[1].to_string()).await.unwrap();
    let periodic = c
        .create_periodic(&PeriodicTaskRequest {
            name: Some("nightly".into()),
            task_type: Some("data_export".into()),
            schedule: Some(ScheduleBody {
                cron: Some("0 3 * * *".into()),
                interval_seconds: None,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let before: Vec<_> = {
        let mut v = Vec::new();
        for id in &ids {
            v.push(c.get_task(&id.to_string()).await.unwrap());
        }
        v
    };

    let file = dir.path().join("cluster.backup");
    let admin = token(true);
    run(Command::new(binary("taskctl"))
        .args(["--server", &old.url, "--token", &admin, "backup"])
        .arg(&file));
    let restored = dir.path().join("new");
    run(Command::new(binary("taskcore"))
        .args(["restore"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&restored));
    // Restoring over a node's data is refused.
    let again = Command::new(binary("taskcore"))
        .arg("restore")
        .arg(&file)
        .arg("--data-dir")
        .arg(&restored)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "a second restore into the same directory"
    );

    let new = Node::spawn(Launch::new(&restored));
    let n = Client::new(&new.url, &token(false)).with_brand(9);
    wait_ready(&n).await;
    for t in &before {
        let after = n.get_task(&t.id.to_string()).await.unwrap();
        assert_eq!(after, *t, "task {} survives as it was", t.id);
    }
    assert!(
        n.get_task(&gone.to_string()).await.is_err(),
        "the deleted task stays deleted"
    );
    let p = n.get_periodic(periodic.id).await.unwrap();
    assert_eq!(
        (p.name.as_str(), p.schedule.cron.as_deref()),
        ("nightly", Some("0 3 * * *"))
    );
    // The idempotency key still names its task; a new task never reuses an id.
    let replay = n.create_task(&task("keyed"), Some("key-1")).await.unwrap();
    assert_eq!(replay.id, keyed.id);
    let fresh = n
        .create_task(&task("after the restore"), None)
        .await
        .unwrap();
    assert!(fresh.id > gone, "id {} after {gone}", fresh.id);
    // It is a new cluster of its own: one voter, itself.
    let status = Client::new(&new.url, &admin)
        .cluster_status()
        .await
        .unwrap();
    assert_eq!(status.membership.voters, vec![1]);
    // The old cluster is still up, with the same secret: neither takes the other as a member,
    // and the refusal says why.
    let old_admin = Client::new(&old.url, &admin);
    let new_admin = Client::new(&new.url, &admin);
    let old_status = old_admin.cluster_status().await.unwrap();
    for (client, other) in [(&old_admin, &status), (&new_admin, &old_status)] {
        let addr = &other.membership.nodes["1"];
        let refused = client
            .add_learner(&LearnerRequest {
                node_id: 2,
                http_addr: addr.http_addr.clone(),
                raft_addr: addr.raft_addr.clone(),
            })
            .await
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("refused this cluster") && refused.contains("belongs to cluster"),
            "{refused}"
        );
    }
    let after = old_admin.cluster_status().await.unwrap();
    assert_eq!(
        after.membership.learners,
        Vec::<u64>::new(),
        "nothing was added"
    );
    // A file that is not a backup is refused with a clear error.
    std::fs::write(dir.path().join("junk"), b"not a backup").unwrap();
    let junk = Command::new(binary("taskcore"))
        .arg("restore")
        .arg(dir.path().join("junk"))
        .arg("--data-dir")
        .arg(dir.path().join("junk-dir"))
        .output()
        .unwrap();
    assert!(!junk.status.success());
    assert!(String::from_utf8_lossy(&junk.stderr).contains("not a Task Core backup file"));
}
