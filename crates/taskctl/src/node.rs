//! `taskctl node status`: how one node is doing, from its `/healthz`, `/readyz` and `/metrics`
//! (no token needed).

use std::collections::BTreeMap;

use serde::Serialize;
use taskcore_client::Client;

use crate::cli::NodeCommand;

/// The priorities, most urgent first.
const PRIORITIES: [&str; 4] = ["critical", "high", "normal", "low"];

/// The attempt counters of `/metrics` (`taskcore_attempts_{name}_total`).
const ATTEMPTS: [&str; 8] = [
    "leased",
    "completed",
    "failed",
    "expired",
    "timed_out",
    "released",
    "retried",
    "exhausted",
];

/// One node's health and the figures an operator looks at first.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct NodeStatus {
    /// The node's URL.
    pub url: String,
    /// `/healthz` answers 200.
    pub healthy: bool,
    /// `/readyz` answers 200: it knows a leader and has applied what it committed.
    pub ready: bool,
    /// It leads the cluster.
    pub leader: bool,
    /// The leader's id, as this node knows it.
    pub leader_id: Option<u64>,
    /// The Raft term.
    pub term: u64,
    /// Last log index.
    pub last_log_index: u64,
    /// Last applied index.
    pub last_applied: u64,
    /// The scheduler's actors run here.
    pub scheduler_running: bool,
    /// Tasks in the state machine.
    pub tasks: u64,
    /// Pending tasks per priority.
    pub queue_depth: BTreeMap<String, u64>,
    /// Attempts holding a lease.
    pub leases_held: u64,
    /// Lease requests waiting on this node.
    pub long_polls: u64,
    /// Attempts by how they ended, and retries, since the node started.
    pub attempts: BTreeMap<String, u64>,
    /// Finished tasks deleted by the retention policy, since the node started.
    pub purged: u64,
}

/// Runs a node command.
pub async fn run(client: &Client, cmd: NodeCommand, as_json: bool) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Status => {
            let status = NodeStatus {
                url: client.base().to_owned(),
                healthy: client.healthy().await?,
                ready: client.ready().await?,
                ..from_metrics(&client.metrics().await?)
            };
            if as_json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("{}", render(&status));
            }
            Ok(())
        }
    }
}

/// Reads the samples of the Prometheus text format: `name{labels} value` → value.
fn samples(text: &str) -> BTreeMap<&str, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(name, v)| Some((name.trim(), v.trim().parse().ok()?)))
        .collect()
}

/// The status figures found in a `/metrics` answer (absent ones are zero).
pub fn from_metrics(text: &str) -> NodeStatus {
    let m = samples(text);
    let n = |name: &str| m.get(name).map_or(0, |v| *v as u64);
    let queue_depth = PRIORITIES
        .into_iter()
        .map(|p| {
            let depth = n(&format!("taskcore_queue_depth{{priority=\"{p}\"}}"));
            (p.to_owned(), depth)
        })
        .collect();
    let attempts = ATTEMPTS
        .into_iter()
        .map(|a| (a.to_owned(), n(&format!("taskcore_attempts_{a}_total"))))
        .collect();
    NodeStatus {
        leader: n("taskcore_raft_is_leader") == 1,
        leader_id: m
            .get("taskcore_raft_leader_id")
            .filter(|v| **v > 0.0)
            .map(|v| *v as u64),
        term: n("taskcore_raft_term"),
        last_log_index: n("taskcore_raft_last_log_index"),
        last_applied: n("taskcore_raft_last_applied_index"),
        scheduler_running: n("taskcore_scheduler_running") == 1,
        tasks: n("taskcore_tasks"),
        queue_depth,
        leases_held: n("taskcore_leases_held"),
        long_polls: n("taskcore_worker_long_polls"),
        attempts,
        purged: n("taskcore_tasks_purged_total"),
        ..NodeStatus::default()
    }
}

fn render(s: &NodeStatus) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let list = |m: &BTreeMap<String, u64>, order: &[&str]| {
        order
            .iter()
            .map(|k| format!("{k} {}", m.get(*k).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let leader = match (s.leader, s.leader_id) {
        (true, _) => "this node".to_owned(),
        (false, Some(id)) => format!("node {id}"),
        (false, None) => "unknown".to_owned(),
    };
    format!(
        "node {}: healthy {}, ready {}\n\
         leader: {leader}; term {}; last log {}; applied {}; scheduler here: {}\n\
         tasks: {}; queues: {}\n\
         leases held: {}; long polls waiting: {}\n\
         attempts: {}\n\
         purged by retention: {}",
        s.url,
        yes(s.healthy),
        yes(s.ready),
        s.term,
        s.last_log_index,
        s.last_applied,
        yes(s.scheduler_running),
        s.tasks,
        list(&s.queue_depth, &PRIORITIES),
        s.leases_held,
        s.long_polls,
        list(&s.attempts, &ATTEMPTS),
        s.purged,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_are_read_from_the_prometheus_text() {
        let text = "# HELP taskcore_raft_term The term.\n# TYPE taskcore_raft_term gauge\n\
                    taskcore_raft_term 7\ntaskcore_raft_is_leader 0\ntaskcore_raft_leader_id 2\n\
                    taskcore_queue_depth{priority=\"high\"} 12\n\
                    taskcore_attempts_released_total 3\ntaskcore_tasks 40\n\
                    taskcore_http_request_duration_seconds_sum{method=\"GET\",route=\"/tasks/\"} 0.5\n\
                    garbage line\n";
        let s = from_metrics(text);
        assert_eq!(
            (s.term, s.leader, s.leader_id, s.tasks),
            (7, false, Some(2), 40)
        );
        assert_eq!(s.queue_depth["high"], 12);
        assert_eq!(s.queue_depth["low"], 0);
        assert_eq!(s.attempts["released"], 3);
        assert!(render(&s).contains("leader: node 2"));
    }
}
