//! openraft's network over the peer protocol.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use crate::peer_client::{CallError, PeerClient};
use crate::wire::{encode_frame, PeerRequest, PeerResponse, WireError};
use crate::{NodeAddr, NodeId, TypeConfig};

/// Makes a connection per target for openraft.
#[derive(Clone)]
pub struct PeerNetwork {
    pub(crate) client: PeerClient,
}

/// openraft's connection to one target.
pub struct PeerConnection {
    client: PeerClient,
    target: NodeId,
    addr: NodeAddr,
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: NodeId, node: &NodeAddr) -> PeerConnection {
        PeerConnection {
            client: self.client.clone(),
            target,
            addr: node.clone(),
        }
    }
}

/// Most bytes one append sends (a few entries of `MAX_ENTRY_BYTES`).
pub const MAX_APPEND_BYTES: usize = 4 * crate::MAX_ENTRY_BYTES;

type RpcResult<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, NodeAddr, E>>;

impl PeerConnection {
    async fn send<E: std::error::Error>(
        &self,
        req: PeerRequest,
        ttl: Duration,
    ) -> RpcResult<PeerResponse, E> {
        let entries = match &req {
            PeerRequest::Append(rpc) => rpc.entries.len(),
            _ => 0,
        };
        let body = encode_frame(&req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        // An append must be sent and persisted within openraft's timeout (the heartbeat
        // interval) or it is retried as it is, for ever: past the budget, openraft is told to
        // send fewer entries (one entry always fits: `MAX_ENTRY_BYTES`).
        if entries > 1 && body.len() > MAX_APPEND_BYTES {
            let fit = entries * MAX_APPEND_BYTES / body.len();
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(fit.clamp(1, entries - 1) as u64),
            ));
        }
        match self
            .client
            .call_encoded(&self.addr.raft_addr, &body, ttl)
            .await
        {
            Err(CallError::TooLarge(_)) => Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint((entries as u64 / 2).max(1)),
            )),
            Ok(PeerResponse::Refused(why)) => Err(RPCError::Unreachable(Unreachable::new(
                &WireError::Refused(why),
            ))),
            Ok(answer) => Ok(answer),
            Err(CallError::Unreachable(e)) => {
                self.client.forget(&self.addr.raft_addr);
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }

    fn unexpected<E: std::error::Error>(answer: PeerResponse) -> RPCError<NodeId, NodeAddr, E> {
        let e = WireError::Malformed(format!("unexpected answer {answer:?}"));
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        match self
            .send(PeerRequest::Append(rpc), option.hard_ttl())
            .await?
        {
            PeerResponse::Append(Ok(r)) => Ok(r),
            PeerResponse::Append(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(Self::unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        match self
            .send(PeerRequest::InstallSnapshot(rpc), option.hard_ttl())
            .await?
        {
            PeerResponse::InstallSnapshot(Ok(r)) => Ok(r),
            PeerResponse::InstallSnapshot(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(Self::unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.send(PeerRequest::Vote(rpc), option.hard_ttl()).await? {
            PeerResponse::Vote(Ok(r)) => Ok(r),
            PeerResponse::Vote(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(Self::unexpected(other)),
        }
    }
}
