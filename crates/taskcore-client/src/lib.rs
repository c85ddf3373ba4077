//! A typed HTTP client for Task Core over the wire types, used by `taskctl`, the worker and the
//! end-to-end tests. It knows only HTTP and `taskcore-wire`.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use taskcore_wire::{
    CancelResponse, ClusterStatusBody, CompleteManyRequest, CompleteManyResponse, CompleteRequest,
    CreatedTasks, ErrorBody, FailRequest, FailResponse, HeartbeatRequest, HeartbeatResponse,
    InitRequest, LearnerRequest, LeaseRequest, LeaseResponse, MembershipRequest, NewTask, Page,
    PeriodicTaskBody, PeriodicTaskRequest, QueueStats, ReleaseRequest, RetryRequest, RetryResponse,
    TaskBody, TaskPatch, TypeStats,
};

/// How long a worker's report (heartbeat, complete, fail, release) may take before it is tried elsewhere.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("HTTP {status}: {} ({})", body.detail, body.error_code)]
    Api {
        /// HTTP status.
        status: u16,
        /// The contract's error body.
        body: Box<ErrorBody>,
    },
    /// The request did not reach the server or the answer did not arrive.
    #[error("transport: {0}")]
    Transport(String),
    /// The answer was not what the contract promises.
    #[error("unexpected answer (HTTP {status}): {detail}")]
    Decode {
        /// HTTP status.
        status: u16,
        /// What went wrong.
        detail: String,
    },
}

impl ClientError {
    /// The contract's error code, when the server answered with one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.error_code),
            _ => None,
        }
    }
}

/// A client of one node (any node serves every request).
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    brand: Option<u64>,
}

impl Client {
    /// A client of the node at `base` (`http://…`, or `https://…` verified against the
    /// public web roots) with a bearer token.
    pub fn new(base: &str, token: &str) -> Self {
        let http = Self::builder()
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            brand: None,
        }
    }

    fn builder() -> reqwest::ClientBuilder {
        // Idle connections are dropped before a node's own idle timeout (30 s by default) can
        // close one under a request being sent.
        reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(15))
    }

    /// The same client trusting the certificate authorities of `pem` (a cluster's own CA) for
    /// `https://` nodes, in addition to the public web roots.
    ///
    /// # Errors
    /// [`ClientError::Transport`] when `pem` holds no usable certificate.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self, ClientError> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ClientError::Transport(format!("the CA file: {e}")))?;
        if certs.is_empty() {
            return Err(ClientError::Transport(
                "the CA file holds no PEM certificate".into(),
            ));
        }
        let builder = certs
            .into_iter()
            .fold(Self::builder(), |b, c| b.add_root_certificate(c));
        self.http = builder
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(self)
    }

    /// The same client acting on a brand (`X-Brand-ID`).
    pub fn with_brand(mut self, brand: u64) -> Self {
        self.brand = Some(brand);
        self
    }

    /// The node's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = self.brand {
            r = r.header("X-Brand-ID", b.to_string());
        }
        r
    }

    /// `GET /cluster/backup/` (admin): the backup file's bytes.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn backup(&self) -> Result<Vec<u8>, ClientError> {
        let (_, bytes) = self
            .send_raw(self.request(Method::GET, "/cluster/backup/"))
            .await?;
        Ok(bytes.as_ref().to_vec())
    }

    /// Sends a request; the status and body of a success, the contract's error otherwise.
    async fn send_raw(
        &self,
        req: RequestBuilder,
    ) -> Result<(StatusCode, impl AsRef<[u8]>), ClientError> {
        let res = req
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if !status.is_success() {
            return Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => ClientError::Api {
                    status: status.as_u16(),
                    body: Box::new(body),
                },
                Err(e) => ClientError::Decode {
                    status: status.as_u16(),
                    detail: e.to_string(),
                },
            });
        }
        Ok((status, bytes))
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        let (status, bytes) = self.send_raw(req).await?;
        let bytes = if status == StatusCode::NO_CONTENT {
            &b"null"[..]
        } else {
            bytes.as_ref()
        };
        serde_json::from_slice(bytes).map_err(|e| ClientError::Decode {
            status: status.as_u16(),
            detail: e.to_string(),
        })
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.send(self.request(method, path).json(body)).await
    }

    /// `GET /periodic-tasks/` with these query parameters.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn list_periodic(
        &self,
        query: &[(&str, &str)],
    ) -> Result<Page<PeriodicTaskBody>, ClientError> {
        self.send(self.request(Method::GET, "/periodic-tasks/").query(query))
            .await
    }

    /// `GET /periodic-tasks/{id}/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn get_periodic(&self, id: u64) -> Result<PeriodicTaskBody, ClientError> {
        self.send(self.request(Method::GET, &format!("/periodic-tasks/{id}/")))
            .await
    }

    /// `POST /periodic-tasks/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn create_periodic(
        &self,
        req: &PeriodicTaskRequest,
    ) -> Result<PeriodicTaskBody, ClientError> {
        self.send_json(Method::POST, "/periodic-tasks/", req).await
    }

    /// `PATCH /periodic-tasks/{id}/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn update_periodic(
        &self,
        id: u64,
        req: &PeriodicTaskRequest,
    ) -> Result<PeriodicTaskBody, ClientError> {
        self.send_json(Method::PATCH, &format!("/periodic-tasks/{id}/"), req)
            .await
    }

    /// `DELETE /periodic-tasks/{id}/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn delete_periodic(&self, id: u64) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, &format!("/periodic-tasks/{id}/")))
            .await
    }

    /// `POST /periodic-tasks/{id}/run-now/`: the task it created.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn run_periodic_now(&self, id: u64) -> Result<TaskBody, ClientError> {
        let path = format!("/periodic-tasks/{id}/run-now/");
        self.send_json(Method::POST, &path, &serde_json::json!({}))
            .await
    }

    /// `POST /workers/lease/`: waits up to `wait_seconds` for tasks.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn lease(&self, req: &LeaseRequest) -> Result<LeaseResponse, ClientError> {
        // The long poll answers within `wait_seconds`; the margin covers a slow leader.
        let timeout = Duration::from_secs(u64::from(req.wait_seconds) + 15);
        let r = self
            .request(Method::POST, "/workers/lease/")
            .timeout(timeout)
            .json(req);
        self.send(r).await
    }

    /// `POST /workers/tasks/{id}/heartbeat/`.
    ///
    /// # Errors
    /// Any [`ClientError`]; `LEASE_LOST` when the attempt is no longer this lease's.
    pub async fn heartbeat(
        &self,
        id: u64,
        req: &HeartbeatRequest,
    ) -> Result<HeartbeatResponse, ClientError> {
        let path = format!("/workers/tasks/{id}/heartbeat/");
        self.send(self.timed(Method::POST, &path).json(req)).await
    }

    /// `POST /workers/tasks/{id}/complete/`.
    ///
    /// # Errors
    /// Any [`ClientError`]; `LEASE_LOST` when the attempt is no longer this lease's.
    pub async fn complete(&self, id: u64, req: &CompleteRequest) -> Result<TaskBody, ClientError> {
        let path = format!("/workers/tasks/{id}/complete/");
        self.send(self.timed(Method::POST, &path).json(req)).await
    }

    /// `POST /workers/complete/`: up to 100 successes at once; one result per report, in order
    /// (a refused report refuses no other).
    ///
    /// # Errors
    /// Any [`ClientError`] for the request as a whole (a 503 when the cluster took none of them
    /// for sure: resend them all).
    pub async fn complete_many(
        &self,
        req: &CompleteManyRequest,
    ) -> Result<CompleteManyResponse, ClientError> {
        self.send(self.timed(Method::POST, "/workers/complete/").json(req))
            .await
    }

    /// `POST /workers/tasks/{id}/fail/`.
    ///
    /// # Errors
    /// Any [`ClientError`]; `LEASE_LOST` when the attempt is no longer this lease's.
    pub async fn fail(&self, id: u64, req: &FailRequest) -> Result<FailResponse, ClientError> {
        let path = format!("/workers/tasks/{id}/fail/");
        self.send(self.timed(Method::POST, &path).json(req)).await
    }

    /// `POST /workers/tasks/{id}/release/`: gives the task back unfinished, without spending
    /// a retry.
    ///
    /// # Errors
    /// Any [`ClientError`]; `LEASE_LOST` when the attempt is no longer this lease's.
    pub async fn release(&self, id: u64, req: &ReleaseRequest) -> Result<TaskBody, ClientError> {
        let path = format!("/workers/tasks/{id}/release/");
        self.send(self.timed(Method::POST, &path).json(req)).await
    }

    /// A request that gives up after [`REPORT_TIMEOUT`]: a report that hangs must not outlive
    /// its lease.
    fn timed(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).timeout(REPORT_TIMEOUT)
    }

    /// `GET /tasks/` with these query parameters.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn list_tasks(&self, query: &[(&str, &str)]) -> Result<Page<TaskBody>, ClientError> {
        self.send(self.request(Method::GET, "/tasks/").query(query))
            .await
    }

    /// `GET /tasks/{id}/` (an `id` or a `task_id`).
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn get_task(&self, id: &str) -> Result<TaskBody, ClientError> {
        self.send(self.request(Method::GET, &format!("/tasks/{id}/")))
            .await
    }

    /// `POST /tasks/`, with an `Idempotency-Key` when given.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn create_task(
        &self,
        task: &NewTask,
        idempotency_key: Option<&str>,
    ) -> Result<TaskBody, ClientError> {
        let mut req = self.request(Method::POST, "/tasks/").json(task);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        self.send(req).await
    }

    /// `POST /tasks/bulk/`: up to 1,000 tasks created together (or none), in this order, with an
    /// `Idempotency-Key` for the whole request when given.
    ///
    /// # Errors
    /// Any [`ClientError`]; a validation error names each task's field as `tasks[i].field`.
    pub async fn create_tasks(
        &self,
        tasks: &[NewTask],
        idempotency_key: Option<&str>,
    ) -> Result<CreatedTasks, ClientError> {
        #[derive(Serialize)]
        struct Bulk<'a> {
            tasks: &'a [NewTask],
        }
        let mut req = self
            .request(Method::POST, "/tasks/bulk/")
            .json(&Bulk { tasks });
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        self.send(req).await
    }

    /// `PATCH /tasks/{id}/`, or `PUT` when `replace`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn update_task(
        &self,
        id: &str,
        patch: &TaskPatch,
        replace: bool,
    ) -> Result<TaskBody, ClientError> {
        let method = if replace { Method::PUT } else { Method::PATCH };
        self.send_json(method, &format!("/tasks/{id}/"), patch)
            .await
    }

    /// `DELETE /tasks/{id}/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn delete_task(&self, id: &str) -> Result<(), ClientError> {
        self.send::<Option<()>>(self.request(Method::DELETE, &format!("/tasks/{id}/")))
            .await
            .map(|_| ())
    }

    /// `POST /tasks/{id}/cancel/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn cancel_task(&self, id: &str) -> Result<CancelResponse, ClientError> {
        self.send(self.request(Method::POST, &format!("/tasks/{id}/cancel/")))
            .await
    }

    /// `POST /tasks/{id}/retry/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn retry_task(
        &self,
        id: &str,
        options: &RetryRequest,
    ) -> Result<RetryResponse, ClientError> {
        self.send_json(Method::POST, &format!("/tasks/{id}/retry/"), options)
            .await
    }

    /// `GET /tasks/queue-stats/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn queue_stats(&self) -> Result<QueueStats, ClientError> {
        self.send(self.request(Method::GET, "/tasks/queue-stats/"))
            .await
    }

    /// `GET /tasks/type-stats/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn type_stats(&self) -> Result<TypeStats, ClientError> {
        self.send(self.request(Method::GET, "/tasks/type-stats/"))
            .await
    }

    /// `GET /cluster/status/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn cluster_status(&self) -> Result<ClusterStatusBody, ClientError> {
        self.send(self.request(Method::GET, "/cluster/status/"))
            .await
    }

    /// `POST /cluster/init/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn cluster_init(&self, req: &InitRequest) -> Result<ClusterStatusBody, ClientError> {
        self.send_json(Method::POST, "/cluster/init/", req).await
    }

    /// `POST /cluster/learners/`: answers once the learner caught up.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn add_learner(
        &self,
        req: &LearnerRequest,
    ) -> Result<ClusterStatusBody, ClientError> {
        self.send_json(Method::POST, "/cluster/learners/", req)
            .await
    }

    /// `POST /cluster/membership/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn change_membership(
        &self,
        voters: &[u64],
    ) -> Result<ClusterStatusBody, ClientError> {
        let req = MembershipRequest {
            voters: voters.to_vec(),
        };
        self.send_json(Method::POST, "/cluster/membership/", &req)
            .await
    }

    /// `DELETE /cluster/nodes/{id}/`.
    ///
    /// # Errors
    /// Any [`ClientError`].
    pub async fn remove_node(&self, id: u64) -> Result<ClusterStatusBody, ClientError> {
        self.send(self.request(Method::DELETE, &format!("/cluster/nodes/{id}/")))
            .await
    }

    /// `GET` of an endpoint that needs no token.
    async fn get_open(&self, path: &str) -> Result<reqwest::Response, ClientError> {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))
    }

    /// Whether `GET /healthz` answers 200.
    ///
    /// # Errors
    /// The node cannot be reached.
    pub async fn healthy(&self) -> Result<bool, ClientError> {
        let res = self.get_open("/healthz").await?;
        Ok(res.status().is_success())
    }

    /// `GET /metrics`: the node's figures in the Prometheus text format.
    ///
    /// # Errors
    /// The node cannot be reached, or does not answer 200.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let res = self.get_open("/metrics").await?;
        let status = res.status();
        let text = res
            .text()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        if !status.is_success() {
            return Err(ClientError::Decode {
                status: status.as_u16(),
                detail: text.chars().take(200).collect(),
            });
        }
        Ok(text)
    }

    /// `GET /status`: the node's readiness, Raft position, queues, leases and attempt counts.
    ///
    /// # Errors
    /// The node cannot be reached, or does not answer 200 with the body.
    pub async fn node_status(&self) -> Result<taskcore_wire::NodeStatusBody, ClientError> {
        let res = self.get_open("/status").await?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|_| ClientError::Decode {
            status: status.as_u16(),
            detail: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        })
    }

    /// Whether `GET /readyz` answers 200.
    ///
    /// # Errors
    /// The node cannot be reached.
    pub async fn ready(&self) -> Result<bool, ClientError> {
        let res = self.get_open("/readyz").await?;
        Ok(res.status().is_success())
    }
}
