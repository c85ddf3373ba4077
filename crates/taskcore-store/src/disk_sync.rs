//! The real sync that sled 0.34 leaves out.
//!
//! On Linux sled "flushes" with `sync_file_range(WAIT_BEFORE | WRITE | WAIT_AFTER)`: the pages
//! reach the device, but neither the file's metadata (its length, as the log grows) nor the
//! device's write cache are made durable, and the blob files sled writes for large values are
//! never synced at all, nor are the directories that name them. [`DiskSync::sync`] runs after
//! every sled flush that something rests on (a purge of the Raft log, a restore, the cluster
//! identity, a clean shutdown): it `fsync`s the blob files written since the last call and their
//! directory, `fdatasync`s the database file, and `fsync`s the database directory when its
//! entries changed. The Raft log syncs its own files (`wal`) and shares the count and the
//! test doubles (`before_sync`, `after_sync`).

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::synced_image::SyncedImages;

/// Makes what sled flushed durable.
#[derive(Debug)]
pub struct DiskSync {
    dir: PathBuf,
    db_file: File,
    seen: Mutex<Seen>,
    syncs: AtomicU64,
    /// The power-loss test double, when a test asked for it.
    images: Mutex<Option<SyncedImages>>,
    /// The slow-disk test double: a file holding how many milliseconds each sync takes more.
    delay_file: std::sync::OnceLock<PathBuf>,
}

/// What the last sync found in the directories.
#[derive(Debug, Default)]
struct Seen {
    /// Names in the database directory.
    entries: BTreeSet<std::ffi::OsString>,
    /// Blob files already synced.
    blobs: BTreeSet<std::ffi::OsString>,
}

impl DiskSync {
    /// Opens the sync of the sled database in `dir` (opened by sled already) and syncs
    /// everything in it once, with the directory and its parent.
    ///
    /// # Errors
    /// A file or directory cannot be opened or synced.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let db_file = File::open(dir.join("db"))?;
        let sync = DiskSync {
            dir: dir.to_path_buf(),
            db_file,
            seen: Mutex::default(),
            syncs: AtomicU64::new(0),
            images: Mutex::default(),
            delay_file: std::sync::OnceLock::new(),
        };
        if let Ok(conf) = File::open(dir.join("conf")) {
            conf.sync_all()?;
        }
        sync.sync()?;
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            File::open(parent)?.sync_all()?;
        }
        Ok(sync)
    }

    /// Makes everything sled has flushed so far durable.
    ///
    /// # Errors
    /// A sync failed: what was flushed may not be durable, and must not be acknowledged.
    pub fn sync(&self) -> io::Result<()> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        self.before_sync();
        // Blobs first: the log records that point at them are synced next.
        let blobs_dir = self.dir.join("blobs");
        let mut new_blobs = Vec::new();
        match std::fs::read_dir(&blobs_dir) {
            Ok(entries) => {
                let mut now = BTreeSet::new();
                for entry in entries {
                    let name = entry?.file_name();
                    if !seen.blobs.contains(&name) {
                        new_blobs.push(name.clone());
                    }
                    now.insert(name);
                }
                for name in &new_blobs {
                    // A blob deleted since the listing needs no sync.
                    match File::open(blobs_dir.join(name)) {
                        Ok(f) => f.sync_all()?,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
                if !new_blobs.is_empty() {
                    File::open(&blobs_dir)?.sync_all()?;
                }
                seen.blobs = now;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.db_file.sync_data()?;
        let entries = std::fs::read_dir(&self.dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<BTreeSet<_>>>()?;
        if entries != seen.entries {
            File::open(&self.dir)?.sync_all()?;
            seen.entries = entries;
        }
        drop(seen);
        self.after_sync()
    }

    /// What runs before every sync of a file in the database directory, sled's or the Raft
    /// log's: the slow-disk test double's wait, when a test set it.
    pub(crate) fn before_sync(&self) {
        if let Some(file) = self.delay_file.get() {
            let ms = std::fs::read_to_string(file).unwrap_or_default();
            let ms = ms.trim().parse::<u64>().unwrap_or(0).min(60_000);
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
    }

    /// What runs after every sync of a file in the database directory: it is counted, and the
    /// power-loss test double, when a test set it, copies the directory as it now stands.
    ///
    /// # Errors
    /// The copy failed.
    pub(crate) fn after_sync(&self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::Relaxed);
        let mut images = self.images.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(images) = images.as_mut() {
            images.take(&self.dir)?;
        }
        Ok(())
    }

    /// **Tests only**: before every sync, reads a number of milliseconds from `file` (missing
    /// or not a number: 0; at most 60 s) and waits that long: a test makes the disk slow, or
    /// stalls it, by writing the file.
    pub fn delay_syncs_by(&self, file: PathBuf) {
        let _ = self.delay_file.set(file);
    }

    /// **Tests only**: after every sync, copies the database directory into `images` (see
    /// `synced_image`), for power-loss tests to restore with [`crate::restore_synced_image`].
    /// Slow: a full copy per sync.
    ///
    /// # Errors
    /// `images` cannot be created, or the first copy fails.
    pub fn keep_synced_images(&self, images: PathBuf) -> io::Result<()> {
        let mut keeper = SyncedImages::new(images)?;
        keeper.take(&self.dir)?;
        *self.images.lock().unwrap_or_else(|e| e.into_inner()) = Some(keeper);
        Ok(())
    }

    /// How many syncs ran since the database was opened.
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_land_in_blob_files_that_get_synced() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let sync = DiskSync::open(dir.path()).unwrap();
        let before = sync.syncs();
        db.insert(b"big", vec![7u8; 256 * 1024]).unwrap();
        db.flush().unwrap();
        sync.sync().unwrap();
        assert_eq!(sync.syncs(), before + 1);
        let seen = sync.seen.lock().unwrap();
        assert!(
            !seen.blobs.is_empty(),
            "a 256 KiB value is a blob file, and it was synced"
        );
        assert!(seen.entries.contains(std::ffi::OsStr::new("db")));
    }
}
