//! Task Core measured the way the anchors (etcd, BullMQ, Celery) are: the rows of the comparison
//! in BENCHMARKS.md, printed as `key=value` lines like the anchors' own scripts.
//!
//! ```sh
//! cargo build --release -p taskcore -p taskctl && cargo bench --bench compare
//! scripts/compare.sh ANCHORS_DIR     # the anchors, then this, one system at a time
//! ```
//!
//! - **creates** (`mode=create`): a three-node cluster with the default Raft timing; `conc`
//!   clients, each with its own keep-alive connection to the leader, create tasks back to back
//!   (as etcd's load generator puts new keys): after one second of warm-up, for `COMPARE_SECS`
//!   (default 20) or `COMPARE_MAX_OPS` creates (default 20,000), whichever comes first (each
//!   client a lean HTTP/1.1 connection, or `taskcore-client` with
//!   `COMPARE_CLIENT=taskcore-client`: see `compare/conn.rs`); then
//!   the same through a follower (`target=follower`), which forwards them; and by one client of
//!   a one-node cluster.
//! - **reads** (`mode=get`): linearizable `GET /tasks/{id}/` of one task by 16 clients, through
//!   the leader, spread over the three nodes, and on a one-node cluster.
//! - **jobs end to end** (`mode=jobs`): 20,000 no-op tasks created with `POST /tasks/bulk/` in
//!   chunks of 1,000 through the leader while one `taskcore worker` (concurrency 50, `noop`
//!   handler, the leader first among its nodes) runs them, as
//!   the BullMQ anchor does; jobs per second from the first create sent to the last completion.
//! - **failover** (`mode=failover`): ten times, a fresh three-node cluster with the default
//!   timing; the leader is `SIGKILL`ed while a client of a survivor resends one create (under one
//!   key) every 10 ms; the time from the kill to its acknowledgement.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "compare/conn.rs"]
mod conn;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use common::cluster::{all_tasks, retryable, task, wait_completed, Cluster};
use common::worker::WorkerProc;
use conn::Conn;

/// Most operations of one measured phase by default (etcd's load generator stops at the same
/// count); `COMPARE_MAX_OPS` sets another, for longer phases.
const MAX_OPS: u64 = 20_000;

/// `COMPARE_MAX_OPS`, else [`MAX_OPS`].
fn max_ops() -> u64 {
    std::env::var("COMPARE_MAX_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(MAX_OPS)
}

/// Jobs of the end-to-end run, and tasks per bulk request.
const JOBS: usize = 20_000;
const CHUNK: usize = 1_000;

fn seconds() -> Duration {
    let secs = std::env::var("COMPARE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    Duration::from_secs(secs)
}

/// CPU time this process (the load generator) has used so far: user and system.
fn cpu_used() -> Duration {
    // SAFETY: getrusage writes one `rusage` into the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// One phase: `clients.len()` loops of `op` (each given its connection and handing it back), a
/// warm-up second unmeasured, then until the time or the count runs out; prints the rate and
/// latency percentiles, and the load generator's own CPU per operation (warm-up included),
/// which the nodes did not have.
async fn phase<F, Fut>(label: &str, clients: Vec<Conn>, op: F)
where
    F: Fn(Conn, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Conn> + Send,
{
    let conc = clients.len();
    let (max_ops, seconds) = (max_ops(), seconds());
    let cpu_before = cpu_used();
    let all_ops = Arc::new(AtomicU64::new(0));
    let warm_until = Instant::now() + Duration::from_secs(1);
    let done = Arc::new(AtomicU64::new(0));
    let mut joins = Vec::new();
    let started = Arc::new(std::sync::OnceLock::<Instant>::new());
    for client in clients {
        let (op, done, started, all_ops) =
            (op.clone(), done.clone(), started.clone(), all_ops.clone());
        joins.push(tokio::spawn(async move {
            let (mut client, mut n) = (client, 0u64);
            while Instant::now() < warm_until {
                client = op(client, n).await;
                n += 1;
            }
            let begin = *started.get_or_init(Instant::now);
            let mut latencies = Vec::new();
            while begin.elapsed() < seconds && done.fetch_add(1, Ordering::Relaxed) < max_ops {
                let t0 = Instant::now();
                client = op(client, n).await;
                latencies.push(t0.elapsed());
                n += 1;
            }
            all_ops.fetch_add(n, Ordering::Relaxed);
            latencies
        }));
    }
    let mut all = Vec::new();
    for j in joins {
        all.extend(j.await.expect("a load loop"));
    }
    let elapsed = started.get().map_or(1.0, |s| s.elapsed().as_secs_f64());
    let cpu = cpu_used().saturating_sub(cpu_before);
    let cpu_per_op = cpu.as_secs_f64() * 1e6 / all_ops.load(Ordering::Relaxed).max(1) as f64;
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let client = if conn::project_client() {
        "taskcore-client"
    } else {
        "hyper"
    };
    println!(
        "system=taskcore {label} conc={conc} ops={} rate={:.0} p50_ms={:.2} p99_ms={:.2} \
         client={client} client_cpu_us_per_op={cpu_per_op:.1}",
        all.len(),
        all.len() as f64 / elapsed,
        at(0.50),
        at(0.99)
    );
}

/// One create, the `n`th of its client.
async fn create(mut c: Conn, n: u64) -> Conn {
    c.create(&task(&format!("c{n}"))).await;
    c
}

/// `n` connections to node `i` of `cluster`, as its brand-9 user.
async fn conns(cluster: &Cluster, i: usize, n: usize) -> Vec<Conn> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(Conn::open(&cluster.nodes[i].url, &cluster.user).await);
    }
    out
}

/// The client counts of the create phases: `COMPARE_CONC` (say `64`, or `1,16`) to profile one,
/// else 1, 16 and 64.
fn concurrencies() -> Vec<usize> {
    let wanted: Vec<usize> = std::env::var("COMPARE_CONC")
        .unwrap_or_default()
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    if wanted.is_empty() {
        vec![1, 16, 64]
    } else {
        wanted
    }
}

async fn creates(cluster: &Cluster, leader: usize) {
    let concs = concurrencies();
    for &conc in &concs {
        let clients = conns(cluster, leader, conc).await;
        phase("mode=create target=leader nodes=3", clients, create).await;
    }
    // Through a follower, which forwards each create to the leader.
    let follower = (leader + 1) % 3;
    for &conc in concs.iter().filter(|&&c| c > 1) {
        let clients = conns(cluster, follower, conc).await;
        phase("mode=create target=follower nodes=3", clients, create).await;
    }
    // How many peer requests carried the writes it forwarded (writes arriving together share one).
    let url = format!("{}/metrics", cluster.nodes[follower].url);
    let metrics = match reqwest::get(url).await {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let counter = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    println!(
        "system=taskcore mode=forwarding nodes=3 writes={} requests={}",
        counter("taskcore_forwarded_writes_total "),
        counter("taskcore_forwarded_requests_total ")
    );
}

async fn reads(label: &str, clients: Vec<Conn>, id: u64) {
    phase(label, clients, move |mut c, _| async move {
        c.read(id).await;
        c
    })
    .await;
}

fn time(s: &str) -> SystemTime {
    DateTime::parse_from_rfc3339(s)
        .map(|t| SystemTime::from(t.with_timezone(&Utc)))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// `JOBS` no-op tasks created in bulk while one worker of concurrency 50 runs them.
async fn jobs(label: &str, cluster: &Cluster, via: usize) {
    // The worker talks to the first node it is given while that one answers: `via`, the leader,
    // as every other row goes through the leader (a follower would forward each lease and
    // completion to it). The others follow, for failover.
    let mut urls: Vec<&str> = vec![cluster.nodes[via].url.as_str()];
    urls.extend(
        (0..cluster.nodes.len())
            .filter(|&i| i != via)
            .map(|i| cluster.nodes[i].url.as_str()),
    );
    let _worker = WorkerProc::spawn(
        &urls,
        &["data_export=noop"],
        &["--worker-id", "compare", "--concurrency", "50"],
    );
    let client = cluster.client(via);
    let before = all_tasks(&client).await.len();
    let start = SystemTime::now();
    for chunk in 0..JOBS / CHUNK {
        let tasks: Vec<_> = (0..CHUNK).map(|i| task(&format!("j{chunk}-{i}"))).collect();
        client
            .create_tasks(&tasks, None)
            .await
            .expect("bulk create");
    }
    wait_completed(&client, JOBS).await;
    let tasks = all_tasks(&client).await;
    let last = tasks
        .iter()
        .skip(before)
        .filter_map(|t| t.completed_at.as_deref().map(time))
        .max()
        .unwrap_or(start);
    let secs = last.duration_since(start).map_or(1.0, |d| d.as_secs_f64());
    println!(
        "system=taskcore mode=jobs {label} jobs={JOBS} seconds={secs:.2} rate={:.0}",
        JOBS as f64 / secs
    );
}

async fn failover(run: u32) {
    let mut cluster = Cluster::start(3, "").await;
    let leader = cluster.leader().await;
    let survivor = cluster.client((leader + 1) % 3);
    let key = format!("after-kill-{run}");
    cluster.nodes[leader].kill9();
    let killed = Instant::now();
    loop {
        match survivor.create_task(&task(&key), Some(&key)).await {
            Ok(_) => break,
            Err(e) if retryable(&e) && killed.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("no write after the kill: {e}"),
        }
    }
    println!(
        "system=taskcore mode=failover run={run} ms={}",
        killed.elapsed().as_millis()
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks for a list; there is nothing to run as a test.
    }
    let only = std::env::var("COMPARE_ONLY").unwrap_or_default();
    let wants = |part: &str| only.is_empty() || only.split(',').any(|p| p == part);
    if wants("writes") || wants("reads") {
        let cluster = Cluster::start(3, "").await;
        let leader = cluster.leader().await;
        if wants("writes") {
            creates(&cluster, leader).await;
        }
        if wants("reads") {
            let id = cluster
                .client(leader)
                .create_task(&task("read me"), None)
                .await
                .expect("create")
                .id;
            let to_leader = conns(&cluster, leader, 16).await;
            reads("mode=get target=leader nodes=3", to_leader, id).await;
            let mut spread = Vec::new();
            for i in 0..16 {
                spread.extend(conns(&cluster, i % 3, 1).await);
            }
            reads("mode=get target=all nodes=3", spread, id).await;
        }
    }
    if wants("writes") {
        // The same on one node: what a create costs without a round to the followers.
        let one = Cluster::start(1, "").await;
        phase(
            "mode=create target=leader nodes=1",
            conns(&one, 0, 1).await,
            create,
        )
        .await;
    }
    if wants("reads") {
        let one = Cluster::start(1, "").await;
        let id = one
            .client(0)
            .create_task(&task("read me"), None)
            .await
            .expect("create")
            .id;
        let clients = conns(&one, 0, 16).await;
        reads("mode=get target=leader nodes=1", clients, id).await;
    }
    if wants("jobs") {
        let one = Cluster::start(1, "").await;
        jobs("nodes=1", &one, 0).await;
        drop(one);
        let three = Cluster::start(3, "").await;
        let leader = three.leader().await;
        jobs("nodes=3", &three, leader).await;
    }
    if wants("failover") {
        for run in 1..=10 {
            failover(run).await;
        }
    }
}
