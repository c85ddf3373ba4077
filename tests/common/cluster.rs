//! A cluster of real `taskcore` processes on loopback.

use std::path::PathBuf;
use std::time::Duration;

use taskcore_client::{Client, ClientError};
use taskcore_wire::{InitRequest, LearnerRequest, NewTask, NodeAddrBody, TaskBody};
use tokio::time::Instant;

use super::netns::{Net, HTTP_PORT, RAFT_PORT};
use super::{token, Launch, Node};

/// Raft timing for tests: quick heartbeats and elections, so failovers take well under a second.
pub const FAST_RAFT: &str = "[raft]\nheartbeat_ms = 50\nelection_timeout_ms = [300, 600]\n";

pub struct Cluster {
    pub nodes: Vec<Node>,
    pub dir: tempfile::TempDir,
    pub raft_toml: String,
    pub user: String,
    pub admin: String,
    /// The namespaces the nodes run in, for fault tests; dropped after the nodes.
    pub net: Option<Net>,
    /// Whether nodes keep an image of their store after every sync (power-loss tests).
    pub synced_images: bool,
}

impl Cluster {
    /// Starts `n` nodes with `raft_toml` as their configuration and initialises them as one
    /// cluster, all voters, all ready.
    pub async fn start(n: u64, raft_toml: &str) -> Cluster {
        Self::start_on(n, raft_toml, None, false).await
    }

    /// Starts `n` nodes that keep an image of their store after every sync (see
    /// [`Cluster::synced_images`]), for power-loss tests.
    pub async fn start_with_synced_images(n: u64, raft_toml: &str) -> Cluster {
        Self::start_on(n, raft_toml, None, true).await
    }

    /// The file whose number of milliseconds every sync of node `id` waits (the slow-disk test
    /// double; no file: no wait).
    pub fn sync_delay_file(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node{id}-sync-delay"))
    }

    /// Where node `id` keeps the images of its store as of each sync.
    pub fn synced_images(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node{id}-synced"))
    }

    /// Starts `n` nodes as separate hosts in network namespaces (see [`Net`]); why not, when
    /// namespaces cannot be made here.
    pub async fn start_in_netns(n: u64, raft_toml: &str) -> Result<Cluster, String> {
        let net = Net::create(n as usize)?;
        Ok(Self::start_on(n, raft_toml, Some(net), false).await)
    }

    async fn start_on(n: u64, raft_toml: &str, net: Option<Net>, synced_images: bool) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut cluster = Cluster {
            nodes: Vec::new(),
            dir,
            raft_toml: raft_toml.to_owned(),
            user: token(false),
            admin: token(true),
            net,
            synced_images,
        };
        for id in 1..=n {
            let node = Node::spawn(cluster.launch(id));
            cluster.nodes.push(node);
        }
        let mut init = InitRequest::default();
        for (i, node) in cluster.nodes.iter().enumerate() {
            let body = NodeAddrBody {
                http_addr: node.launch.http_addr.clone(),
                raft_addr: node.launch.raft_addr.clone(),
            };
            init.nodes.insert((i + 1).to_string(), body);
        }
        cluster.admin_client(0).cluster_init(&init).await.unwrap();
        for i in 0..cluster.nodes.len() {
            cluster.wait_ready(i).await;
        }
        cluster
    }

    /// How node `id` starts: its own data directory, the shared configuration, no `--init`.
    pub fn launch(&self, id: u64) -> Launch {
        let data_dir = self.dir.path().join(format!("node{id}"));
        let config: PathBuf = self.dir.path().join(format!("node{id}.toml"));
        std::fs::write(&config, &self.raft_toml).unwrap();
        let mut launch = Launch {
            node_id: id,
            init: false,
            config: Some(config),
            ..Launch::new(&data_dir)
        };
        let delay = self.sync_delay_file(id).display().to_string();
        launch
            .env
            .push(("TASKCORE_TEST_SYNC_DELAY_FILE".into(), delay));
        if self.synced_images {
            let images = self.synced_images(id).display().to_string();
            launch
                .env
                .push(("TASKCORE_TEST_SYNCED_IMAGES".into(), images));
        }
        match &self.net {
            None => launch,
            Some(net) => {
                let host = id as usize - 1;
                Launch {
                    http_addr: format!("{}:{HTTP_PORT}", net.client_ip(host)),
                    raft_addr: format!("{}:{RAFT_PORT}", net.peer_ip(host)),
                    netns: Some(net.ns(host)),
                    ..launch
                }
            }
        }
    }

    /// A brand-9 user's client of node `i` (0-based).
    pub fn client(&self, i: usize) -> Client {
        Client::new(&self.nodes[i].url, &self.user).with_brand(9)
    }

    /// An admin's client of node `i`.
    pub fn admin_client(&self, i: usize) -> Client {
        Client::new(&self.nodes[i].url, &self.admin).with_brand(9)
    }

    /// Waits (at most 30 s) until node `i` answers `/readyz` with 200.
    pub async fn wait_ready(&self, i: usize) {
        let client = self.client(i);
        let until = Instant::now() + Duration::from_secs(30);
        while !client.ready().await.unwrap_or(false) {
            assert!(
                Instant::now() < until,
                "node {} not ready within 30 s",
                i + 1
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The index of the leader, as the running nodes agree (waits at most 30 s).
    pub async fn leader(&self) -> usize {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            for (i, node) in self.nodes.iter().enumerate() {
                if !node.is_running() {
                    continue;
                }
                if let Ok(s) = self.admin_client(i).cluster_status().await {
                    if s.state == "leader" {
                        return i;
                    }
                }
            }
            assert!(Instant::now() < until, "no leader within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Adds node `id` as a learner through node `via` once it runs.
    pub async fn add_learner(&mut self, id: u64, via: usize) {
        let node = Node::spawn(self.launch(id));
        let req = LearnerRequest {
            node_id: id,
            http_addr: node.launch.http_addr.clone(),
            raft_addr: node.launch.raft_addr.clone(),
        };
        self.nodes.push(node);
        self.admin_client(via).add_learner(&req).await.unwrap();
    }
}

/// A data_export task described by `description`.
pub fn task(description: &str) -> NewTask {
    NewTask {
        task_type: "data_export".into(),
        description: Some(description.into()),
        ..Default::default()
    }
}

/// Creates a task, resending under the same idempotency key while the cluster answers 503 or
/// cannot be reached, until `deadline`.
pub async fn create_until(
    client: &Client,
    key: &str,
    deadline: Duration,
) -> Result<TaskBody, ClientError> {
    let until = Instant::now() + deadline;
    loop {
        match client.create_task(&task(key), Some(key)).await {
            Ok(t) => return Ok(t),
            Err(e) if Instant::now() < until && retryable(&e) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether a client should resend: the cluster was unavailable, or the node did not answer.
pub fn retryable(e: &ClientError) -> bool {
    matches!(e, ClientError::Transport(_)) || e.error_code() == Some("UNAVAILABLE")
}

/// Every task of brand 9 on node `client`, by id.
pub async fn all_tasks(client: &Client) -> Vec<TaskBody> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let p = page.to_string();
        let body = client
            .list_tasks(&[("ordering", "id"), ("page_size", "500"), ("page", &p)])
            .await
            .unwrap();
        out.extend(body.results);
        if body.next.is_none() {
            return out;
        }
        page += 1;
    }
}

/// Waits (at most 10 minutes) until `n` of brand 9's tasks on node `client` are completed.
pub async fn wait_completed(client: &Client, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let done = client
            .list_tasks(&[("status", "completed"), ("page_size", "1")])
            .await
            .map(|p| p.count as usize)
            .unwrap_or(0);
        if done >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{done} of {n} completed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
