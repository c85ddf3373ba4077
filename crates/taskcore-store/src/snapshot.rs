//! Snapshots. The state machine's tree in sled *is* the snapshot: it holds every key as of one
//! applied log id, with that log id and the membership among its keys, and the log is purged
//! only once it is durable (see `LogStore::purge`). So building a snapshot copies nothing: it
//! records that one exists, as of the log id applied then, and the log below it may go. Its
//! bytes are made only when a follower needs them (`get_current_snapshot`): every key, read
//! consistently at that moment, which is as of the same or a later applied log id; the meta
//! sent with them is read from among those keys, so bytes and meta always agree. A snapshot
//! newer than the one openraft last built is what a fresh build would have given; openraft
//! accepts a follower's acknowledgement of one (`progress/inflight`).
//!
//! Before this, every build copied the whole state into memory twice and stored it in sled as
//! one value, each `snapshot_after_logs` entries: work and memory in proportion to every task
//! ever kept, however little had changed.

use std::io::Cursor;

use openraft::storage::Snapshot;
use openraft::{
    Entry, LogId, RaftSnapshotBuilder, RaftTypeConfig, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use taskcore_core::{Batch, Outcome};

use crate::raft_state_machine::{any, any_join, decode_applied, RaftStore, APPLIED, MEMBERSHIP};
use crate::{codec, StoreError};

/// Key of the last snapshot's meta.
const META: &[u8] = b"meta";
/// Key of a snapshot as stored before snapshots were the tree itself: meta and every key's
/// bytes in one value. Read for its meta, removed at the next build or install.
const LEGACY: &[u8] = b"current";

/// A snapshot as stored before snapshots were the tree itself.
#[derive(Serialize, Deserialize)]
#[serde(bound = "N: openraft::Node")]
struct LegacySnapshot<N: openraft::Node> {
    meta: SnapshotMeta<u64, N>,
    data: Vec<u8>,
}

/// The id of the snapshot as of `last`: snapshots as of one log id hold the same keys.
fn snapshot_id(last: Option<&LogId<u64>>) -> String {
    match last {
        Some(id) => format!("{}-{}", id.leader_id, id.index),
        None => "empty".to_owned(),
    }
}

/// The snapshot meta of a state with this applied log id and membership.
fn meta_of<N: openraft::Node>(
    (last_log_id, last_membership): (Option<LogId<u64>>, StoredMembership<u64, N>),
) -> SnapshotMeta<u64, N> {
    SnapshotMeta {
        snapshot_id: snapshot_id(last_log_id.as_ref()),
        last_log_id,
        last_membership,
    }
}

/// Records that a snapshot as of `meta` exists (and drops a legacy one's bytes).
pub(crate) fn save_meta<N: openraft::Node>(
    tree: &sled::Tree,
    meta: &SnapshotMeta<u64, N>,
) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    batch.insert(META, codec::encode(meta)?);
    batch.remove(LEGACY);
    crate::sled_lock::apply_batch(tree, batch)?;
    crate::sled_lock::flush(tree)?;
    Ok(())
}

/// The meta of the last snapshot built or installed, if any.
pub(crate) fn load_meta<N: openraft::Node>(
    tree: &sled::Tree,
) -> Result<Option<SnapshotMeta<u64, N>>, StoreError> {
    if let Some(v) = tree.get(META)? {
        return Ok(Some(codec::decode(&v)?));
    }
    match tree.get(LEGACY)? {
        None => Ok(None),
        Some(v) => Ok(Some(codec::decode::<LegacySnapshot<N>>(&v)?.meta)),
    }
}

/// Every key of the state machine now, encoded, with the meta read from among them.
pub(crate) fn current<N: openraft::Node>(
    sm: &crate::StateMachine,
) -> Result<(SnapshotMeta<u64, N>, Vec<u8>), StoreError> {
    let kvs = sm.export()?;
    let value = |key: &[u8]| kvs.iter().find(|(k, _)| k == key).map(|(_, v)| &v[..]);
    let meta = meta_of(decode_applied(value(APPLIED), value(MEMBERSHIP))?);
    Ok((meta, codec::encode(&kvs)?))
}

pub(crate) fn decode_data(bytes: &[u8]) -> Result<crate::KeyValues, StoreError> {
    Ok(codec::decode(bytes)?)
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
    /// Records a snapshot as of the log id applied now. Its data is left empty: openraft keeps
    /// only the meta of a snapshot it built, and reads the bytes through
    /// `get_current_snapshot` when it sends them.
    async fn build_snapshot(&mut self) -> Result<Snapshot<C>, StorageError<u64>> {
        let fail = |e: StoreError| StorageIOError::read_state_machine(any(e));
        let meta = meta_of(self.applied().map_err(fail)?);
        let (tree, saved) = (self.snapshots.clone(), meta.clone());
        tokio::task::spawn_blocking(move || save_meta(&tree, &saved))
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), any_join(e)))?
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), any(e)))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(Vec::new())),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use openraft::storage::RaftStateMachine;
    use openraft::{
        BasicNode, CommittedLeaderId, EntryPayload, LogId, Membership, RaftSnapshotBuilder,
        SnapshotMeta,
    };
    use taskcore_core::{Batch, Command, Proposal, Timestamp};

    use super::{LegacySnapshot, LEGACY, META};
    use crate::raft_state_machine::APPLIED;
    use crate::{codec, RaftStore, Storage, TestConfig};

    fn log_id(index: u64) -> LogId<u64> {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    /// Entry `index`: the membership of nodes 1–3 first, then a proposal that changes state.
    fn entry(index: u64) -> openraft::Entry<TestConfig> {
        let payload = if index == 1 {
            let voters: BTreeSet<u64> = [1, 2, 3].into();
            EntryPayload::Membership(Membership::new(vec![voters], None))
        } else {
            EntryPayload::Normal(Batch(
                vec![Proposal {
                    at: Timestamp(1_700_000_000_000_000 + index as i64),
                    cmd: Command::Cancel {
                        id: index,
                        brand: 1,
                    },
                }]
                .into(),
            ))
        };
        openraft::Entry {
            log_id: log_id(index),
            payload,
        }
    }

    /// The applied log id recorded among a snapshot's keys.
    fn applied_in(data: &[u8]) -> Option<LogId<u64>> {
        let kvs = super::decode_data(data).unwrap();
        let (_, v) = kvs.iter().find(|(k, _)| k == APPLIED).unwrap();
        codec::decode(v).unwrap()
    }

    #[tokio::test]
    async fn a_build_copies_nothing_and_the_snapshot_sent_is_the_state_as_it_is_then() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let mut sm: RaftStore<TestConfig> = storage.raft_state_machine().unwrap();
        assert!(
            sm.get_current_snapshot().await.unwrap().is_none(),
            "none built yet"
        );
        sm.apply((1..=3).map(entry)).await.unwrap();

        let built = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(built.meta.last_log_id, Some(log_id(3)));
        assert_eq!(built.meta.last_membership.log_id(), &Some(log_id(1)));
        assert!(
            built.snapshot.get_ref().is_empty(),
            "a build copies no state"
        );

        let sent = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(
            sent.meta, built.meta,
            "nothing applied since: the built snapshot"
        );
        assert_eq!(applied_in(sent.snapshot.get_ref()), Some(log_id(3)));

        // Later entries are in the next snapshot sent, and its meta says so.
        sm.apply([entry(4)]).await.unwrap();
        let later = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(later.meta.last_log_id, Some(log_id(4)));
        assert_eq!(later.meta.last_membership, built.meta.last_membership);
        assert_eq!(applied_in(later.snapshot.get_ref()), Some(log_id(4)));

        // Installed elsewhere, it is that node's state and its current snapshot.
        let dir2 = tempfile::tempdir().unwrap();
        let storage2 = Storage::open(dir2.path()).unwrap();
        let mut follower: RaftStore<TestConfig> = storage2.raft_state_machine().unwrap();
        follower
            .install_snapshot(&later.meta, later.snapshot)
            .await
            .unwrap();
        let (applied, membership) = follower.applied_state().await.unwrap();
        assert_eq!(applied, Some(log_id(4)));
        assert_eq!(membership, later.meta.last_membership);
        let current = follower.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, later.meta);
    }

    #[tokio::test]
    async fn a_snapshot_an_earlier_version_stored_whole_counts_and_goes_at_the_next_build() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let mut sm: RaftStore<TestConfig> = storage.raft_state_machine().unwrap();
        sm.apply((1..=2).map(entry)).await.unwrap();
        let legacy = LegacySnapshot::<BasicNode> {
            meta: SnapshotMeta {
                last_log_id: Some(log_id(2)),
                last_membership: Default::default(),
                snapshot_id: "1-1-2-999".to_owned(),
            },
            data: vec![7; 4096],
        };
        sm.snapshots
            .insert(LEGACY, codec::encode(&legacy).unwrap())
            .unwrap();

        let sent = sm.get_current_snapshot().await.unwrap();
        assert!(sent.is_some(), "the stored snapshot still counts as one");
        assert_eq!(
            super::load_meta::<BasicNode>(&sm.snapshots)
                .unwrap()
                .unwrap()
                .snapshot_id,
            "1-1-2-999"
        );

        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert!(
            sm.snapshots.get(LEGACY).unwrap().is_none(),
            "its bytes are dropped"
        );
        assert!(sm.snapshots.get(META).unwrap().is_some());
    }
}
