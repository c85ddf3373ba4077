//! A test double for power loss: after every sync, a copy of the database directory as it
//! stands, so that a test can "cut the power" (SIGKILL every node), put back what was synced,
//! and restart.
//!
//! What a power loss keeps of a file is what was synced, plus any part of what was written
//! since. The copy is taken right after a sync, so it holds everything the sync made durable
//! and perhaps a little more (sled's flusher may be writing while it is copied): one of the
//! states a real power loss can leave. What it never holds is anything written after the last
//! sync that finished: an acknowledgement or a vote that did not wait for its sync is lost in
//! the copy exactly as on a real disk.
//!
//! Images are numbered; `current` names the last complete one (written to a temporary file and
//! renamed, so a crash mid-copy leaves the previous image current).

use std::io;
use std::path::{Path, PathBuf};

/// Copies of a database directory taken after each sync.
#[derive(Debug)]
pub(crate) struct SyncedImages {
    dir: PathBuf,
    next: u64,
}

impl SyncedImages {
    /// Keeps images in `dir` (created if missing).
    pub(crate) fn new(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let next = current(&dir)?.map_or(0, |n| n + 1);
        Ok(SyncedImages { dir, next })
    }

    /// Copies `db_dir` as the new current image and drops the previous one.
    pub(crate) fn take(&mut self, db_dir: &Path) -> io::Result<()> {
        let n = self.next;
        self.next += 1;
        copy_dir(db_dir, &self.dir.join(n.to_string()))?;
        let tmp = self.dir.join("current.tmp");
        std::fs::write(&tmp, n.to_string())?;
        std::fs::rename(&tmp, self.dir.join("current"))?;
        if let Some(previous) = n.checked_sub(1) {
            let _ = std::fs::remove_dir_all(self.dir.join(previous.to_string()));
        }
        Ok(())
    }
}

/// The number of the current image in `dir`, if any.
fn current(dir: &Path) -> io::Result<Option<u64>> {
    match std::fs::read_to_string(dir.join("current")) {
        Ok(text) => Ok(text.trim().parse().ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `db_dir` with the current image in `images` (what the last sync made durable);
/// false when there is none.
///
/// # Errors
/// A directory cannot be read, removed or written.
pub fn restore_synced_image(images: &Path, db_dir: &Path) -> io::Result<bool> {
    let Some(n) = current(images)? else {
        return Ok(false);
    };
    match std::fs::remove_dir_all(db_dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    copy_dir(&images.join(n.to_string()), db_dir)?;
    Ok(true)
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            match std::fs::copy(entry.path(), &target) {
                // A file sled removed since the listing (an old blob) is not part of the image.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => {
                    other?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DiskSync;

    #[test]
    fn what_was_not_synced_is_gone_after_a_restore() {
        let dir = tempfile::tempdir().unwrap();
        let (db_dir, images) = (dir.path().join("db"), dir.path().join("images"));
        {
            let db = sled::Config::new().path(&db_dir).open().unwrap();
            let sync = DiskSync::open(&db_dir).unwrap();
            sync.keep_synced_images(images.clone()).unwrap();
            db.insert(b"synced", b"yes").unwrap();
            db.flush().unwrap();
            sync.sync().unwrap();
            db.insert(b"flushed only", b"lost").unwrap();
            db.flush().unwrap();
        }
        assert!(restore_synced_image(&images, &db_dir).unwrap());
        let db = crate::storage::open_db(&db_dir).unwrap();
        assert_eq!(db.get(b"synced").unwrap().as_deref(), Some(&b"yes"[..]));
        assert_eq!(db.get(b"flushed only").unwrap(), None);
    }
}
