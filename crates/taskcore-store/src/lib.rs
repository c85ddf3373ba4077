//! Storage of Task Core: task records, idempotency keys and the state machine's meta in sled,
//! written in one atomic batch per batch of applied commands and flushed in the background; the
//! Raft log in files of its own (`wal`), where each append is one write and one real sync,
//! the one an acknowledgement rests on. After a crash the state machine replays what it lost
//! from the log; entries are purged only once sled is durable ([`DiskSync`]).
//!
//! It implements openraft's `RaftLogStorage` ([`LogStore`]) and `RaftStateMachine`
//! ([`RaftStore`]) for any type configuration whose entries carry core `Proposal`s.
//!
//! This is the only crate that knows sled; [`codec`] is the only module that knows bincode (the
//! cluster's peer messages use it too). It depends on `taskcore-core` and nothing else of ours,
//! and knows nothing of HTTP.

mod backup;
pub mod codec;
mod disk_sync;
mod execution_stats;
mod identity;
mod keys;
mod log_store;
mod log_upgrade;
mod raft_state_machine;
mod recent;
mod records;
mod sled_lock;
mod snapshot;
mod state_machine;
mod storage;
mod synced_image;
mod wal;
mod write_behind;

pub use backup::{restore, Restored};
pub use codec::CodecError;
pub use disk_sync::DiskSync;
pub use execution_stats::{DurationHistogram, ExecutionStats, DURATION_BUCKETS};
pub use identity::{ClusterId, IdentityStore};
pub use log_store::LogStore;
pub use raft_state_machine::RaftStore;
pub use state_machine::{LeaseChanges, StateEvent, StateMachine, StateView};
pub use storage::Storage;
pub use synced_image::restore_synced_image;

#[cfg(test)]
openraft::declare_raft_types!(
    /// **Tests only**: a type configuration like the cluster's.
    pub(crate) TestConfig:
        D = taskcore_core::Batch,
        R = Vec<taskcore_core::Outcome>,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TestConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
);

/// Every key and value of the state-machine tree: the content of a snapshot.
pub(crate) type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (IO, corruption detected by sled).
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value does not decode.
    #[error("a stored record does not decode (key {key}): {source}")]
    Corrupt {
        /// The key, printed for the operator.
        key: String,
        /// The decoding error.
        source: CodecError,
    },
    /// A value did not encode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A file or directory could not be synced.
    #[error("sync: {0}")]
    Sync(#[from] std::io::Error),
    /// Applying failed earlier; the node refuses further writes until restarted.
    #[error("the state machine stopped after a storage fault: {0}")]
    Stopped(String),
    /// Not a backup this version can restore.
    #[error("{0}")]
    BadBackup(String),
    /// A restore into a directory that already holds a node's data.
    #[error("{0} already holds a node's data: restore into a new directory")]
    NotEmpty(String),
    /// A stored value this version does not understand.
    #[error("{0}")]
    Invalid(String),
}

impl From<StoreError> for taskcore_core::StorageFault {
    fn from(e: StoreError) -> Self {
        taskcore_core::StorageFault(e.to_string())
    }
}
