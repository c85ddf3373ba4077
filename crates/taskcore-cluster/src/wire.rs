//! The peer protocol on `raft_addr`: length-prefixed bincode frames over TCP.
//!
//! A connection opens with the handshake of [`crate::handshake`], in which both ends prove they
//! know the cluster secret without sending it. Then each request frame gets one response frame.
//! A frame that is too large or does not decode closes the connection: nothing a peer sends can
//! panic the node or make it allocate more than the frame's cap (every decode is bounded by
//! `taskcore_store::codec`).

use std::collections::BTreeMap;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};
use taskcore_core::{Command, Outcome};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{NodeAddr, NodeId, TypeConfig};

/// Largest frame accepted from a peer that has completed the handshake (a snapshot chunk or a
/// batch of entries is far smaller: see `Batcher`'s byte bound).
pub const MAX_FRAME: u32 = 256 * 1024 * 1024;

/// Frames up to this size are written with their length in one write.
const SMALL_FRAME: usize = 64 * 1024;

/// What a peer asks once the handshake is done. Sent between nodes: append-only within a
/// [`crate::handshake::PROTOCOL`] version.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerRequest {
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
    /// Would the receiver vote now for a candidate with this last log id? (See `prevote`: no
    /// term changes.)
    PreVote(Option<openraft::LogId<NodeId>>),
    /// The leader hands over (see `handover`): stand for election now.
    TimeoutNow {
        /// The leader asking.
        leader: NodeId,
        /// Its term.
        term: u64,
    },
    /// Several of a follower's client writes, in the order they came (see `forwarding`).
    ForwardMany(Vec<Command>),
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
    /// The command is too large to replicate (bytes, the most allowed).
    #[error("the write is {0} bytes encoded; at most {1} can be replicated")]
    TooLarge(usize, usize),
}

/// What a peer answers. Sent between nodes: append-only within a
/// [`crate::handshake::PROTOCOL`] version.
// Answers are built, written and dropped one at a time; boxing the large ones would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
pub enum PeerResponse {
    /// The request could not be served at all; why, in words.
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
    /// To `PreVote`.
    PreVote(bool),
    /// To `TimeoutNow`: whether the receiver stood for election.
    TimeoutNow(bool),
    /// To `ForwardMany`: each write's answer, in the request's order.
    ForwardMany(Vec<Result<Outcome, ForwardError>>),
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
    /// The handshake failed: a wrong secret on either side, or another protocol version.
    #[error("refused: {0}")]
    Refused(String),
}

/// Writes one frame.
///
/// # Errors
/// A value that does not encode or is larger than [`MAX_FRAME`], or a broken socket.
pub async fn write_frame<S: AsyncWrite + Unpin, T: Serialize>(
    stream: &mut S,
    msg: &T,
) -> Result<(), WireError> {
    write_encoded(stream, &encode_frame(msg)?).await
}

/// Encodes a frame's body.
///
/// # Errors
/// [`WireError::Malformed`] for a value serde refuses.
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, WireError> {
    taskcore_store::codec::encode(msg).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Writes one frame whose body is already encoded.
///
/// # Errors
/// [`WireError::TooLarge`] past [`MAX_FRAME`] (before writing anything), or a broken socket.
pub async fn write_encoded<S: AsyncWrite + Unpin>(
    stream: &mut S,
    body: &[u8],
) -> Result<(), WireError> {
    let len = u32::try_from(body.len()).map_err(|_| WireError::TooLarge(u32::MAX))?;
    if len > MAX_FRAME {
        return Err(WireError::TooLarge(len));
    }
    // Small frames (votes, heartbeats, answers) leave in one write, so in one segment with
    // TCP_NODELAY; a large one is not copied for the sake of four bytes.
    if body.len() <= SMALL_FRAME {
        let mut frame = Vec::with_capacity(body.len() + 4);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(body);
        stream.write_all(&frame).await?;
    } else {
        stream.write_all(&len.to_be_bytes()).await?;
        stream.write_all(body).await?;
    }
    stream.flush().await?;
    Ok(())
}

/// Reads one frame of at most [`MAX_FRAME`] bytes.
///
/// # Errors
/// A frame over the cap, one that does not decode, or a broken socket.
pub async fn read_frame<S: AsyncRead + Unpin, T: serde::de::DeserializeOwned>(
    stream: &mut S,
) -> Result<T, WireError> {
    read_frame_capped(stream, MAX_FRAME).await
}

/// Reads one frame of at most `cap` bytes: a larger declared length is refused before anything
/// is allocated for it.
///
/// # Errors
/// A frame over `cap`, one that does not decode, or a broken socket.
pub async fn read_frame_capped<S: AsyncRead + Unpin, T: serde::de::DeserializeOwned>(
    stream: &mut S,
    cap: u32,
) -> Result<T, WireError> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len);
    if len > cap.min(MAX_FRAME) {
        return Err(WireError::TooLarge(len));
    }
    let mut body = vec![0u8; len as usize];
    stream.read_exact(&mut body).await?;
    decode_frame(&body)
}

/// Decodes a frame's body (bounded by the codec's budget for its length).
///
/// # Errors
/// [`WireError::Malformed`] for bytes that are not a `T`.
pub fn decode_frame<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    taskcore_store::codec::decode(body).map_err(|e| WireError::Malformed(e.to_string()))
}
