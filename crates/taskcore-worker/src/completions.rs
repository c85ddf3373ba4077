//! Successes reported together: attempts that finish while a report is on its way are sent in
//! the next one (`POST /workers/complete/`, up to 100 per request), so that a busy worker makes
//! one request — and the leader one log entry — for many completions, the way the leader's
//! group commit batches writes. One request is in flight at a time; an attempt that finishes
//! alone is reported at once. Against a node without the endpoint (an older version), reports
//! go one by one.

use std::sync::Weak;
use std::time::Duration;

use taskcore_client::ClientError;
use taskcore_wire::{CompleteManyRequest, CompleteRequest, Completion, ErrorBody};
use tokio::sync::{mpsc, oneshot};

use crate::runtime::{report, Shared};

/// The most completions one request carries (the endpoint's limit).
const MAX_PER_REQUEST: usize = 100;

/// A completion waiting to be reported, and who waits for its answer.
pub(crate) struct Pending {
    pub(crate) completion: Completion,
    /// How long the report may be retried (the attempt's lease).
    pub(crate) ttl: Duration,
    pub(crate) reply: oneshot::Sender<Result<(), ClientError>>,
}

/// Sends what `rx` receives, batched, until every sender is gone or the worker is.
pub(crate) async fn run(shared: Weak<Shared>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut one_by_one = false;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_PER_REQUEST {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let Some(shared) = shared.upgrade() else {
            break;
        };
        let ttl = batch.iter().map(|p| p.ttl).min().unwrap_or_default();
        if !one_by_one {
            let req = CompleteManyRequest {
                completions: batch.iter().map(|p| p.completion.clone()).collect(),
            };
            match report(&shared, ttl, |c| {
                let req = req.clone();
                async move { c.complete_many(&req).await }
            })
            .await
            {
                Ok(answer) if answer.results.len() == batch.len() => {
                    for (p, r) in batch.into_iter().zip(answer.results) {
                        let result = match (r.status, r.error) {
                            (200, _) => Ok(()),
                            (status, error) => Err(ClientError::Api {
                                status,
                                body: Box::new(
                                    error.unwrap_or_else(|| ErrorBody::new("refused", "UNKNOWN")),
                                ),
                            }),
                        };
                        let _ = p.reply.send(result);
                    }
                    continue;
                }
                // An older node: no such route.
                Err(ClientError::Api {
                    status: 404 | 405, ..
                }) => {
                    tracing::info!("the node takes no batched completions: reporting one by one");
                    one_by_one = true;
                }
                Ok(_) => {
                    reply_all(batch, "the answer does not match the reports");
                    continue;
                }
                Err(e) => {
                    reply_all(batch, &e.to_string());
                    continue;
                }
            }
        }
        for p in batch {
            let Completion {
                id,
                lease_id,
                result_data,
                metrics,
            } = p.completion;
            let req = CompleteRequest {
                lease_id,
                result_data,
                metrics,
            };
            let r = report(&shared, p.ttl, |c| {
                let req = req.clone();
                async move { c.complete(id, &req).await.map(drop) }
            });
            let _ = p.reply.send(r.await);
        }
    }
}

fn reply_all(batch: Vec<Pending>, why: &str) {
    for p in batch {
        let _ = p.reply.send(Err(ClientError::Transport(why.to_owned())));
    }
}
