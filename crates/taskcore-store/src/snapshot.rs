//! Snapshots: every key and value of the state machine, with the log id and membership they
//! include, built from and installed into sled.

use std::io::Cursor;

use openraft::storage::Snapshot;
use openraft::{
    Entry, RaftSnapshotBuilder, RaftTypeConfig, SnapshotMeta, StorageError, StorageIOError,
};
use serde::{Deserialize, Serialize};
use taskcore_core::{Batch, Outcome};

use crate::raft_state_machine::{any, RaftStore};
use crate::{codec, StoreError};

const CURRENT: &[u8] = b"current";

/// The snapshot kept on disk: what `get_current_snapshot` serves.
#[derive(Serialize, Deserialize)]
#[serde(bound = "N: openraft::Node")]
pub(crate) struct StoredSnapshot<N: openraft::Node> {
    pub(crate) meta: SnapshotMeta<u64, N>,
    pub(crate) data: Vec<u8>,
}

pub(crate) fn decode_data(bytes: &[u8]) -> Result<crate::KeyValues, StoreError> {
    Ok(codec::decode(bytes)?)
}

pub(crate) fn save<N: openraft::Node>(
    tree: &sled::Tree,
    s: &StoredSnapshot<N>,
) -> Result<(), StoreError> {
    tree.insert(CURRENT, codec::encode(s)?)?;
    crate::sled_lock::flush(tree)?;
    Ok(())
}

pub(crate) fn load<N: openraft::Node>(
    tree: &sled::Tree,
) -> Result<Option<StoredSnapshot<N>>, StoreError> {
    match tree.get(CURRENT)? {
        None => Ok(None),
        Some(v) => Ok(Some(codec::decode(&v)?)),
    }
}

impl<C> RaftSnapshotBuilder<C> for RaftStore<C>
where
    C: RaftTypeConfig<
        NodeId = u64,
        D = Batch,
        R = Vec<Outcome>,
        Entry = Entry<C>,
        SnapshotData = Cursor<Vec<u8>>,
    >,
{
    async fn build_snapshot(&mut self) -> Result<Snapshot<C>, StorageError<u64>> {
        let fail = |e: StoreError| StorageIOError::read_state_machine(any(e));
        let sm = self.sm.clone();
        // A consistent copy of every key, the applied log id and membership among them.
        let kvs = tokio::task::spawn_blocking(move || sm.export())
            .await
            .map_err(|e| StorageIOError::read_state_machine(openraft::AnyError::error(e)))?
            .map_err(fail)?;
        let decode_meta = |key: &[u8]| kvs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let last_log_id: Option<openraft::LogId<u64>> =
            match decode_meta(crate::raft_state_machine::APPLIED) {
                Some(v) => codec::decode(&v).map_err(|e| fail(e.into()))?,
                None => None,
            };
        let last_membership = match decode_meta(crate::raft_state_machine::MEMBERSHIP) {
            Some(v) => codec::decode(&v).map_err(|e| fail(e.into()))?,
            None => Default::default(),
        };
        let data = codec::encode(&kvs).map_err(|e| fail(e.into()))?;
        let snapshot_id = match last_log_id {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, data.len()),
            None => format!("empty-{}", data.len()),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        save(&self.snapshots, &stored)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), any(e)))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}
