//! `taskctl node status`: how one node is doing, from its `/healthz` and `/status` (no token
//! needed).

use std::collections::BTreeMap;

use serde::Serialize;
use taskcore_client::Client;
use taskcore_wire::NodeStatusBody;

use crate::cli::NodeCommand;

/// The priorities, most urgent first.
const PRIORITIES: [&str; 4] = ["critical", "high", "normal", "low"];

/// The attempt counters, in the order they are shown.
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
    /// What `/status` answers.
    #[serde(flatten)]
    pub figures: NodeStatusBody,
}

/// Runs a node command.
pub async fn run(client: &Client, cmd: NodeCommand, as_json: bool) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Status => {
            let status = NodeStatus {
                url: client.base().to_owned(),
                healthy: client.healthy().await?,
                figures: client.node_status().await?,
            };
            if as_json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("{}", render(&status));
            }
            Ok(())
        }
        NodeCommand::Ready => {
            if client.ready().await? {
                println!("ready");
                Ok(())
            } else {
                anyhow::bail!("{} is not ready", client.base())
            }
        }
    }
}

fn render(node: &NodeStatus) -> String {
    let s = &node.figures;
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
        node.url,
        yes(node.healthy),
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
    fn the_status_renders_in_words_and_missing_counters_as_zero() {
        let figures: NodeStatusBody = serde_json::from_value(serde_json::json!({
            "ready": true, "leader": false, "leader_id": 2, "term": 7, "last_log_index": 9,
            "last_applied": 9, "scheduler_running": false, "tasks": 40,
            "queue_depth": {"high": 12}, "leases_held": 1, "long_polls": 0,
            "attempts": {"released": 3}, "purged": 0
        }))
        .unwrap();
        let text = render(&NodeStatus {
            url: "http://127.0.0.1:8080".into(),
            healthy: true,
            figures,
        });
        assert!(text.contains("leader: node 2; term 7"), "{text}");
        assert!(text.contains("high 12") && text.contains("low 0"), "{text}");
        assert!(text.contains("released 3"), "{text}");
    }
}
