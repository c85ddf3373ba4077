//! Mutual TLS on the peer port: three nodes with certificates from one cluster CA replicate over
//! it; a peer without TLS, or with a certificate from another CA, is refused even though it knows
//! the cluster secret.

mod common;

use std::path::Path;

use common::cluster::{task, Cluster, FAST_RAFT};
use common::pki::pki;
use common::{Node, SECRET};
use taskcore_cluster::identity::Credentials;
use taskcore_wire::LearnerRequest;

/// A `[peer_tls]` section with a fresh CA and node certificate written under `dir`.
fn peer_tls_section(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let (ca, cert, key) = pki(dir);
    for (name, pem) in [
        ("peer-ca.pem", &ca),
        ("peer.pem", &cert),
        ("peer.key", &key),
    ] {
        std::fs::write(dir.join(name), pem).unwrap();
    }
    let at = |f: &str| dir.join(f).display().to_string();
    format!(
        "[peer_tls]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        at("peer-ca.pem"),
        at("peer.pem"),
        at("peer.key")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_speak_mutual_tls_and_refuse_peers_without_the_cluster_ca() {
    let pki_dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "{FAST_RAFT}{}",
        peer_tls_section(&pki_dir.path().join("cluster"))
    );
    let mut c = Cluster::start(3, &toml).await;
    let leader = c.leader().await;
    let created = c
        .client(leader)
        .create_task(&task("over TLS"), None)
        .await
        .unwrap();
    // Reads are linearizable on every node: each has it once it answers.
    for i in 0..3 {
        let got = c.client(i).get_task(&created.id.to_string()).await.unwrap();
        assert_eq!(got.id, created.id, "node {i}");
    }
    // A follower forwards writes to the leader over the same TLS connections.
    let follower = (leader + 1) % 3;
    c.client(follower)
        .create_task(&task("through a follower"), None)
        .await
        .unwrap();

    // A peer that knows the secret but speaks no TLS learns nothing and is sent nothing.
    let status = c.admin_client(leader).cluster_status().await.unwrap();
    let raft_addr = status.membership.nodes[&(leader + 1).to_string()]
        .raft_addr
        .clone();
    let mut plain = tokio::net::TcpStream::connect(&raft_addr).await.unwrap();
    let refused = taskcore_cluster::handshake::dial(&mut plain, &Credentials::new(SECRET)).await;
    assert!(refused.is_err(), "a plain TCP peer was welcomed");

    // A node with the secret and a certificate of another CA cannot join.
    let stranger_toml = format!(
        "{FAST_RAFT}{}",
        peer_tls_section(&pki_dir.path().join("stranger"))
    );
    let mut launch = c.launch(4);
    let config = c.dir.path().join("stranger.toml");
    std::fs::write(&config, stranger_toml).unwrap();
    launch.config = Some(config);
    let stranger = Node::spawn(launch);
    let refused = c
        .admin_client(leader)
        .add_learner(&LearnerRequest {
            node_id: 4,
            http_addr: stranger.launch.http_addr.clone(),
            raft_addr: stranger.launch.raft_addr.clone(),
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("TLS"), "{refused}");
    let after = c.admin_client(leader).cluster_status().await.unwrap();
    assert!(after.membership.learners.is_empty(), "nothing was added");
    // The cluster still writes.
    c.client(leader)
        .create_task(&task("after the stranger"), None)
        .await
        .unwrap();
    c.nodes.push(stranger);
}
