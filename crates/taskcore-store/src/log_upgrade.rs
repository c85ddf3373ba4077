//! Opening the Raft log's files, and moving a log that an earlier version kept in sled there.
//!
//! Earlier versions kept the Raft log in two sled trees (`raft_log`: each entry under its
//! big-endian index; `raft_meta`: the vote, last purged and committed log ids), encoded exactly
//! as the log's files hold them. Opening such a store copies them into a staging directory,
//! synced, renames it into place, and only then drops the trees: a crash at any point leaves
//! either the old trees (copied again next time) or the new log (the trees are dropped again).

use std::path::Path;
use std::sync::Arc;

use openraft::LogId;

use crate::log_store::{COMMITTED, LAST_PURGED, VOTE};
use crate::wal::record::Record;
use crate::wal::Wal;
use crate::{codec, keys, DiskSync, StoreError};

/// The log's directory inside the store.
pub(crate) const LOG_DIR: &str = "raft-log";
const STAGING_DIR: &str = "raft-log.upgrade";
const OLD_LOG: &[u8] = b"raft_log";
const OLD_META: &[u8] = b"raft_meta";
/// Entries copied per write while upgrading.
const CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Opens the Raft log of the store in `store_dir`, first moving an earlier version's log out of
/// sled if there is one.
///
/// # Errors
/// The log or the old trees cannot be read, or the new log cannot be written.
pub(crate) fn open_log(
    db: &sled::Db,
    store_dir: &Path,
    sync: Arc<DiskSync>,
) -> Result<Wal, StoreError> {
    let dir = store_dir.join(LOG_DIR);
    let old = db
        .tree_names()
        .iter()
        .any(|n| n.as_ref() == OLD_LOG || n.as_ref() == OLD_META);
    if old && !dir.exists() {
        let staging = store_dir.join(STAGING_DIR);
        if staging.exists() {
            std::fs::remove_dir_all(&staging)?;
        }
        copy_old_log(db, &Wal::open(&staging, sync.clone())?)?;
        std::fs::rename(&staging, &dir)?;
        std::fs::File::open(store_dir)?.sync_all()?;
        tracing::info!(dir = %dir.display(), "moved the Raft log out of sled into its own files");
    }
    if old {
        db.drop_tree(OLD_LOG)?;
        db.drop_tree(OLD_META)?;
        crate::sled_lock::flush(db)?;
        sync.sync()?;
    }
    Wal::open(&dir, sync)
}

/// Copies the old trees' meta values and entries into `wal`, synced.
fn copy_old_log(db: &sled::Db, wal: &Wal) -> Result<(), StoreError> {
    let meta = db.open_tree(OLD_META)?;
    let mut head: Vec<(u8, sled::IVec)> = Vec::new();
    for (name, key) in [
        (&b"vote"[..], VOTE),
        (b"committed", COMMITTED),
        (b"last_purged", LAST_PURGED),
    ] {
        if let Some(v) = meta.get(name)? {
            head.push((key, v));
        }
    }
    let mut records: Vec<Record<'_>> = head.iter().map(|(k, v)| Record::Meta(*k, v)).collect();
    if let Some((_, v)) = head.iter().find(|(k, _)| *k == LAST_PURGED) {
        let purged: LogId<u64> = codec::decode(v)?;
        records.push(Record::Purge(purged.index));
    }
    wal.write(&records)?;
    let write = |chunk: &[(u64, sled::IVec)]| {
        let records: Vec<Record<'_>> = chunk.iter().map(|(i, v)| Record::Entry(*i, v)).collect();
        wal.write(&records)
    };
    let mut chunk: Vec<(u64, sled::IVec)> = Vec::new();
    let mut bytes = 0;
    for item in db.open_tree(OLD_LOG)?.iter() {
        let (k, v) = item?;
        let index = keys::u64_value(&k).ok_or_else(|| {
            StoreError::Invalid(format!("an old Raft log key of {} bytes", k.len()))
        })?;
        bytes += v.len();
        chunk.push((index, v));
        if bytes >= CHUNK_BYTES {
            write(&chunk)?;
            chunk.clear();
            bytes = 0;
        }
    }
    if !chunk.is_empty() {
        write(&chunk)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, Vote};

    #[test]
    fn a_log_kept_in_sled_moves_into_its_own_files_once() {
        let dir = tempfile::tempdir().unwrap();
        let vote = codec::encode(&Vote::<u64>::new(3, 1)).unwrap();
        let purged = codec::encode(&LogId::new(CommittedLeaderId::new(1, 1), 4)).unwrap();
        {
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            let meta = db.open_tree(OLD_META).unwrap();
            meta.insert("vote", vote.clone()).unwrap();
            meta.insert("last_purged", purged.clone()).unwrap();
            let log = db.open_tree(OLD_LOG).unwrap();
            for i in 5..=9u64 {
                log.insert(i.to_be_bytes(), format!("entry {i}").as_bytes())
                    .unwrap();
            }
            db.flush().unwrap();
        }
        for _ in 0..2 {
            // The previous handle's lock goes with sled's flusher thread, a moment later.
            let db = crate::storage::open_db(dir.path()).unwrap();
            let sync = Arc::new(DiskSync::open(dir.path()).unwrap());
            let wal = open_log(&db, dir.path(), sync).unwrap();
            let entries: Vec<(u64, Vec<u8>)> = wal
                .entries(..)
                .unwrap()
                .into_iter()
                .map(|(i, b)| (i, b.to_vec()))
                .collect();
            let expected: Vec<(u64, Vec<u8>)> = (5..=9u64)
                .map(|i| (i, format!("entry {i}").into_bytes()))
                .collect();
            assert_eq!(entries, expected);
            assert_eq!(wal.meta(VOTE), Some(vote.clone()));
            assert_eq!(wal.meta(LAST_PURGED), Some(purged.clone()));
            assert_eq!(wal.meta(COMMITTED), None);
            assert!(
                !db.tree_names()
                    .iter()
                    .any(|n| n.as_ref() == OLD_LOG || n.as_ref() == OLD_META),
                "the old trees are gone"
            );
            assert!(!dir.path().join(STAGING_DIR).exists());
        }
    }

    #[test]
    fn an_upgrade_cut_short_starts_again_from_the_old_trees() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            let log = db.open_tree(OLD_LOG).unwrap();
            log.insert(1u64.to_be_bytes(), &b"one"[..]).unwrap();
            db.flush().unwrap();
        }
        // A staging directory left half written by a crash.
        let staging = dir.path().join(STAGING_DIR);
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("00000000000000000001.wal"), b"torn").unwrap();
        let db = crate::storage::open_db(dir.path()).unwrap();
        let sync = Arc::new(DiskSync::open(dir.path()).unwrap());
        let wal = open_log(&db, dir.path(), sync).unwrap();
        let entries = wal.entries(..).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].0, &entries[0].1[..]), (1, &b"one"[..]));
    }
}
