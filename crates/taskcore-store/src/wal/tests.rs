use std::sync::Arc;

use super::record::Record;
use super::*;

fn open(dir: &Path) -> Wal {
    let sync = Arc::new(DiskSync::open(dir).unwrap_or_else(|_| {
        // A bare directory: DiskSync wants sled's files; give it an empty database.
        sled::Config::new().path(dir).open().unwrap();
        DiskSync::open(dir).unwrap()
    }));
    Wal::open(&dir.join("log"), sync).unwrap()
}

fn entry(i: u64) -> Vec<u8> {
    format!("entry {i}").into_bytes()
}

fn append(wal: &Wal, range: std::ops::RangeInclusive<u64>) {
    let bytes: Vec<(u64, Vec<u8>)> = range.map(|i| (i, entry(i))).collect();
    let records: Vec<Record<'_>> = bytes.iter().map(|(i, b)| Record::Entry(*i, b)).collect();
    wal.write(&records).unwrap();
}

fn indexes(wal: &Wal) -> Vec<u64> {
    let entries = wal.entries(..).unwrap();
    for (i, bytes) in &entries {
        assert_eq!(&bytes[..], &entry(*i)[..], "entry {i} reads back");
    }
    entries.into_iter().map(|(i, _)| i).collect()
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn entries_meta_truncation_and_purge_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = open(dir.path());
        assert!(wal.is_empty());
        append(&wal, 1..=10);
        wal.write(&[Record::Meta(1, b"vote")]).unwrap();
        wal.write(&[Record::Truncate(8)]).unwrap();
        append(&wal, 8..=9);
        wal.write(&[Record::Purge(3)]).unwrap();
        wal.write_later(&[Record::Meta(3, b"committed")]).unwrap();
        assert_eq!(wal.meta(3).as_deref(), Some(&b"committed"[..]));
        wal.flush().unwrap();
        assert_eq!(indexes(&wal), (4..=9).collect::<Vec<_>>());
        let some: Vec<(u64, Vec<u8>)> = wal
            .entries(5..7)
            .unwrap()
            .into_iter()
            .map(|(i, b)| (i, b.to_vec()))
            .collect();
        assert_eq!(some, vec![(5, entry(5)), (6, entry(6))]);
        let last = wal.last_entry().unwrap().map(|(i, b)| (i, b.to_vec()));
        assert_eq!(last, Some((9, entry(9))));
    }
    let wal = open(dir.path());
    assert_eq!(indexes(&wal), (4..=9).collect::<Vec<_>>());
    assert_eq!(wal.meta(1).as_deref(), Some(&b"vote"[..]));
    assert_eq!(wal.meta(3).as_deref(), Some(&b"committed"[..]));
    assert!(!wal.is_empty());
}

#[test]
fn an_entry_written_again_replaces_it_and_everything_after_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = open(dir.path());
        append(&wal, 1..=5);
        append(&wal, 3..=3);
        assert_eq!(indexes(&wal), vec![1, 2, 3]);
    }
    assert_eq!(indexes(&open(dir.path())), vec![1, 2, 3]);
}

#[test]
fn a_torn_last_write_is_cut_off_and_the_log_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = open(dir.path());
        append(&wal, 1..=3);
    }
    let segment = dir.path().join("log").join(&segments(dir.path())[0]);
    let whole = std::fs::metadata(&segment).unwrap().len();
    // Half of a fourth record made it to the disk before the power went.
    let mut torn = Vec::new();
    record::encode(&Record::Entry(4, &entry(4)), &mut torn).unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    std::fs::write(&segment, &bytes).unwrap();
    {
        let wal = open(dir.path());
        assert_eq!(indexes(&wal), vec![1, 2, 3]);
        assert_eq!(std::fs::metadata(&segment).unwrap().len(), whole);
        append(&wal, 4..=5);
    }
    assert_eq!(indexes(&open(dir.path())), vec![1, 2, 3, 4, 5]);
}

#[test]
fn damage_before_the_last_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = open(dir.path());
        append(&wal, 1..=3);
        let mut w = lock(&wal.writer);
        wal.start_segment(&mut w).unwrap();
        drop(w);
        append(&wal, 4..=4);
    }
    let first = dir.path().join("log").join(&segments(dir.path())[0]);
    let mut bytes = std::fs::read(&first).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 1;
    std::fs::write(&first, &bytes).unwrap();
    let sync = Arc::new(DiskSync::open(dir.path()).unwrap());
    let e = Wal::open(&dir.path().join("log"), sync)
        .err()
        .expect("a damaged segment refuses to open");
    assert!(e.to_string().contains("damaged"), "{e}");
}

#[test]
fn an_unknown_record_refuses_to_open_even_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = open(dir.path());
        append(&wal, 1..=2);
    }
    let segment = dir.path().join("log").join(&segments(dir.path())[0]);
    let payload = [42u8, 0];
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    std::fs::write(&segment, &bytes).unwrap();
    let sync = Arc::new(DiskSync::open(dir.path()).unwrap());
    let e = Wal::open(&dir.path().join("log"), sync)
        .err()
        .expect("a newer version's record is not cut off");
    assert!(e.to_string().contains("kind 42"), "{e}");
}

#[test]
fn new_segments_carry_the_meta_and_purged_ones_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = open(dir.path());
        wal.write(&[Record::Meta(1, b"vote")]).unwrap();
        for round in 0..3u64 {
            append(&wal, round * 10 + 1..=round * 10 + 10);
            let mut w = lock(&wal.writer);
            wal.start_segment(&mut w).unwrap();
        }
        append(&wal, 31..=35);
        assert_eq!(segments(dir.path()).len(), 4);
        // Entries 1..=20 fill the first two segments: both go; the third holds 21..=30.
        wal.write(&[Record::Purge(25)]).unwrap();
        assert_eq!(segments(dir.path()).len(), 2);
        assert_eq!(indexes(&wal), (26..=35).collect::<Vec<_>>());
    }
    let wal = open(dir.path());
    assert_eq!(indexes(&wal), (26..=35).collect::<Vec<_>>());
    assert_eq!(
        wal.meta(1).as_deref(),
        Some(&b"vote"[..]),
        "kept by a segment head"
    );
    assert_eq!(lock(&wal.writer).segment, 4);
}

#[test]
fn a_full_segment_hands_over_to_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![7u8; 1024 * 1024];
    {
        let wal = open(dir.path());
        for i in 1..=70u64 {
            wal.write(&[Record::Entry(i, &big)]).unwrap();
        }
        assert_eq!(segments(dir.path()).len(), 2, "64 MiB per segment");
    }
    let wal = open(dir.path());
    let entries = wal.entries(60..=70).unwrap();
    assert_eq!(entries.len(), 11);
    assert!(entries.iter().all(|(_, b)| b[..] == big[..]));
}

#[test]
fn entries_read_from_memory_and_from_the_segments_alike() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = open(dir.path());
        append(&wal, 1..=5);
        assert_eq!(
            lock_index(&wal).cache.len(),
            5,
            "the latest entries are in memory"
        );
    }
    let wal = open(dir.path());
    assert!(
        lock_index(&wal).cache.is_empty(),
        "nothing in memory after a reopen"
    );
    append(&wal, 6..=8);
    // 1..=5 come from the segment, 6..=8 from memory, in order.
    assert_eq!(indexes(&wal), (1..=8).collect::<Vec<_>>());
    wal.write(&[Record::Truncate(7)]).unwrap();
    wal.write(&[Record::Purge(2)]).unwrap();
    assert_eq!(indexes(&wal), (3..=6).collect::<Vec<_>>());
    let index = lock_index(&wal);
    assert_eq!(index.cache.keys().copied().collect::<Vec<_>>(), vec![6]);
    assert_eq!(index.cached_bytes, entry(6).len());
}

fn lock_index(wal: &Wal) -> std::sync::RwLockReadGuard<'_, Index> {
    wal.index.read().unwrap()
}

#[test]
fn after_a_failed_write_nothing_more_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path());
    append(&wal, 1..=1);
    // A read-only handle in place of the segment: the next write fails.
    let path = segment_path(&dir.path().join("log"), 1);
    lock(&wal.writer).file = Arc::new(File::open(path).unwrap());
    assert!(wal.write(&[Record::Entry(2, b"two")]).is_err());
    lock(&wal.writer).file = Arc::new(open_segment(&dir.path().join("log"), 1, false).unwrap());
    let e = wal.write(&[Record::Entry(2, b"two")]).unwrap_err();
    assert!(e.to_string().contains("stopped"), "{e}");
    assert_eq!(indexes(&wal), vec![1]);
}

#[test]
fn every_write_is_one_sync_counted_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    sled::Config::new().path(dir.path()).open().unwrap();
    let sync = Arc::new(DiskSync::open(dir.path()).unwrap());
    let wal = Wal::open(&dir.path().join("log"), sync.clone()).unwrap();
    let before = sync.syncs();
    append(&wal, 1..=100);
    wal.write_later(&[Record::Meta(3, b"c")]).unwrap();
    assert_eq!(sync.syncs(), before + 1, "a hundred entries, one sync");
}

#[test]
fn staged_records_are_read_at_once_and_written_in_order_by_one_sync() {
    let dir = tempfile::tempdir().unwrap();
    sled::Config::new().path(dir.path()).open().unwrap();
    let sync = Arc::new(DiskSync::open(dir.path()).unwrap());
    {
        let wal = Wal::open(&dir.path().join("log"), sync.clone()).unwrap();
        append(&wal, 1..=5);
        let before = sync.syncs();
        let (six, seven) = (entry(6), entry(7));
        let first = wal
            .stage(&[Record::Entry(6, &six), Record::Entry(7, &seven)])
            .unwrap();
        // A new leader's entries replace the staged 7 (and the written 5) before any write.
        let second = wal.stage(&[Record::Truncate(5)]).unwrap();
        let five = entry(5);
        let third = wal.stage(&[Record::Entry(5, &five)]).unwrap();
        assert!(first < second && second < third);
        assert_eq!(indexes(&wal), vec![1, 2, 3, 4, 5]);
        assert_eq!(wal.last_entry().unwrap().map(|(i, _)| i), Some(5));
        assert_eq!(sync.syncs(), before, "staging writes nothing");
        wal.write_through(third).unwrap();
        wal.write_through(first).unwrap();
        assert_eq!(
            sync.syncs(),
            before + 1,
            "the last staging's write took them all"
        );
        assert_eq!(indexes(&wal), vec![1, 2, 3, 4, 5]);
    }
    let wal = Wal::open(&dir.path().join("log"), sync).unwrap();
    assert_eq!(indexes(&wal), vec![1, 2, 3, 4, 5], "replay agrees");
}

#[test]
fn a_staged_entry_is_read_while_another_thread_writes() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Arc::new(open(dir.path()));
    append(&wal, 1..=3);
    let writers: Vec<_> = (4..=40u64)
        .map(|i| {
            let bytes = entry(i);
            let n = wal.stage(&[Record::Entry(i, &bytes)]).unwrap();
            // Every staged entry is there for readers, written or not.
            assert_eq!(indexes(&wal), (1..=i).collect::<Vec<_>>());
            let wal = wal.clone();
            std::thread::spawn(move || wal.write_through(n).unwrap())
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(indexes(&wal), (1..=40).collect::<Vec<_>>());
    assert!(lock(&wal.pending).records.is_empty());
}
