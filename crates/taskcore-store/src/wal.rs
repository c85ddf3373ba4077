//! The Raft log's own write-ahead log: segment files of checksummed records, appended with one
//! `pwrite` and made durable with one `fdatasync` per write.
//!
//! sled made every log append pay its whole flush (several buffer writes and
//! `sync_file_range` calls from its thread pool) before the real sync; here an append is one
//! write and one sync of one file. The state machine stays in sled, flushed in the background:
//! after a crash it is replayed from this log, which keeps every entry the state machine may not
//! have made durable yet (a purge waits for sled's sync, see `LogStore::purge`).
//!
//! The log is a directory of segments named by a sequence number (`00000000000000000001.wal`);
//! records are framed as [`record`] says. Replaying them in order rebuilds the entries (where
//! each one lies in which segment), the meta values and the purge point. A new segment starts
//! with the meta values and the purge point, so the segments before it can be deleted once
//! every entry in them is purged. A write that did not finish before a crash leaves a torn
//! record at the end of the last segment, which opening cuts off: it was never acknowledged,
//! as its sync never returned. Damage anywhere else refuses to open.

pub(crate) mod flusher;
mod pending;
pub(crate) mod record;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read as _};
use std::ops::RangeBounds;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use pending::{Pending, Staged};
use record::{Read, Record};

use crate::{DiskSync, StoreError};

/// A segment this long takes no more records: the next write starts a new one.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Entries next to each other in one segment are read with one `pread` up to this many bytes.
const READ_SPAN: u64 = 8 * 1024 * 1024;
/// The bytes of the latest entries kept in memory at most: openraft reads each entry right
/// after appending it (to replicate it, to apply it), and those reads need no file.
const CACHE_BYTES: usize = 32 * 1024 * 1024;
const SUFFIX: &str = ".wal";

/// Where an entry's bytes lie.
#[derive(Clone, Copy, Debug)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
}

/// What the records read so far say: shared with readers.
#[derive(Default)]
struct Index {
    files: BTreeMap<u64, Arc<File>>,
    entries: BTreeMap<u64, Loc>,
    meta: BTreeMap<u8, Vec<u8>>,
    purged: Option<u64>,
    /// The latest entries written, by index (a suffix of `entries`' keys, at most
    /// [`CACHE_BYTES`] of them).
    cache: BTreeMap<u64, Arc<[u8]>>,
    cached_bytes: usize,
}

impl Index {
    /// Keeps the bytes of the entry just written at `index`.
    fn cache(&mut self, index: u64, bytes: Arc<[u8]>) {
        self.cached_bytes += bytes.len();
        self.cache.insert(index, bytes);
        while self.cached_bytes > CACHE_BYTES {
            match self.cache.pop_first() {
                Some((_, b)) => self.cached_bytes -= b.len(),
                None => break,
            }
        }
    }

    /// Forgets the cached entries from `index` on.
    fn uncache_from(&mut self, index: u64) {
        for (_, b) in self.cache.split_off(&index) {
            self.cached_bytes -= b.len();
        }
    }

    /// Applies the record found at `offset` of `segment`.
    fn apply(&mut self, record: &Record<'_>, segment: u64, offset: u64) {
        match *record {
            Record::Entry(index, bytes) => {
                self.entries.split_off(&index);
                self.uncache_from(index);
                let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
                let offset = offset + (record::HEADER + record::ENTRY_PREFIX) as u64;
                self.entries.insert(
                    index,
                    Loc {
                        segment,
                        offset,
                        len,
                    },
                );
            }
            Record::Meta(key, value) => {
                self.meta.insert(key, value.to_vec());
            }
            Record::Truncate(from) => {
                self.entries.split_off(&from);
                self.uncache_from(from);
            }
            Record::Purge(upto) => {
                let keep = upto.saturating_add(1);
                self.entries = self.entries.split_off(&keep);
                let kept = self.cache.split_off(&keep);
                self.cache = kept;
                self.cached_bytes = self.cache.values().map(|b| b.len()).sum();
                self.purged = self.purged.max(Some(upto));
            }
        }
    }
}

/// The appending end, used by one writer at a time.
struct Writer {
    segment: u64,
    file: Arc<File>,
    len: u64,
    /// Per segment, the highest entry index ever written in it.
    highest: BTreeMap<u64, Option<u64>>,
    /// Set when a write or sync failed: what is on disk is unknown, nothing more is written.
    failed: Option<String>,
    /// The number of the last staging written and synced.
    written: u64,
}

/// The Raft log's segments, their index and their writer.
pub(crate) struct Wal {
    dir: PathBuf,
    sync: Arc<DiskSync>,
    index: RwLock<Index>,
    writer: Mutex<Writer>,
    /// Records written to no file yet, behind a lock of their own: staging one never waits
    /// for a write's sync. Lock order: `writer`, then `index`, then `pending`.
    pending: Mutex<Pending>,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}{SUFFIX}"))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_segment(dir: &Path, id: u64, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(create)
        .open(segment_path(dir, id))
}

impl Wal {
    /// Opens the log in `dir` (created if missing), replaying every segment; cuts off a torn
    /// record at the end of the last one.
    ///
    /// # Errors
    /// A segment cannot be read, is damaged before its end, or holds a record of a kind this
    /// version does not know.
    pub(crate) fn open(dir: &Path, sync: Arc<DiskSync>) -> Result<Self, StoreError> {
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = name
                .strip_suffix(SUFFIX)
                .and_then(|n| n.parse::<u64>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        if ids.is_empty() {
            open_segment(dir, 1, true)?.sync_all()?;
            sync_dir(dir)?;
            ids.push(1);
        }
        let mut index = Index::default();
        let mut highest = BTreeMap::new();
        let mut end = 0;
        for (n, &id) in ids.iter().enumerate() {
            let file = open_segment(dir, id, false)?;
            let mut bytes = Vec::new();
            (&file).read_to_end(&mut bytes)?;
            let last = n + 1 == ids.len();
            let mut at = 0usize;
            let mut top = None;
            while at < bytes.len() {
                match record::decode(&bytes[at..]) {
                    Read::Record(r, used) => {
                        if let Record::Entry(i, _) = r {
                            top = top.max(Some(i));
                        }
                        index.apply(&r, id, at as u64);
                        at += used;
                    }
                    Read::Torn(why) if last => {
                        tracing::warn!(
                            segment = %segment_path(dir, id).display(),
                            offset = at,
                            "the Raft log ends with {why}: cutting it off (a write that never finished)"
                        );
                        file.set_len(at as u64)?;
                        file.sync_all()?;
                        break;
                    }
                    Read::Torn(why) => {
                        return Err(StoreError::Invalid(format!(
                            "the Raft log segment {} holds {why} at byte {at}: it is damaged",
                            segment_path(dir, id).display()
                        )))
                    }
                    Read::Unknown(kind) => {
                        return Err(StoreError::Invalid(format!(
                            "the Raft log segment {} holds a record of kind {kind} at byte {at}, \
                             unknown to this version: run the version that wrote it",
                            segment_path(dir, id).display()
                        )))
                    }
                }
            }
            highest.insert(id, top);
            index.files.insert(id, Arc::new(file));
            end = at as u64;
        }
        let segment = ids[ids.len() - 1];
        let file = index.files[&segment].clone();
        Ok(Wal {
            dir: dir.to_path_buf(),
            sync,
            index: RwLock::new(index),
            writer: Mutex::new(Writer {
                segment,
                file,
                len: end,
                highest,
                failed: None,
                written: 0,
            }),
            pending: Mutex::default(),
        })
    }

    /// Writes `records` (after any staged ones) and syncs: they are durable when this returns.
    ///
    /// # Errors
    /// As [`Wal::stage`] and [`Wal::write_through`].
    pub(crate) fn write(&self, records: &[Record<'_>]) -> io::Result<()> {
        let n = self.stage(records)?;
        self.write_through(n)
    }

    /// Queues `records` for the next write, after those staged before, and returns this
    /// staging's number for [`Wal::write_through`]. Readers see them at once: a leader's
    /// entries are read back to be replicated while they are being synced. Meta values that
    /// need no sync of their own (the committed index) are staged and left to the next write.
    ///
    /// # Errors
    /// A record is too large: nothing of `records` is staged.
    pub(crate) fn stage(&self, records: &[Record<'_>]) -> io::Result<u64> {
        let mut buf = Vec::with_capacity(records.iter().map(Record::encoded_len).sum());
        let mut starts = Vec::with_capacity(records.len());
        for r in records {
            starts.push(buf.len());
            record::encode(r, &mut buf)?;
        }
        let mut pending = lock(&self.pending);
        let base = pending.buf.len();
        pending.buf.extend_from_slice(&buf);
        for (r, at) in records.iter().zip(starts) {
            pending.records.push((base + at, Staged::of(r)));
        }
        pending.staged += 1;
        Ok(pending.staged)
    }

    /// Writes and syncs every staged record, unless staging `n` and those before it are
    /// durable already (a write that took them with its own): once this returns, they are.
    /// A write that deletes the last entries of a segment (a purge) deletes that segment's
    /// file, and those before it, once synced.
    ///
    /// # Errors
    /// The write or sync failed; after a failed write or sync every later write fails too
    /// (the node must restart and replay what is durable).
    pub(crate) fn write_through(&self, n: u64) -> io::Result<()> {
        let mut w = lock(&self.writer);
        if let Some(e) = &w.failed {
            self.discard_staged();
            return Err(io::Error::other(format!(
                "the Raft log stopped after a failed write: {e}"
            )));
        }
        if w.written >= n {
            return Ok(());
        }
        if w.len >= SEGMENT_BYTES {
            self.start_segment(&mut w)?;
        }
        let (buf, taken, upto) = {
            let mut pending = lock(&self.pending);
            let buf = std::mem::take(&mut pending.buf);
            (buf, pending.records.len(), pending.staged)
        };
        self.sync.before_sync();
        let written = w
            .file
            .write_all_at(&buf, w.len)
            .and_then(|()| w.file.sync_data());
        if let Err(e) = written {
            w.failed = Some(e.to_string());
            self.discard_staged();
            return Err(e);
        }
        let (segment, start) = (w.segment, w.len);
        w.len += buf.len() as u64;
        w.written = upto;
        let mut purged = None;
        {
            let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
            let mut pending = lock(&self.pending);
            for (at, staged) in pending.records.drain(..taken) {
                let offset = start + at as u64;
                match staged {
                    Staged::Entry(i, bytes) => {
                        index.apply(&Record::Entry(i, &bytes), segment, offset);
                        index.cache(i, bytes);
                        let top = w.highest.entry(segment).or_default();
                        *top = (*top).max(Some(i));
                    }
                    Staged::Truncate(from) => index.apply(&Record::Truncate(from), segment, offset),
                    Staged::Purge(upto) => {
                        index.apply(&Record::Purge(upto), segment, offset);
                        purged = Some(upto);
                    }
                    Staged::Meta(key, value) => {
                        // Only once written: a new segment starts with the index's meta
                        // values, which must not run ahead of the entries they refer to.
                        index.apply(&Record::Meta(key, &value), segment, offset);
                    }
                }
            }
        }
        if let Some(upto) = purged {
            self.delete_purged_segments(&mut w, upto);
        }
        self.sync.after_sync()
    }

    /// Forgets every staged record after a failed write: none of them will be written, so
    /// readers must not see them.
    fn discard_staged(&self) {
        let mut pending = lock(&self.pending);
        pending.buf.clear();
        pending.records.clear();
    }

    /// Queues `records` to be written with the next write, without a sync of their own (the
    /// committed index: openraft does not need it durable). Readers see them now.
    ///
    /// # Errors
    /// A record is too large.
    pub(crate) fn write_later(&self, records: &[Record<'_>]) -> io::Result<()> {
        self.stage(records).map(|_| ())
    }

    /// Writes and syncs whatever waits (a clean shutdown).
    ///
    /// # Errors
    /// The write or sync failed.
    pub(crate) fn flush(&self) -> io::Result<()> {
        let n = lock(&self.pending).staged;
        self.write_through(n)
    }

    /// Starts the next segment with the meta values and the purge point.
    fn start_segment(&self, w: &mut Writer) -> io::Result<()> {
        let id = w.segment + 1;
        let mut head = Vec::new();
        {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            for (&key, value) in &index.meta {
                record::encode(&Record::Meta(key, value), &mut head)?;
            }
            if let Some(upto) = index.purged {
                record::encode(&Record::Purge(upto), &mut head)?;
            }
        }
        let file = open_segment(&self.dir, id, true)?;
        file.write_all_at(&head, 0)?;
        file.sync_all()?;
        sync_dir(&self.dir)?;
        let file = Arc::new(file);
        self.index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .files
            .insert(id, file.clone());
        w.highest.insert(id, None);
        w.segment = id;
        w.file = file;
        w.len = head.len() as u64;
        Ok(())
    }

    /// Deletes the segments before the current one whose entries are all purged, oldest
    /// first, stopping at the first that still holds one. A failed delete is left for the
    /// next purge: replaying a segment that should be gone changes nothing.
    fn delete_purged_segments(&self, w: &mut Writer, upto: u64) {
        let gone: Vec<u64> = w
            .highest
            .iter()
            .take_while(|&(&id, top)| id < w.segment && top.is_none_or(|t| t <= upto))
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            if let Err(e) = std::fs::remove_file(segment_path(&self.dir, id)) {
                tracing::warn!(error = %e, segment = id, "cannot delete a purged Raft log segment");
                return;
            }
            w.highest.remove(&id);
            self.index
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .files
                .remove(&id);
        }
    }

    /// The entries whose index is in `range`, with their bytes, in order: the latest from
    /// memory, older ones from their segments.
    ///
    /// # Errors
    /// A segment cannot be read.
    pub(crate) fn entries(
        &self,
        range: impl RangeBounds<u64>,
    ) -> io::Result<Vec<(u64, Arc<[u8]>)>> {
        let mut out = Vec::new();
        let mut on_disk: Vec<(u64, Loc, Arc<File>)> = Vec::new();
        let staged: Vec<Staged> = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            for (&i, &loc) in index
                .entries
                .range((range.start_bound(), range.end_bound()))
            {
                if let Some(bytes) = index.cache.get(&i) {
                    out.push((i, bytes.clone()));
                } else if let Some(file) = index.files.get(&loc.segment) {
                    on_disk.push((i, loc, file.clone()));
                }
            }
            let pending = lock(&self.pending);
            pending.records.iter().map(|(_, s)| s.clone()).collect()
        };
        if on_disk.is_empty() {
            return Ok(pending::overlay(out, &staged, &range));
        }
        let mut rest = &on_disk[..];
        while let Some((_, first, file)) = rest.first() {
            // A run of entries laid one after another in one segment: one read for all.
            let start = first.offset;
            let mut end = start + u64::from(first.len);
            let mut n = 1;
            while let Some((_, loc, _)) = rest.get(n) {
                let next_end = loc.offset + u64::from(loc.len);
                if loc.segment != first.segment || loc.offset < end || next_end - start > READ_SPAN
                {
                    break;
                }
                end = next_end;
                n += 1;
            }
            let span = usize::try_from(end - start).map_err(io::Error::other)?;
            let mut buf = vec![0; span];
            file.read_exact_at(&mut buf, start)?;
            for (i, loc, _) in &rest[..n] {
                let from = (loc.offset - start) as usize;
                out.push((*i, Arc::from(&buf[from..from + loc.len as usize])));
            }
            rest = &rest[n..];
        }
        out.sort_unstable_by_key(|(i, _)| *i);
        Ok(pending::overlay(out, &staged, &range))
    }

    /// The last entry, if any.
    ///
    /// # Errors
    /// Its segment cannot be read.
    pub(crate) fn last_entry(&self) -> io::Result<Option<(u64, Arc<[u8]>)>> {
        let last = {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner());
            let last = index.entries.last_key_value().map(|(&i, _)| i);
            let pending = lock(&self.pending);
            let staged: Vec<Staged> = pending.records.iter().map(|(_, s)| s.clone()).collect();
            pending::last_index(last, index.purged, &staged)
        };
        match last {
            None => Ok(None),
            Some(i) => Ok(self.entries(i..=i)?.pop()),
        }
    }

    /// A meta value.
    pub(crate) fn meta(&self, key: u8) -> Option<Vec<u8>> {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        let staged = pending::meta(&lock(&self.pending).records, key);
        staged.or_else(|| index.meta.get(&key).cloned())
    }

    /// Whether the log holds no entry and no meta value.
    pub(crate) fn is_empty(&self) -> bool {
        let index = self.index.read().unwrap_or_else(|e| e.into_inner());
        index.entries.is_empty() && index.meta.is_empty() && index.purged.is_none()
    }
}
