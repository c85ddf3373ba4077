//! Backups: every task, periodic task, idempotency key and the id counter of a node's state
//! machine, read consistently, in one file; and a new data directory seeded from one.
//!
//! A backup leaves out what belongs to the cluster it was taken from (the applied log id and
//! the membership): a restored data directory starts a new cluster (`taskcore serve --init`, or
//! `cluster init`) whose log begins afresh over the restored state.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::raft_state_machine::{APPLIED, MEMBERSHIP};
use crate::{codec, StateMachine, Storage, StoreError};

/// The first bytes of a backup file.
const MAGIC: &[u8] = b"TASKCORE-BACKUP\n";
/// The format of what follows the magic.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct BackupFile {
    version: u32,
    kvs: crate::KeyValues,
}

/// What a restore wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Keys written into the state machine.
    pub keys: usize,
    /// The new cluster's id (the restored node's cluster is a new one).
    pub cluster: crate::ClusterId,
}

impl StateMachine {
    /// A backup of this state machine (a consistent read of every key), ready to write to a
    /// file.
    ///
    /// # Errors
    /// A storage failure.
    pub fn backup(&self) -> Result<Vec<u8>, StoreError> {
        let kvs = self
            .export()?
            .into_iter()
            .filter(|(k, _)| k != APPLIED && k != MEMBERSHIP)
            .collect();
        let body = codec::encode(&BackupFile {
            version: VERSION,
            kvs,
        })?;
        Ok([MAGIC, &body].concat())
    }
}

/// Seeds the empty data directory `dir` (a node's `store` directory) with the backup `bytes`,
/// synced to disk before it answers.
///
/// # Errors
/// Not a backup (or a corrupt or newer one), a directory that already holds a node's data, or
/// a storage failure.
pub fn restore(dir: &Path, bytes: &[u8]) -> Result<Restored, StoreError> {
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| StoreError::BadBackup("not a Task Core backup file".into()))?;
    let file: BackupFile = codec::decode(body)
        .map_err(|e| StoreError::BadBackup(format!("a corrupt backup file: {e}")))?;
    if file.version != VERSION {
        return Err(StoreError::BadBackup(format!(
            "backup format {} is not {VERSION}: restore it with the version that made it",
            file.version
        )));
    }
    let storage = Storage::open(dir)?;
    if !storage.is_empty()? || !storage.state_machine().is_empty()? {
        return Err(StoreError::NotEmpty(dir.display().to_string()));
    }
    let keys = file.kvs.len();
    storage.state_machine().import(file.kvs)?;
    // A new cluster: nodes of the one the backup was taken from are refused as peers.
    let cluster: crate::ClusterId = rand::random();
    storage.identity()?.set(cluster)?;
    storage.flush()?;
    Ok(Restored { keys, cluster })
}
