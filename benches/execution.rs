//! End-to-end execution: tasks per second from create to completed with the `noop` handler,
//! and create-to-start latency at a steady rate, on one node and on a three-node cluster.
//!
//! ```sh
//! cargo build --release -p taskcore -p taskctl && cargo bench --bench execution
//! ```
//! Real node and `taskcore worker` processes on loopback, release builds; the figures go to
//! BENCHMARKS.md. Times are the server's own (`created_at`, `started_at`, `completed_at`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use common::cluster::{all_tasks, task, wait_completed, Cluster, FAST_RAFT};
use common::worker::WorkerProc;
use taskcore_client::Client;
use taskcore_wire::{TaskBody, TaskStatus};

/// Tasks of the throughput run.
const THROUGHPUT_TASKS: usize = 5000;
/// Creators of the throughput run.
const CREATORS: usize = 16;
/// Rate and length of the latency run.
const LATENCY_RATE: u64 = 100;
const LATENCY_SECONDS: u64 = 10;

fn time(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).expect("an RFC 3339 time")
}

fn ms(from: &str, to: &str) -> f64 {
    (time(to) - time(from)).num_microseconds().unwrap_or(0) as f64 / 1000.0
}

/// Two workers with the noop handler, 32 attempts each, talking to every node.
fn workers(urls: &[String]) -> Vec<WorkerProc> {
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    ["bench-a", "bench-b"]
        .iter()
        .map(|id| {
            WorkerProc::spawn(
                &urls,
                &["data_export=noop"],
                &[
                    "--worker-id",
                    id,
                    "--concurrency",
                    "32",
                    "--wait-seconds",
                    "5",
                ],
            )
        })
        .collect()
}

async fn wait_all_completed(client: &Client, n: usize) -> Vec<TaskBody> {
    wait_completed(client, n).await;
    all_tasks(client).await
}

/// Creates `THROUGHPUT_TASKS` as fast as `CREATORS` clients can while the workers run them;
/// answers tasks per second from the first create to the last completion.
async fn throughput(clients: &[Client]) -> f64 {
    let mut joins = Vec::new();
    for c in 0..CREATORS {
        let client = clients[c % clients.len()].clone();
        joins.push(tokio::spawn(async move {
            for i in (c..THROUGHPUT_TASKS).step_by(CREATORS) {
                client
                    .create_task(&task(&format!("t{i}")), None)
                    .await
                    .expect("create");
            }
        }));
    }
    for j in joins {
        j.await.expect("creator");
    }
    let tasks = wait_all_completed(&clients[0], THROUGHPUT_TASKS).await;
    let first = tasks
        .iter()
        .map(|t| time(&t.created_at))
        .min()
        .expect("tasks");
    let last = tasks
        .iter()
        .filter_map(|t| t.completed_at.as_deref().map(time))
        .max()
        .expect("completions");
    let seconds = (last - first).num_microseconds().unwrap_or(1) as f64 / 1e6;
    tasks.len() as f64 / seconds
}

/// Creates tasks at `LATENCY_RATE` per second for `LATENCY_SECONDS` while idle workers wait
/// in long polls; answers the p50 and p99 of created → started.
async fn latency(client: &Client, skip: usize) -> (f64, f64) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / LATENCY_RATE));
    let n = (LATENCY_RATE * LATENCY_SECONDS) as usize;
    for i in 0..n {
        tick.tick().await;
        let client = client.clone();
        tokio::spawn(async move {
            client
                .create_task(&task(&format!("l{i}")), None)
                .await
                .expect("create");
        });
    }
    let tasks = wait_all_completed(client, skip + n).await;
    let mut waits: Vec<f64> = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Completed && t.description.starts_with('l'))
        .filter_map(|t| t.started_at.as_deref().map(|s| ms(&t.created_at, s)))
        .collect();
    waits.sort_by(f64::total_cmp);
    let at = |q: f64| waits[((waits.len() as f64 * q) as usize).min(waits.len() - 1)];
    (at(0.50), at(0.99))
}

async fn run(setup: &str, urls: Vec<String>, clients: Vec<Client>) {
    let _workers = workers(&urls);
    let per_second = throughput(&clients).await;
    let (p50, p99) = latency(&clients[0], THROUGHPUT_TASKS).await;
    println!("| {setup} | {per_second:.0} | {p50:.1} | {p99:.1} |");
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks for a list; there is nothing to run as a test.
    }
    println!("| setup | tasks/s, create → completed (noop) | create → start p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- |");
    {
        let cluster = Cluster::start(1, FAST_RAFT).await;
        let urls = vec![cluster.nodes[0].url.clone()];
        run("1 node", urls, vec![cluster.client(0)]).await;
    }
    {
        let cluster = Cluster::start(3, FAST_RAFT).await;
        let urls = cluster.nodes.iter().map(|n| n.url.clone()).collect();
        let clients = (0..3).map(|i| cluster.client(i)).collect();
        run("3 nodes", urls, clients).await;
    }
}
