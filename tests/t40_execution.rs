//! Execution end to end with real processes: the embedded worker of `--dev`, `taskcore worker`
//! with `exec` programs, retries and exhaustion, cancels that kill the program, checkpoints
//! that resume, a worker lost mid-task, graceful worker shutdown, and the retention of finished
//! tasks.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::worker::{execution_config, WorkerProc};
use common::*;
use serde_json::{json, Value};
use taskcore_client::Client;
use taskcore_wire::{NewTask, RetryRequest, TaskBody, TaskStatus};

/// A node with leases of `lease_ttl_ms` and quick retries.
fn node(dir: &Path, lease_ttl_ms: u64) -> Node {
    let config = execution_config(dir, lease_ttl_ms, "");
    Node::spawn(Launch {
        config: Some(config),
        ..Launch::new(&dir.join("node"))
    })
}

async fn create(client: &Client, task_type: &str, max_retries: u32, context: Value) -> TaskBody {
    client
        .create_task(
            &NewTask {
                task_type: task_type.into(),
                context_data: Some(context),
                max_retries: Some(max_retries),
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap()
}

/// Polls the task (at most 60 s) until `done` holds; answers it.
async fn until(client: &Client, id: u64, what: &str, done: impl Fn(&TaskBody) -> bool) -> TaskBody {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = client.get_task(&id.to_string()).await.unwrap();
        if done(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "{what}: {t:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    format!("sh {}", path.display())
}

/// `n` `data_export` tasks with the defaults.
fn data_exports(n: usize) -> Vec<NewTask> {
    (0..n)
        .map(|_| NewTask {
            task_type: "data_export".into(),
            ..Default::default()
        })
        .collect()
}

fn outcomes(t: &TaskBody) -> Vec<String> {
    t.attempts
        .iter()
        .flatten()
        .map(|a| a.outcome.clone())
        .collect()
}

#[tokio::test]
async fn a_dev_node_runs_tasks_out_of_the_box() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_dev(dir.path());
    let client = Client::new(&node.url, &node.dev_token()).with_brand(1);
    let t = create(&client, "seo_keyword_analysis", 3, json!({"url": "x"})).await;
    let running = until(&client, t.id, "the task starts and reports progress", |t| {
        t.status == TaskStatus::Running && t.progress_percentage > 0
    })
    .await;
    assert!(running.started_at.is_some());
    let done = until(&client, t.id, "the task completes", |t| {
        t.status == TaskStatus::Completed
    })
    .await;
    assert_eq!(done.progress_percentage, 100);
    assert_eq!(done.result_data.as_ref().unwrap()["slept_ms"], 3000);
    assert!(done.has_metrics && done.is_resumable);
    assert_eq!(outcomes(&done), ["completed"]);
}

#[tokio::test]
async fn an_exec_worker_runs_any_program_with_the_exec_contract() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), 3000);
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    let cmd = script(
        dir.path(),
        "analyse.sh",
        r#"input=$(cat)
echo "progress 50"
echo 'checkpoint {"page": 3}'
sleep 1.5
printf '{"input": %s, "task": "%s", "attempt": %s}\n' "$input" "$TASKCORE_TASK_ID" "$TASKCORE_ATTEMPT""#,
    );
    let handler = format!("report_generation=exec:{cmd}");
    let _worker = WorkerProc::spawn(&[&node.url], &[&handler], &["--worker-id", "w-exec"]);
    let t = create(&client, "report_generation", 3, json!({"pages": [1, 2]})).await;
    let midway = until(&client, t.id, "progress and the checkpoint arrive", |t| {
        t.progress_percentage == 50 && t.is_resumable
    })
    .await;
    assert_eq!(midway.status, TaskStatus::Running);
    assert_eq!(
        midway.persistent_job.unwrap().checkpoint,
        json!({"page": 3})
    );
    let done = until(&client, t.id, "the program's result is recorded", |t| {
        t.status == TaskStatus::Completed
    })
    .await;
    assert_eq!(
        done.result_data.unwrap(),
        json!({"input": {"pages": [1, 2]}, "task": t.task_id, "attempt": 1})
    );
    let metrics = done.metrics.unwrap();
    assert!(metrics.execution_time_ms.unwrap() >= 1500);
    assert!(metrics.queue_wait_ms.is_some());
    let attempts = done.attempts.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].worker_id, "w-exec");
}

#[tokio::test]
async fn failures_retry_with_backoff_then_fail_for_good_with_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), 3000);
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    let _worker = WorkerProc::spawn(
        &[&node.url],
        &["data_export=exec:echo 'quota exceeded' >&2; exit 4"],
        &[],
    );
    let t = create(&client, "data_export", 2, json!({})).await;
    let failed = until(&client, t.id, "retries run out", |t| {
        t.status == TaskStatus::Failed
    })
    .await;
    assert_eq!(failed.retry_count, 2);
    assert_eq!(outcomes(&failed), ["failed", "failed", "failed"]);
    assert!(failed.completed_at.is_some());
    let error = failed.error_message.unwrap();
    assert!(error.contains("exit status 4: quota exceeded"), "{error}");
    let refused = client
        .retry_task(&t.id.to_string(), &RetryRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.error_code(), Some("MAX_RETRIES_EXCEEDED"));
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[tokio::test]
async fn a_cancel_reaches_the_worker_and_kills_its_program() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), 3000);
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    let pidfile = dir.path().join("pid");
    let cmd = script(
        dir.path(),
        "long.sh",
        &format!("echo $$ > {}\nsleep 120", pidfile.display()),
    );
    let handler = format!("data_export=exec:{cmd}");
    let _worker = WorkerProc::spawn(&[&node.url], &[&handler], &[]);
    let t = create(&client, "data_export", 3, json!({})).await;
    until(&client, t.id, "the program runs", |t| {
        t.status == TaskStatus::Running
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the program writes its pid");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(alive(pid));
    client.cancel_task(&t.id.to_string()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(pid) {
        assert!(Instant::now() < deadline, "the cancel kills the program");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = until(&client, t.id, "the cancel stands", |t| {
        t.status == TaskStatus::Cancelled
    })
    .await;
    assert_eq!(outcomes(&t), ["cancelled"]);
    assert_eq!(t.retry_count, 0);
}

#[tokio::test]
async fn a_checkpoint_lets_the_next_attempt_resume() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), 3000);
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    let cmd = script(
        dir.path(),
        "resumable.sh",
        r#"if [ -n "$TASKCORE_CHECKPOINT" ]; then
  printf '{"resumed_from": %s}\n' "$TASKCORE_CHECKPOINT"
  exit 0
fi
echo "progress 60"
echo 'checkpoint {"page": 5}'
echo "crashed at page 6" >&2
exit 1"#,
    );
    // It crashes right after its checkpoint, before any heartbeat: the worker sends the
    // checkpoint ahead of the failure report.
    let handler = format!("bulk_operations=exec:{cmd}");
    let _worker = WorkerProc::spawn(&[&node.url], &[&handler], &[]);
    let t = create(&client, "bulk_operations", 3, json!({})).await;
    let done = until(&client, t.id, "the second attempt completes", |t| {
        t.status == TaskStatus::Completed
    })
    .await;
    assert_eq!(done.result_data, Some(json!({"resumed_from": {"page": 5}})));
    assert_eq!(outcomes(&done), ["failed", "completed"]);
    assert_eq!(done.retry_count, 1);
    assert!(done.is_resumable);
}

#[tokio::test]
async fn a_task_held_by_a_killed_worker_runs_again_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), 1500);
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    let mut doomed = WorkerProc::spawn(
        &[&node.url],
        &["data_export=sleep:60000"],
        &["--worker-id", "doomed"],
    );
    let t = create(&client, "data_export", 3, json!({})).await;
    until(&client, t.id, "the first worker holds it", |t| {
        t.status == TaskStatus::Running
    })
    .await;
    doomed.kill9();
    let _rescuer = WorkerProc::spawn(
        &[&node.url],
        &["data_export=noop"],
        &["--worker-id", "rescuer"],
    );
    let done = until(&client, t.id, "another worker completes it", |t| {
        t.status == TaskStatus::Completed
    })
    .await;
    let attempts = done.attempts.unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(
        (attempts[0].worker_id.as_str(), attempts[0].outcome.as_str()),
        ("doomed", "lease_expired")
    );
    assert_eq!(
        (attempts[1].worker_id.as_str(), attempts[1].outcome.as_str()),
        ("rescuer", "completed")
    );
    assert!(attempts[1].started_at >= *attempts[0].finished_at.as_ref().unwrap());
}

#[tokio::test]
async fn a_stopping_worker_finishes_what_it_holds_or_gives_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), 3000);
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    let mut patient = WorkerProc::spawn(&[&node.url], &["data_export=sleep:1500"], &[]);
    let t = create(&client, "data_export", 3, json!({})).await;
    until(&client, t.id, "it runs", |t| {
        t.status == TaskStatus::Running
    })
    .await;
    assert!(patient.terminate(), "a clean exit");
    let t = client.get_task(&t.id.to_string()).await.unwrap();
    assert_eq!(t.status, TaskStatus::Completed, "finished before exiting");

    let mut hasty = WorkerProc::spawn(
        &[&node.url],
        &["data_export=sleep:60000"],
        &["--shutdown-grace-seconds", "0"],
    );
    let t = create(&client, "data_export", 3, json!({})).await;
    until(&client, t.id, "it runs", |t| {
        t.status == TaskStatus::Running
    })
    .await;
    assert!(hasty.terminate(), "a clean exit");
    let t = client.get_task(&t.id.to_string()).await.unwrap();
    assert_eq!(t.status, TaskStatus::Pending, "given back");
    assert_eq!(outcomes(&t), ["released"]);
    assert_eq!(t.retry_count, 0, "a give-back spends no retry");
    assert_eq!(t.scheduled_for, None, "leasable at once");
    let attempts = t.attempts.unwrap();
    assert!(attempts[0]
        .error_message
        .as_ref()
        .unwrap()
        .contains("shut down"));

    let _next = WorkerProc::spawn(&[&node.url], &["data_export=noop"], &[]);
    let done = until(&client, t.id, "the next worker completes it", |t| {
        t.status == TaskStatus::Completed
    })
    .await;
    assert_eq!(outcomes(&done), ["released", "completed"]);
    assert_eq!(done.retry_count, 0);
}

#[tokio::test]
async fn finished_tasks_are_purged_past_the_configured_retention() {
    let dir = tempfile::tempdir().unwrap();
    // Kept 0.00003 days: 2.6 s.
    let config = execution_config(
        dir.path(),
        3000,
        "[retention]\nkeep_finished_days = 0.00003\n",
    );
    let node = Node::spawn(Launch {
        config: Some(config),
        ..Launch::new(&dir.path().join("node"))
    });
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    let _worker = WorkerProc::spawn(&[&node.url], &["data_export=noop"], &[]);
    let t = create(&client, "data_export", 3, json!({})).await;
    let waiting = create(&client, "report_generation", 3, json!({})).await;
    let done = until(&client, t.id, "it completes", |t| {
        t.status == TaskStatus::Completed
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let err = loop {
        match client.get_task(&t.id.to_string()).await {
            Err(e) => break e,
            Ok(_) => {
                assert!(Instant::now() < deadline, "the finished task is purged");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(err.error_code(), Some("NOT_FOUND"));
    let gone_at = chrono::Utc::now();
    let finished = chrono::DateTime::parse_from_rfc3339(&done.updated_at).unwrap();
    assert!(
        (gone_at - finished.with_timezone(&chrono::Utc)).num_milliseconds() >= 2500,
        "kept for its retention age"
    );
    let kept = client.get_task(&waiting.id.to_string()).await.unwrap();
    assert_eq!(kept.status, TaskStatus::Pending, "unfinished tasks stay");
    let metrics = metrics_of(&node).await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "taskcore_tasks_purged_total 1"),
        "{metrics}"
    );
}

/// The node's `/metrics` text.
async fn metrics_of(node: &Node) -> String {
    reqwest::get(format!("{}/metrics", node.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Sums `taskcore_http_requests_total` over the series of one route.
fn requests(metrics: &str, route: &str) -> u64 {
    let label = format!("route=\"{route}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("taskcore_http_requests_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A busy worker reports its successes together (`POST /workers/complete/`): fewer requests
/// than tasks, and none one by one.
#[tokio::test]
async fn a_busy_worker_reports_its_completions_together() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), 30_000);
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    let tasks = data_exports(300);
    let created = client.create_tasks(&tasks, None).await.unwrap();
    let _worker = WorkerProc::spawn(
        &[&node.url],
        &["data_export=noop"],
        &["--concurrency", "32"],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = client
            .list_tasks(&[("status", "completed"), ("page_size", "1")])
            .await
            .unwrap()
            .count;
        if done == created.count {
            break;
        }
        assert!(Instant::now() < deadline, "{done} of 300 completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = metrics_of(&node).await;
    let batched = requests(&metrics, "/workers/complete/");
    assert!(
        batched > 0 && batched < 300,
        "{batched} requests for 300 completions"
    );
    assert_eq!(requests(&metrics, "/workers/tasks/{id}/complete/"), 0);
}

/// `--concurrency N` bounds the handlers running at once, though a finished attempt's slot goes
/// to the next task while its report is still on its way.
#[tokio::test]
async fn a_worker_runs_at_most_its_concurrency_of_handlers_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), 30_000);
    let client = Client::new(&node.url, &token(false)).with_brand(9);
    let spans = dir.path().join("spans");
    std::fs::create_dir(&spans).unwrap();
    let cmd = script(
        dir.path(),
        "span.sh",
        &format!(
            r#"cat >/dev/null
echo "$(date +%s%N) 1" >> {spans}/$TASKCORE_TASK_ID
sleep 0.3
echo "$(date +%s%N) -1" >> {spans}/$TASKCORE_TASK_ID
echo '{{}}'"#,
            spans = spans.display()
        ),
    );
    let tasks = data_exports(8);
    let created = client.create_tasks(&tasks, None).await.unwrap();
    let handler = format!("data_export=exec:{cmd}");
    let _worker = WorkerProc::spawn(&[&node.url], &[&handler], &["--concurrency", "2"]);
    for t in &created.results {
        until(&client, t.id, "the task completes", |t| {
            t.status == TaskStatus::Completed
        })
        .await;
    }
    // Every start and end, in time order (an end before a start at the same instant).
    let mut events: Vec<(u128, i32)> = std::fs::read_dir(&spans)
        .unwrap()
        .map(|f| std::fs::read_to_string(f.unwrap().path()).unwrap())
        .collect::<String>()
        .lines()
        .map(|l| {
            let (at, step) = l.split_once(' ').unwrap();
            (at.parse().unwrap(), step.parse().unwrap())
        })
        .collect();
    assert_eq!(events.len(), 16, "a start and an end per task");
    events.sort_unstable();
    let (mut running, mut most) = (0, 0);
    for (_, step) in events {
        running += step;
        most = most.max(running);
    }
    assert_eq!(most, 2, "handlers running at once");
}
