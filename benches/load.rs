//! Load generator: creates per second and latency against one node and a three-node cluster,
//! and the time from a leader's SIGKILL to the first successful write.
//!
//! ```sh
//! cargo build --release -p taskcore -p taskctl && cargo bench --bench load
//! ```
//! Real processes on loopback ports, release builds; the figures go to BENCHMARKS.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::cluster::{create_until, task, Cluster, FAST_RAFT};
use common::{token, Node};
use taskcore_client::Client;

/// How long each measurement runs.
const RUN: Duration = Duration::from_secs(5);

struct Figures {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `concurrency` clients create tasks through `client` for `RUN`; latency of each create.
async fn measure(client: &Client, concurrency: usize) -> Figures {
    let started = Instant::now();
    let mut joins = Vec::new();
    for w in 0..concurrency {
        let client = client.clone();
        joins.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while started.elapsed() < RUN {
                let t0 = Instant::now();
                client
                    .create_task(&task(&format!("w{w}-{n}")), None)
                    .await
                    .expect("create");
                latencies.push(t0.elapsed());
                n += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for j in joins {
        all.extend(j.await.expect("worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let at =
        |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    Figures {
        per_second: all.len() as f64 / elapsed,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    }
}

fn row(setup: &str, via: &str, concurrency: usize, f: &Figures) {
    println!(
        "| {setup} | {via} | {concurrency} | {:.0} | {:.2} | {:.2} |",
        f.per_second, f.p50_ms, f.p99_ms
    );
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks for a list; there is nothing to run as a test.
    }
    println!("| setup | through | concurrency | creates/s | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let node = Node::start(dir.path());
        let client = Client::new(&node.url, &token(false)).with_brand(9);
        for c in [1, 16, 64] {
            row("1 node", "the node", c, &measure(&client, c).await);
        }
    }
    {
        let cluster = Cluster::start(3, FAST_RAFT).await;
        let leader = cluster.leader().await;
        for c in [1, 16, 64] {
            row(
                "3 nodes",
                "the leader",
                c,
                &measure(&cluster.client(leader), c).await,
            );
        }
        for c in [1, 16, 64] {
            row(
                "3 nodes",
                "a follower",
                c,
                &measure(&cluster.client((leader + 1) % 3), c).await,
            );
        }
    }
    println!();
    println!("| failover run | SIGKILL of the leader → first acknowledged write |");
    println!("| --- | --- |");
    for run in 1..=5 {
        let mut cluster = Cluster::start(3, FAST_RAFT).await;
        let leader = cluster.leader().await;
        let survivor = cluster.client((leader + 1) % 3);
        cluster.nodes[leader].kill9();
        let killed = Instant::now();
        create_until(
            &survivor,
            &format!("after-kill-{run}"),
            Duration::from_secs(30),
        )
        .await
        .expect("write after failover");
        println!("| {run} | {} ms |", killed.elapsed().as_millis());
    }
}
