//! Serves peers on `raft_addr`: Raft RPCs, forwarded writes, read indexes, membership changes.

use std::sync::Arc;
use std::time::Duration;

use openraft::raft::AppendEntriesResponse;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::peer_tls::PeerStream;
use crate::wire::{read_frame, write_frame, PeerRequest, PeerResponse, WireError};
use crate::ClusterHandle;

/// How long a new connection may take to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections that have not completed the handshake yet, at most; more are closed at once.
pub const MAX_UNAUTHENTICATED: usize = 64;

/// Accepts peers until the task is aborted; the connections it serves end with it (they live
/// in its `JoinSet`), so that a stopped node answers no one.
///
/// Before the handshake a connection costs a slot of [`MAX_UNAUTHENTICATED`] and at most
/// [`HANDSHAKE_TIMEOUT`]: someone who opens connections and sends nothing cannot hold more.
pub(crate) async fn serve(listener: TcpListener, node: ClusterHandle) {
    let mut connections = tokio::task::JoinSet::new();
    let unauthenticated = Arc::new(Semaphore::new(MAX_UNAUTHENTICATED));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = unauthenticated.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "too many peer connections in their handshake; closed one");
                        drop(stream);
                        continue;
                    };
                    let node = node.clone();
                    connections.spawn(async move {
                        if let Err(e) = connection(stream, node, slot).await {
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

async fn connection(
    tcp: TcpStream,
    node: ClusterHandle,
    slot: tokio::sync::OwnedSemaphorePermit,
) -> Result<(), WireError> {
    tcp.set_nodelay(true)?;
    let peer = tcp.peer_addr().ok();
    let me = &node.inner.credentials;
    // TLS (when configured) and the HMAC handshake share the one deadline.
    let opening = async {
        let mut stream = match &me.tls {
            None => PeerStream::Plain(tcp),
            Some(tls) => tls
                .accept(tcp)
                .await
                .map_err(|e| WireError::Refused(format!("TLS: {e}")))?,
        };
        crate::handshake::listen(&mut stream, me).await?;
        Ok::<_, WireError>(stream)
    };
    let mut stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, opening).await {
        Ok(Ok(stream)) => {
            drop(slot);
            stream
        }
        Ok(Err(WireError::Refused(why))) => {
            tracing::warn!(?peer, %why, "refused a peer");
            return Ok(());
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(WireError::Malformed("no handshake in time".into())),
    };
    // Whether the leader's appends arrive here: when such a connection closes, the leader's
    // process has probably died (see `LeaderContact::lost`).
    let mut carries_appends = false;
    let served = async {
        loop {
            let request: PeerRequest = read_frame(&mut stream).await?;
            let response = answer(&node, request).await;
            carries_appends |= matches!(
                &response,
                PeerResponse::Append(Ok(r)) if !matches!(r, AppendEntriesResponse::HigherVote(_))
            );
            write_frame(&mut stream, &response).await?;
        }
    };
    let ended: Result<(), WireError> = served.await;
    if carries_appends {
        node.inner.leader_contact.lost();
    }
    ended
}

async fn answer(node: &ClusterHandle, request: PeerRequest) -> PeerResponse {
    let raft = &node.inner.raft;
    match request {
        PeerRequest::Append(rpc) => {
            let answer = raft.append_entries(rpc).await;
            // Accepted as leader (whatever the log's fit): it was heard.
            if matches!(&answer, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_))) {
                node.inner.leader_contact.heard();
            }
            PeerResponse::Append(answer)
        }
        PeerRequest::Vote(rpc) => {
            // Noted before Raft sees the request: this node's pre-vote task does not stand
            // while a vote it may grant is under way (see `prevote::run`).
            let _considering = node.inner.leader_contact.considering_vote();
            let answer = raft.vote(rpc).await;
            // Granting a vote restarts the wait for a leader, as in Raft's election timer.
            if matches!(&answer, Ok(r) if r.vote_granted) {
                node.inner.leader_contact.heard();
            }
            PeerResponse::Vote(answer)
        }
        PeerRequest::InstallSnapshot(rpc) => {
            let leader = rpc.vote;
            let answer = raft.install_snapshot(rpc).await;
            // Accepted unless the answer names a higher vote than the sender's.
            if matches!(&answer, Ok(r) if r.vote == leader) {
                node.inner.leader_contact.heard();
            }
            PeerResponse::InstallSnapshot(answer)
        }
        PeerRequest::Forward(cmd) => PeerResponse::Forward(node.propose_here(cmd).await),
        PeerRequest::ForwardMany(cmds) => {
            PeerResponse::ForwardMany(node.propose_many_here(cmds).await)
        }
        PeerRequest::ReadIndex => PeerResponse::ReadIndex(node.read_index().await),
        PeerRequest::Admin(req) => PeerResponse::Admin(node.admin_here(req).await),
        PeerRequest::PreVote(last) => PeerResponse::PreVote(node.would_vote(last).await),
        PeerRequest::TimeoutNow { leader, term } => {
            PeerResponse::TimeoutNow(node.timeout_now(leader, term).await)
        }
    }
}
