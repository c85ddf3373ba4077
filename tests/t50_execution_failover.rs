//! A 3-node cluster and two `taskcore worker` processes run 1,000 tasks while the leader is
//! SIGKILLed and a worker is SIGKILLed mid-task. Afterwards every task is completed exactly
//! once in the replicated state, on every node; none is left running; and no two attempts of
//! one task ever held a lease at the same time.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use common::cluster::{retryable, Cluster, FAST_RAFT};
use common::worker::WorkerProc;
use taskcore_client::Client;
use taskcore_wire::{NewTask, TaskBody, TaskStatus};
use tokio::time::Instant;

const TASKS: usize = 1000;
const CREATORS: usize = 8;

/// Creates its share of the tasks, resending under the same idempotency key (on the next
/// node) while the cluster is unavailable.
async fn creator(n: usize, clients: Vec<Client>) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut node = n;
    for i in (n..TASKS).step_by(CREATORS) {
        let key = format!("task-{i}");
        let new = NewTask {
            task_type: "data_export".into(),
            description: Some(key.clone()),
            max_retries: Some(20),
            ..Default::default()
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match clients[node % clients.len()]
                .create_task(&new, Some(&key))
                .await
            {
                Ok(t) => {
                    ids.push(t.id);
                    break;
                }
                Err(e) if retryable(&e) && Instant::now() < deadline => {
                    node += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("creating {key}: {e}"),
            }
        }
    }
    ids
}

/// How many tasks are completed, as some running node answers.
async fn completed(c: &Cluster) -> usize {
    for (i, node) in c.nodes.iter().enumerate() {
        if !node.is_running() {
            continue;
        }
        if let Ok(page) = c
            .client(i)
            .list_tasks(&[("status", "completed"), ("page_size", "1")])
            .await
        {
            return page.count as usize;
        }
    }
    0
}

async fn until_completed(c: &Cluster, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let done = completed(c).await;
        if done >= n {
            return;
        }
        assert!(Instant::now() < deadline, "only {done} of {n} completed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn time(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("an RFC 3339 time")
}

/// Checks one task's history; answers the worker and outcome of each attempt.
fn check(t: &TaskBody) -> Vec<(String, String)> {
    assert_eq!(t.status, TaskStatus::Completed, "{t:#?}");
    let attempts = t.attempts.as_ref().expect("the detail view lists attempts");
    let completions = attempts.iter().filter(|a| a.outcome == "completed").count();
    assert_eq!(completions, 1, "completed exactly once: {t:#?}");
    assert_eq!(attempts.last().unwrap().outcome, "completed");
    for pair in attempts.windows(2) {
        let ended = pair[0]
            .finished_at
            .as_deref()
            .expect("an earlier attempt ended");
        assert!(
            time(ended) <= time(&pair[1].started_at),
            "attempts {} and {} of task {} overlap",
            pair[0].number,
            pair[1].number,
            t.id
        );
    }
    attempts
        .iter()
        .map(|a| (a.worker_id.clone(), a.outcome.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_complete_exactly_once_through_leader_and_worker_kills() {
    let config = format!(
        "{FAST_RAFT}[execution]\nlease_ttl_ms = 2000\nretry_base_ms = 100\nretry_cap_ms = 1000\n"
    );
    let mut c = Cluster::start(3, &config).await;
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url.clone()).collect();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let worker = |id: &str| {
        WorkerProc::spawn(
            &urls,
            &["data_export=sleep:100"],
            &[
                "--worker-id",
                id,
                "--concurrency",
                "16",
                "--wait-seconds",
                "1",
            ],
        )
    };
    let mut doomed = worker("doomed");
    let _steady = worker("steady");
    let clients: Vec<Client> = (0..3).map(|i| c.client(i)).collect();
    let creators: Vec<_> = (0..CREATORS)
        .map(|n| tokio::spawn(creator(n, clients.clone())))
        .collect();

    until_completed(&c, 200).await;
    doomed.kill9();
    let _rescuer = worker("rescuer");

    until_completed(&c, 500).await;
    let leader = c.leader().await;
    c.nodes[leader].kill9();

    let mut ids = Vec::new();
    for creator in creators {
        ids.extend(creator.await.unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), TASKS, "every task acknowledged once");
    until_completed(&c, TASKS).await;

    // The killed leader comes back and catches up; every node holds the same history.
    c.nodes[leader].restart();
    c.wait_ready(leader).await;
    let mut histories: Vec<BTreeMap<u64, Vec<(String, String)>>> = Vec::new();
    for i in 0..c.nodes.len() {
        let client = c.client(i);
        let mut history = BTreeMap::new();
        for &id in &ids {
            let t = client.get_task(&id.to_string()).await.unwrap();
            history.insert(id, check(&t));
        }
        histories.push(history);
    }
    assert!(
        histories.windows(2).all(|w| w[0] == w[1]),
        "the nodes agree"
    );
    let lost = histories[0]
        .values()
        .flatten()
        .filter(|(w, o)| w == "doomed" && o == "lease_expired")
        .count();
    assert!(
        lost > 0,
        "the killed worker held tasks, which ran again elsewhere"
    );
    let stats = c.client(0).queue_stats().await.unwrap();
    assert_eq!(stats.status_distribution.running, 0, "none left running");
}
