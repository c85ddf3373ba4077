//! A router over a fresh one-node store, tokens, and a small request builder for `oneshot`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use taskcore_api::{app, mint_hs256, ApiConfig, AppState, AuthConfig, AuthKeys};
use taskcore_cluster::{ClusterConfig, ClusterGuard, ClusterHandle, NodeAddr};
use taskcore_scheduler::{SchedulerConfig, SchedulerHandle};
use taskcore_store::Storage;
use tower::ServiceExt;

pub const SECRET: &str = "test-secret";

/// Numbers the harnesses of one test binary, so that their actors have distinct names.
static HARNESSES: AtomicU32 = AtomicU32::new(0);

pub struct Harness {
    pub app: Router,
    pub cluster: ClusterHandle,
    pub token: String,
    _guard: ClusterGuard,
    _storage: Storage,
    _dir: tempfile::TempDir,
}

pub fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Claims of user 1 "martin", allowed on brand 9 "Humari" and brand 10 "Other".
pub fn user_claims() -> Value {
    json!({
        "sub": 1, "username": "martin", "exp": now() + 3600,
        "brands": [{"id": 9, "name": "Humari"}, {"id": 10, "name": "Other"}],
    })
}

pub fn token(claims: &Value) -> String {
    mint_hs256(SECRET, claims).unwrap()
}

/// A token with the worker role.
pub fn worker_token() -> String {
    token(&json!({"sub": 50, "username": "worker-1", "exp": now() + 3600, "roles": ["worker"]}))
}

/// A worker's POST, without a brand.
pub async fn report(h: &Harness, path: &str, body: Value) -> Resp {
    h.post(path, body)
        .bearer(&worker_token())
        .without("x-brand-id")
        .send()
        .await
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_auth(AuthConfig {
            hs256_secret: Some(SECRET.into()),
            ..Default::default()
        })
        .await
    }

    /// A one-node cluster (the same write path as every node) behind the router.
    pub async fn with_auth(auth: AuthConfig) -> Self {
        Self::with(auth, std::time::Duration::ZERO, ApiConfig::default()).await
    }

    /// A node with this edge configuration.
    pub async fn with_api_config(api: ApiConfig) -> Self {
        let auth = AuthConfig {
            hs256_secret: Some(SECRET.into()),
            ..Default::default()
        };
        Self::with(auth, std::time::Duration::ZERO, api).await
    }

    /// A node whose reading of the clock runs `ahead` of the time the leader stamps.
    pub async fn with_clock_ahead(ahead: std::time::Duration) -> Self {
        Self::with(
            AuthConfig {
                hs256_secret: Some(SECRET.into()),
                ..Default::default()
            },
            ahead,
            ApiConfig::default(),
        )
        .await
    }

    async fn with(auth: AuthConfig, clock_ahead: std::time::Duration, api: ApiConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let raft_addr = listener.local_addr().unwrap().to_string();
        let addr = NodeAddr {
            http_addr: "127.0.0.1:1".into(),
            raft_addr,
        };
        let mut config = ClusterConfig::new(1, addr, "secret");
        config.clock_ahead = clock_ahead;
        let (cluster, guard) = ClusterHandle::start(config, &storage, listener)
            .await
            .unwrap();
        cluster.init(Default::default()).await.unwrap();
        let wait = cluster
            .raft()
            .wait(Some(std::time::Duration::from_secs(10)));
        wait.current_leader(1, "leader").await.unwrap();
        assert!(
            cluster.wait_ready(std::time::Duration::from_secs(10)).await,
            "the node is ready"
        );
        let scheduler = SchedulerHandle::start(
            cluster.clone(),
            SchedulerConfig {
                takeover_grace: std::time::Duration::ZERO,
                name: format!("harness{}", HARNESSES.fetch_add(1, Ordering::Relaxed)),
                ..Default::default()
            },
        );
        let state = AppState {
            cluster: cluster.clone(),
            scheduler,
            edge: Default::default(),
            auth: Arc::new(AuthKeys::new(&auth).unwrap()),
            config: Arc::new(api),
        };
        Harness {
            app: app(state),
            cluster,
            token: token(&user_claims()),
            _guard: guard,
            _storage: storage,
            _dir: dir,
        }
    }

    pub fn call(&self, method: Method, uri: &str) -> Call<'_> {
        Call {
            h: self,
            method,
            uri: uri.to_owned(),
            headers: vec![
                (
                    "authorization".into(),
                    format!("Bearer {}", self.token).into_bytes(),
                ),
                ("x-brand-id".into(), b"9".to_vec()),
            ],
            body: Vec::new(),
        }
    }

    pub fn get(&self, uri: &str) -> Call<'_> {
        self.call(Method::GET, uri)
    }

    pub fn post(&self, uri: &str, body: Value) -> Call<'_> {
        self.call(Method::POST, uri).json(body)
    }

    /// Creates a task in brand 9 and returns its body.
    pub async fn create(&self, body: Value) -> Value {
        let r = self.post("/tasks/", body).send().await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body
    }

    /// Creates a data_export task with these extra fields.
    pub async fn create_with(&self, extra: Value) -> Value {
        let mut body = json!({"task_type": "data_export"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.create(body).await
    }
}

pub struct Call<'a> {
    h: &'a Harness,
    method: Method,
    uri: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or("")
    }

    /// The fields `field_errors` names, sorted.
    pub fn error_fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = self.body["field_errors"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        fields.sort();
        fields
    }
}

impl Call<'_> {
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.retain(|(k, _)| k != name);
        self.headers
            .push((name.to_owned(), value.as_ref().to_vec()));
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(k, _)| k != name);
        self
    }

    pub fn brand(self, id: &str) -> Self {
        self.header("x-brand-id", id)
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }

    pub fn json(self, body: Value) -> Self {
        self.raw(serde_json::to_vec(&body).unwrap(), Some("application/json"))
    }

    pub fn raw(mut self, body: impl Into<Vec<u8>>, content_type: Option<&str>) -> Self {
        self.body = body.into();
        match content_type {
            Some(t) => self.header("content-type", t),
            None => self.without("content-type"),
        }
    }

    pub async fn send(self) -> Resp {
        let mut req = Request::builder().method(self.method).uri(&self.uri);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), HeaderValue::from_bytes(v).unwrap());
        }
        let req = req.body(Body::from(self.body)).unwrap();
        let res = self.h.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let raw = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or(Value::Null)
        };
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }
}
