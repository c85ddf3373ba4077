//! openraft's own storage test suite, run on the sled store.

use std::io::Cursor;

use openraft::testing::{StoreBuilder, Suite};
use openraft::{BasicNode, StorageError};
use taskcore_core::{Batch, Outcome};
use taskcore_store::{LogStore, RaftStore, Storage};

openraft::declare_raft_types!(
    /// A type configuration like the cluster's, with openraft's basic node.
    pub TestConfig:
        D = Batch,
        R = Vec<Outcome>,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<TestConfig>,
        SnapshotData = Cursor<Vec<u8>>,
);

struct Builder;

impl StoreBuilder<TestConfig, LogStore<TestConfig>, RaftStore<TestConfig>, tempfile::TempDir>
    for Builder
{
    async fn build(
        &self,
    ) -> Result<
        (
            tempfile::TempDir,
            LogStore<TestConfig>,
            RaftStore<TestConfig>,
        ),
        StorageError<u64>,
    > {
        let dir = tempfile::tempdir()
            .map_err(|e| openraft::StorageIOError::write(openraft::AnyError::new(&e)))?;
        let storage = Storage::open(dir.path())
            .map_err(|e| openraft::StorageIOError::write(openraft::AnyError::new(&e)))?;
        let log = storage
            .log_store()
            .map_err(|e| openraft::StorageIOError::write(openraft::AnyError::new(&e)))?;
        let sm = storage
            .raft_state_machine()
            .map_err(|e| openraft::StorageIOError::write(openraft::AnyError::new(&e)))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).expect("the sled store passes openraft's storage suite");
}

#[tokio::test]
async fn every_vote_rests_on_a_real_sync() {
    use openraft::storage::RaftLogStorage;

    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path()).unwrap();
    let mut log: LogStore<TestConfig> = storage.log_store().unwrap();
    let before = storage.syncs();
    log.save_vote(&openraft::Vote::new(3, 1)).await.unwrap();
    assert_eq!(
        storage.syncs(),
        before + 1,
        "the vote is synced before it counts"
    );
    log.save_vote(&openraft::Vote::new(4, 2)).await.unwrap();
    assert_eq!(storage.syncs(), before + 2);
    drop(log);
    drop(storage);
    let storage = Storage::open(dir.path()).unwrap();
    let mut log: LogStore<TestConfig> = storage.log_store().unwrap();
    assert_eq!(
        log.read_vote().await.unwrap(),
        Some(openraft::Vote::new(4, 2))
    );
}
