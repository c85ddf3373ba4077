//! The peer protocol on `raft_addr`: length-prefixed bincode frames over TCP.
//!
//! A connection opens with a `Hello` carrying the cluster secret; a peer with another secret is
//! refused and the connection closed. Then each request frame gets one response frame. A frame
//! that is too large or does not decode closes the connection: nothing a peer sends can panic
//! the node.

use std::collections::BTreeMap;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use taskcore_core::{Command, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{NodeAddr, NodeId, TypeConfig};

/// Largest frame accepted (a snapshot chunk or a batch of entries is far smaller).
pub const MAX_FRAME: u32 = 256 * 1024 * 1024;

/// What a peer asks.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
    /// Opens a connection.
    Hello {
        /// The shared cluster secret.
        secret: String,
    },
    /// Raft: replicate entries.
    Append(AppendEntriesRequest<TypeConfig>),
    /// Raft: request a vote.
    Vote(VoteRequest<NodeId>),
    /// Raft: a chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A follower's client write, for the leader to stamp and propose.
    Forward(Command),
    /// A follower's read barrier: the log index a read must wait for.
    ReadIndex,
    /// A membership change, for the leader to run.
    Admin(AdminRequest),
}

/// A membership change.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Add a learner and wait until it caught up.
    AddLearner {
        /// Its id.
        id: NodeId,
        /// Its addresses.
        addr: NodeAddr,
    },
    /// Make these nodes the voters.
    ChangeVoters {
        /// The new voter set.
        voters: Vec<NodeId>,
    },
    /// Remove a node from the membership altogether.
    RemoveNode {
        /// Its id.
        id: NodeId,
    },
}

/// Why a forwarded request was not served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ForwardError {
    /// The receiver is not the leader (and knows this one, if any).
    #[error("not the leader")]
    NotLeader(Option<NodeId>),
    /// The leader could not serve it.
    #[error("{0}")]
    Failed(String),
}

/// What a peer answers.
// Answers are built, written and dropped one at a time; boxing the large ones would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    /// The secret matched.
    Welcome,
    /// The secret did not match, or the request was malformed.
    Refused(String),
    /// To `Append`.
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// To `Vote`.
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// To `InstallSnapshot`.
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// To `Forward`.
    Forward(Result<Outcome, ForwardError>),
    /// To `ReadIndex`.
    ReadIndex(Result<Option<u64>, ForwardError>),
    /// To `Admin`.
    Admin(Result<BTreeMap<NodeId, NodeAddr>, ForwardError>),
}

/// A transport failure.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed or closed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// A frame over [`MAX_FRAME`].
    #[error("frame of {0} bytes is too large")]
    TooLarge(u32),
    /// A frame that does not decode.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The peer refused the connection (wrong secret).
    #[error("refused by peer: {0}")]
    Refused(String),
}

/// Writes one frame.
pub async fn write_frame<T: Serialize>(stream: &mut TcpStream, msg: &T) -> Result<(), WireError> {
    let body =
        taskcore_store::codec::encode(msg).map_err(|e| WireError::Malformed(e.to_string()))?;
    let len = u32::try_from(body.len()).map_err(|_| WireError::TooLarge(u32::MAX))?;
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(&body).await?;
    stream.flush().await?;
    Ok(())
}

/// Reads one frame.
pub async fn read_frame<T: serde::de::DeserializeOwned>(
    stream: &mut TcpStream,
) -> Result<T, WireError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len);
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body).await?;
    taskcore_store::codec::decode(&body).map_err(|e| WireError::Malformed(e.to_string()))
}
