//! Several nodes, any of which serves a worker: calls go to the one that answered last and
//! fail over to the next when it cannot be reached or has no leader.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use taskcore_client::{Client, ClientError};

/// The nodes a worker talks to.
#[derive(Clone, Debug)]
pub struct Servers {
    clients: Arc<[Client]>,
    current: Arc<AtomicUsize>,
}

/// Whether another node may answer where this one did not.
pub(crate) fn try_elsewhere(e: &ClientError) -> bool {
    match e {
        ClientError::Transport(_) => true,
        ClientError::Api { status, .. } => *status == 503,
        ClientError::Decode { status, .. } => *status >= 500,
    }
}

impl Servers {
    /// The nodes at these base URLs, with one token, trusting `ca_pem`'s authorities for
    /// `https://` URLs. At least one URL is needed.
    pub fn new(urls: &[String], token: &str, ca_pem: Option<&[u8]>) -> Self {
        let client = |u: &String| {
            let plain = Client::new(u, token);
            match ca_pem {
                None => plain,
                Some(pem) => plain.clone().with_ca_pem(pem).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "the CA is not usable; only the public roots are trusted");
                    plain
                }),
            }
        };
        let clients: Vec<Client> = urls.iter().map(client).collect();
        Servers {
            clients: clients.into(),
            current: Arc::default(),
        }
    }

    /// Calls `f` on the current node, then on each other in turn while the failure is one
    /// another node may not have; answers the first success or the last failure.
    ///
    /// # Errors
    /// The last node's error.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, ClientError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let n = self.clients.len();
        let start = self.current.load(Ordering::Relaxed);
        let mut last = ClientError::Transport("no server configured".into());
        for i in 0..n {
            let at = (start + i) % n;
            match f(self.clients[at].clone()).await {
                Err(e) if try_elsewhere(&e) => {
                    tracing::debug!(server = self.clients[at].base(), error = %e, "failing over");
                    last = e;
                }
                other => {
                    self.current.store(at, Ordering::Relaxed);
                    return other;
                }
            }
        }
        self.current
            .store((start + 1) % n.max(1), Ordering::Relaxed);
        Err(last)
    }
}
