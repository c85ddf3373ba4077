//! The state machine as openraft drives it: `RaftStateMachine` over [`StateMachine`].

use std::io::Cursor;
use std::marker::PhantomData;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, OptionalSend, RaftTypeConfig, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use taskcore_core::{Batch, Outcome, Proposal};

use crate::snapshot;
use crate::{codec, StateMachine, StoreError};

/// Key of the last applied log id, written in the same batch as the changes it applied.
pub(crate) const APPLIED: &[u8] = b"m/applied";
/// Key of the last applied membership.
pub(crate) const MEMBERSHIP: &[u8] = b"m/membership";

fn batch_of<C: RaftTypeConfig<D = Batch>>(e: &Entry<C>) -> Option<&Batch> {
    match &e.payload {
        EntryPayload::Normal(b) => Some(b),
        _ => None,
    }
}

/// openraft's handle on the node's state machine and its current snapshot.
pub struct RaftStore<C> {
    pub(crate) sm: StateMachine,
    pub(crate) snapshots: crate::sled_lock::Closing<sled::Tree>,
    _config: PhantomData<C>,
}

impl<C> Clone for RaftStore<C> {
    fn clone(&self) -> Self {
        RaftStore {
            sm: self.sm.clone(),
            snapshots: self.snapshots.clone(),
            _config: PhantomData,
        }
    }
}

type Result<T> = std::result::Result<T, StorageError<u64>>;

/// The last applied log id and membership.
type AppliedState<N> = (Option<LogId<u64>>, StoredMembership<u64, N>);

pub(crate) fn any(e: impl Into<StoreError>) -> AnyError {
    let e: StoreError = e.into();
    AnyError::new(&e)
}

/// A blocking task that did not finish, as openraft's error.
pub(crate) fn any_join(e: tokio::task::JoinError) -> AnyError {
    AnyError::error(e)
}

impl<C> RaftStore<C>
where
    C: RaftTypeConfig<NodeId = u64>,
{
    pub(crate) fn open_in(
        db: &sled::Db,
        sm: StateMachine,
    ) -> std::result::Result<Self, StoreError> {
        Ok(RaftStore {
            sm,
            snapshots: crate::sled_lock::Closing::new(db.open_tree("snapshot")?),
            _config: PhantomData,
        })
    }

    /// The last applied log id and membership, as stored with the state, read together.
    pub(crate) fn applied(&self) -> std::result::Result<AppliedState<C::Node>, StoreError> {
        let [applied, membership] = self.sm.metas([APPLIED, MEMBERSHIP])?;
        decode_applied(applied.as_deref(), membership.as_deref())
    }
}

/// The applied log id and membership from their stored values (absent: none yet).
pub(crate) fn decode_applied<N: openraft::Node>(
    applied: Option<&[u8]>,
    membership: Option<&[u8]>,
) -> std::result::Result<AppliedState<N>, StoreError> {
    let applied = match applied {
        Some(v) => codec::decode(v)?,
        None => None,
    };
    let membership = match membership {
        Some(v) => codec::decode(v)?,
        None => StoredMembership::default(),
    };
    Ok((applied, membership))
}

impl<C> RaftStateMachine<C> for RaftStore<C>
where
    C: RaftTypeConfig<
        NodeId = u64,
        D = Batch,
        R = Vec<Outcome>,
        Entry = Entry<C>,
        SnapshotData = Cursor<Vec<u8>>,
    >,
{
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, C::Node>)> {
        self.applied()
            .map_err(|e| StorageIOError::read_state_machine(any(e)).into())
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<C::R>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<C>> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|e| e.log_id) else {
            return Ok(Vec::new());
        };
        let mut membership = None;
        for e in &entries {
            if let EntryPayload::Membership(m) = &e.payload {
                membership = Some(StoredMembership::new(Some(e.log_id), m.clone()));
            }
        }
        let mut meta = vec![(
            APPLIED,
            codec::encode(&Some(last)).map_err(|e| StorageIOError::apply(last, any(e)))?,
        )];
        if let Some(m) = membership {
            meta.push((
                MEMBERSHIP,
                codec::encode(&m).map_err(|e| StorageIOError::apply(last, any(e)))?,
            ));
        }
        let proposals: usize = entries.iter().filter_map(batch_of).map(|b| b.0.len()).sum();
        let applied = if proposals <= APPLY_INLINE {
            // A few proposals apply in well under a millisecond: done here, a write's latency
            // does not pay a hand-off to a blocking thread and back.
            apply_now(&self.sm, &entries, meta)
        } else {
            // A large batch keeps the async workers free while it writes to sled.
            let sm = self.sm.clone();
            tokio::task::spawn_blocking(move || apply_now(&sm, &entries, meta))
                .await
                .map_err(|e| StorageIOError::apply(last, AnyError::error(e)))?
        };
        applied.map_err(|e| StorageIOError::apply(last, any(e)).into())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, C::Node>,
        data: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let fail = |e: StoreError| StorageIOError::write_snapshot(Some(meta.signature()), any(e));
        let bytes = data.into_inner();
        let kvs = snapshot::decode_data(&bytes).map_err(fail)?;
        drop(bytes);
        let (sm, tree, saved) = (self.sm.clone(), self.snapshots.clone(), meta.clone());
        tokio::task::spawn_blocking(move || {
            sm.import(kvs)?;
            snapshot::save_meta(&tree, &saved)
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), any_join(e)))?
        .map_err(fail)?;
        Ok(())
    }

    /// The state machine as it is now, if a snapshot was ever built or installed: as of the
    /// snapshot's log id or a later one (see the `snapshot` module).
    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<C>>> {
        let fail = |e: StoreError| StorageIOError::read_snapshot(None, any(e));
        let built: Option<SnapshotMeta<u64, C::Node>> =
            snapshot::load_meta(&self.snapshots).map_err(fail)?;
        if built.is_none() {
            return Ok(None);
        }
        let sm = self.sm.clone();
        let (meta, data) = tokio::task::spawn_blocking(move || snapshot::current(&sm))
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, any_join(e)))?
            .map_err(fail)?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

/// Proposals in one `apply` call at most for it to run on the calling task.
const APPLY_INLINE: usize = 32;

/// Applies `entries` with `meta` in one sled batch: one response per entry, the outcomes of its
/// proposals (none for blank and membership entries).
fn apply_now<C>(
    sm: &StateMachine,
    entries: &[Entry<C>],
    meta: Vec<(&'static [u8], Vec<u8>)>,
) -> std::result::Result<Vec<Vec<Outcome>>, StoreError>
where
    C: RaftTypeConfig<D = Batch>,
{
    let sizes: Vec<usize> = entries
        .iter()
        .map(|e| batch_of(e).map_or(0, |b| b.0.len()))
        .collect();
    let items: Vec<Option<&Proposal>> = entries
        .iter()
        .filter_map(batch_of)
        .flat_map(|b| b.0.iter().map(Some))
        .collect();
    let mut outcomes = sm.apply_entries(&items, meta)?.into_iter().flatten();
    Ok(sizes
        .iter()
        .map(|&n| outcomes.by_ref().take(n).collect())
        .collect())
}
