//! `taskctl cluster …`.

use std::collections::BTreeMap;

use anyhow::Context;
use taskcore_client::Client;
use taskcore_wire::{ClusterStatusBody, InitRequest, LearnerRequest, NodeAddrBody};

use crate::cli::ClusterCommand;
use crate::table;

/// Runs a cluster command.
pub async fn run(client: &Client, cmd: ClusterCommand, as_json: bool) -> anyhow::Result<()> {
    let status = match cmd {
        ClusterCommand::Status => client.cluster_status().await?,
        ClusterCommand::Init { nodes } => {
            let mut req = InitRequest {
                nodes: BTreeMap::new(),
            };
            for n in &nodes {
                let (id, addrs) = n
                    .split_once('=')
                    .context("--node takes ID=HTTP_ADDR,RAFT_ADDR")?;
                let (http, raft) = addrs
                    .split_once(',')
                    .context("--node takes ID=HTTP_ADDR,RAFT_ADDR")?;
                let body = NodeAddrBody {
                    http_addr: http.trim().into(),
                    raft_addr: raft.trim().into(),
                };
                req.nodes.insert(id.trim().to_owned(), body);
            }
            client.cluster_init(&req).await?
        }
        ClusterCommand::AddLearner {
            id,
            http_addr,
            raft_addr,
        } => {
            client
                .add_learner(&LearnerRequest {
                    node_id: id,
                    http_addr,
                    raft_addr,
                })
                .await?
        }
        ClusterCommand::Promote { id } => {
            let mut voters = client.cluster_status().await?.membership.voters;
            if !voters.contains(&id) {
                voters.push(id);
            }
            client.change_membership(&voters).await?
        }
        ClusterCommand::Remove { id } => client.remove_node(id).await?,
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        println!("{}", render(&status));
    }
    Ok(())
}

fn render(s: &ClusterStatusBody) -> String {
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    let mut out = format!(
        "node {} is {}; leader {}; term {}; last log {}; applied {}; snapshot {}\n",
        s.node_id,
        s.state,
        opt(s.leader_id),
        s.term,
        opt(s.last_log_index),
        opt(s.last_applied),
        opt(s.snapshot)
    );
    let rows: Vec<Vec<String>> = s
        .membership
        .nodes
        .iter()
        .map(|(id, n)| {
            let numeric: u64 = id.parse().unwrap_or_default();
            let role = if s.membership.voters.contains(&numeric) {
                "voter"
            } else {
                "learner"
            };
            let leader = if s.leader_id == Some(numeric) {
                "*"
            } else {
                ""
            };
            let repl = s.replication.as_ref().and_then(|r| r.get(id));
            vec![
                format!("{id}{leader}"),
                role.to_owned(),
                n.http_addr.clone(),
                n.raft_addr.clone(),
                repl.map_or("-".into(), |r| opt(r.matched)),
                repl.map_or("-".into(), |r| r.lag.to_string()),
            ]
        })
        .collect();
    out.push_str(&table::render(
        &["ID", "ROLE", "HTTP", "RAFT", "MATCHED", "LAG"],
        &rows,
    ));
    out
}
