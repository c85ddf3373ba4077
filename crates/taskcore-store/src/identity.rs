//! Which cluster a node belongs to: a random 16-byte id drawn when a cluster is initialised or
//! restored, adopted by a node that joins, and compared in every peer handshake so that nodes of
//! two clusters (an old one and the one restored from its backup, say) never talk.
//!
//! The id is this node's own record, outside the Raft log and the state machine: it is not
//! replicated, and a backup does not carry it.

use std::sync::Arc;

use crate::{DiskSync, StoreError};

/// A cluster's identity.
pub type ClusterId = [u8; 16];

const TREE: &str = "node_identity";
const KEY: &[u8] = b"cluster_id";

/// The stored cluster id of this node (none until it initialises, restores or joins a cluster).
#[derive(Clone)]
pub struct IdentityStore {
    tree: crate::sled_lock::Closing<sled::Tree>,
    sync: Arc<DiskSync>,
}

impl IdentityStore {
    pub(crate) fn open_in(db: &sled::Db, sync: Arc<DiskSync>) -> Result<Self, StoreError> {
        Ok(IdentityStore {
            tree: crate::sled_lock::Closing::new(db.open_tree(TREE)?),
            sync,
        })
    }

    /// The stored id, if any.
    ///
    /// # Errors
    /// sled cannot read, or the stored value is not 16 bytes.
    pub fn get(&self) -> Result<Option<ClusterId>, StoreError> {
        match self.tree.get(KEY)? {
            None => Ok(None),
            Some(v) => ClusterId::try_from(v.as_ref())
                .map(Some)
                .map_err(|_| StoreError::Invalid(format!("a cluster id of {} bytes", v.len()))),
        }
    }

    /// Stores `id`, synced to disk before it returns.
    ///
    /// # Errors
    /// sled cannot write, or the sync fails.
    pub fn set(&self, id: ClusterId) -> Result<(), StoreError> {
        self.tree.insert(KEY, &id[..])?;
        crate::sled_lock::flush(&self.tree)?;
        self.sync.sync()?;
        Ok(())
    }
}
