//! What a node proves and checks in the peer handshake: the cluster secret, and which cluster it
//! belongs to.
//!
//! A cluster's id is drawn when it is initialised (or restored from a backup); a node that joins
//! adopts the id of the first authenticated peer that has one, and from then on refuses peers of
//! any other cluster. Two clusters sharing a secret — an old cluster and the one restored from its
//! backup — therefore never exchange a Raft message, even when one is given the other's address.

use std::sync::{Arc, Mutex};

pub use taskcore_store::ClusterId;
use taskcore_store::IdentityStore;

/// A cluster id as operators see it: 32 hexadecimal digits.
pub fn show(id: &ClusterId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Shows an optional id (`none` when the node has not joined a cluster yet).
pub fn show_opt(id: Option<&ClusterId>) -> String {
    id.map_or_else(|| "none".to_owned(), show)
}

/// This node's cluster id: read once from the store, then kept in memory.
#[derive(Clone)]
pub struct Identity {
    store: Option<IdentityStore>,
    current: Arc<Mutex<Option<ClusterId>>>,
}

impl Identity {
    /// The identity kept in `store`.
    ///
    /// # Errors
    /// The stored id cannot be read.
    pub fn stored(store: IdentityStore) -> Result<Self, taskcore_store::StoreError> {
        let current = store.get()?;
        Ok(Identity {
            store: Some(store),
            current: Arc::new(Mutex::new(current)),
        })
    }

    /// An identity kept in memory only (for tests and tools).
    pub fn in_memory(id: Option<ClusterId>) -> Self {
        Identity {
            store: None,
            current: Arc::new(Mutex::new(id)),
        }
    }

    /// The id, if this node belongs to a cluster yet.
    pub fn get(&self) -> Option<ClusterId> {
        *self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives this node a new cluster id unless it has one (when it initialises a cluster).
    ///
    /// # Errors
    /// The id cannot be stored.
    pub fn ensure(&self) -> Result<ClusterId, String> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(id) = *current {
            return Ok(id);
        }
        let id: ClusterId = rand::random();
        self.persist(id)?;
        *current = Some(id);
        Ok(id)
    }

    /// Checks an authenticated peer's id against this node's, adopting it when this node has
    /// none yet (stored before it returns).
    ///
    /// # Errors
    /// Why the peer is refused: another cluster, or an id that could not be stored.
    pub fn check(&self, theirs: Option<ClusterId>) -> Result<(), String> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        match (*current, theirs) {
            (Some(ours), Some(theirs)) if ours != theirs => Err(format!(
                "the peer belongs to cluster {}, this node to cluster {}",
                show(&theirs),
                show(&ours)
            )),
            (None, Some(theirs)) => {
                self.persist(theirs)?;
                *current = Some(theirs);
                tracing::info!(cluster = %show(&theirs), "joined the cluster of a peer");
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn persist(&self, id: ClusterId) -> Result<(), String> {
        match &self.store {
            Some(store) => store
                .set(id)
                .map_err(|e| format!("cannot store the cluster id: {e}")),
            None => Ok(()),
        }
    }
}

/// Everything a node presents to its peers.
#[derive(Clone)]
pub struct Credentials {
    /// The secret both ends of a handshake prove they know.
    pub secret: Arc<str>,
    /// This node's cluster.
    pub identity: Identity,
    /// Mutual TLS on the peer port, if configured: the HMAC handshake runs inside it.
    pub tls: Option<crate::peer_tls::PeerTls>,
}

impl Credentials {
    /// Credentials of a node of no cluster yet, held in memory (for tests and tools).
    pub fn new(secret: &str) -> Self {
        Credentials {
            secret: secret.into(),
            identity: Identity::in_memory(None),
            tls: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_of_no_cluster_adopts_the_first_id_and_then_refuses_others() {
        let me = Identity::in_memory(None);
        me.check(None).unwrap();
        assert_eq!(me.get(), None, "no id from a peer of no cluster either");
        me.check(Some([1; 16])).unwrap();
        assert_eq!(me.get(), Some([1; 16]));
        me.check(Some([1; 16])).unwrap();
        let err = me.check(Some([2; 16])).unwrap_err();
        assert!(err.contains(&show(&[2; 16])), "{err}");
        assert_eq!(me.get(), Some([1; 16]), "a refused id is not adopted");
        // A peer of no cluster yet is not refused: it adopts ours on its side.
        me.check(None).unwrap();
    }

    #[test]
    fn ensure_draws_an_id_once() {
        let me = Identity::in_memory(None);
        let id = me.ensure().unwrap();
        assert_eq!(me.ensure().unwrap(), id);
        assert_eq!(show(&id).len(), 32);
    }
}
