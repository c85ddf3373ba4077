//! Serves peers on `raft_addr`: Raft RPCs, forwarded writes, read indexes, membership changes.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::wire::{read_frame, write_frame, PeerRequest, PeerResponse, WireError};
use crate::ClusterHandle;

/// How long a new connection may take to present the secret.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts peers until the task is aborted; the connections it serves end with it (they live
/// in its `JoinSet`), so that a stopped node answers no one.
pub(crate) async fn serve(listener: TcpListener, node: ClusterHandle) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let node = node.clone();
                    connections.spawn(async move {
                        if let Err(e) = connection(stream, node).await {
                            tracing::debug!(%peer, error = %e, "peer connection closed");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a peer failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn connection(mut stream: TcpStream, node: ClusterHandle) -> Result<(), WireError> {
    stream.set_nodelay(true)?;
    let hello = tokio::time::timeout(HELLO_TIMEOUT, read_frame::<PeerRequest>(&mut stream))
        .await
        .map_err(|_| WireError::Malformed("no greeting in time".into()))??;
    match hello {
        PeerRequest::Hello { secret } if same_secret(&secret, &node.inner.secret) => {
            write_frame(&mut stream, &PeerResponse::Welcome).await?;
        }
        _ => {
            tracing::warn!(peer = ?stream.peer_addr().ok(), "refused a peer with a wrong cluster secret");
            write_frame(
                &mut stream,
                &PeerResponse::Refused("wrong cluster secret".into()),
            )
            .await?;
            return Ok(());
        }
    }
    loop {
        let request: PeerRequest = read_frame(&mut stream).await?;
        let response = answer(&node, request).await;
        write_frame(&mut stream, &response).await?;
    }
}

async fn answer(node: &ClusterHandle, request: PeerRequest) -> PeerResponse {
    let raft = &node.inner.raft;
    match request {
        PeerRequest::Hello { .. } => PeerResponse::Welcome,
        PeerRequest::Append(rpc) => PeerResponse::Append(raft.append_entries(rpc).await),
        PeerRequest::Vote(rpc) => PeerResponse::Vote(raft.vote(rpc).await),
        PeerRequest::InstallSnapshot(rpc) => {
            PeerResponse::InstallSnapshot(raft.install_snapshot(rpc).await)
        }
        PeerRequest::Forward(cmd) => PeerResponse::Forward(node.propose_here(cmd).await),
        PeerRequest::ReadIndex => PeerResponse::ReadIndex(node.read_index().await),
        PeerRequest::Admin(req) => PeerResponse::Admin(node.admin_here(req).await),
    }
}
