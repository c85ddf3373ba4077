//! Rolling restarts: how long writes pause when the leader stops gracefully (it hands leadership
//! over first) and when it dies (`SIGKILL`), with the default Raft timing.
//!
//! ```sh
//! cargo build --release -p taskcore -p taskctl && cargo bench --bench handover
//! ```
//! Three real processes on loopback ports, release builds; the figures go to BENCHMARKS.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{retryable, task, Cluster};
use taskcore_client::Client;

/// One writer through a node that stays up: creates back to back (a failed create is resent
/// under its key after 5 ms) and notes when each was acknowledged.
async fn write(client: Client, stop: Arc<AtomicBool>) -> Vec<Instant> {
    let mut acks = Vec::new();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("k{n}");
        match client.create_task(&task(&key), Some(&key)).await {
            Ok(_) => {
                acks.push(Instant::now());
                n += 1;
            }
            Err(e) if retryable(&e) => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(e) => panic!("create: {e}"),
        }
    }
    acks
}

/// The longest pause between two acknowledged writes from `from` on.
fn longest_pause(acks: &[Instant], from: Instant) -> Duration {
    acks.windows(2)
        .filter(|w| w[1] >= from)
        .map(|w| w[1] - w[0].max(from))
        .max()
        .unwrap_or_default()
}

async fn run(graceful: bool) -> Duration {
    // The default timing: heartbeat 100 ms, elections 400–800 ms.
    let mut cluster = Cluster::start(3, "").await;
    let leader = cluster.leader().await;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|_| tokio::spawn(write(cluster.client((leader + 1) % 3), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stopped = Instant::now();
    if graceful {
        assert!(cluster.nodes[leader].terminate(), "a clean exit");
    } else {
        cluster.nodes[leader].kill9();
    }
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acks = Vec::new();
    for w in writers {
        acks.extend(w.await.expect("writer"));
    }
    acks.sort_unstable();
    longest_pause(&acks, stopped)
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // `cargo test --benches` asks for a list; there is nothing to run as a test.
    }
    println!("| run | leader stopped (SIGTERM, hands over) | leader killed (SIGKILL) |");
    println!("| --- | --- | --- |");
    for run_no in 1..=5 {
        let graceful = run(true).await;
        let killed = run(false).await;
        println!(
            "| {run_no} | {} ms | {} ms |",
            graceful.as_millis(),
            killed.as_millis()
        );
    }
}
