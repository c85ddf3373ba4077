//! The load generator's connections: one keep-alive connection per client, as etcd's load
//! generator has.
//!
//! By default each is hyper's own HTTP/1.1 client, used the way etcd's load generator uses its
//! gRPC client: each request is written whole and its answer read whole and its status checked,
//! without turning the answer into objects. The load generator shares the machine with the
//! nodes, so what it spends per request is taken from them. `COMPARE_CLIENT=taskcore-client`
//! measures with the project's own client instead (reqwest, each answer decoded into a
//! `TaskBody`), which costs about twice as much CPU per create.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use taskcore_client::Client;
use taskcore_wire::NewTask;

/// A connection to one node, as one user of brand 9.
pub enum Conn {
    /// hyper's HTTP/1.1 client.
    Raw(Raw),
    /// `taskcore-client` (`COMPARE_CLIENT=taskcore-client`).
    Client(Client),
}

/// hyper's HTTP/1.1 client on one connection, with the headers every request carries.
pub struct Raw {
    send: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    auth: HeaderValue,
}

/// Whether `COMPARE_CLIENT` asks for `taskcore-client`.
pub fn project_client() -> bool {
    std::env::var("COMPARE_CLIENT").is_ok_and(|c| c == "taskcore-client")
}

impl Conn {
    /// Connects to the node at `url` (`http://host:port`), authenticating with `token`.
    pub async fn open(url: &str, token: &str) -> Conn {
        if project_client() {
            return Conn::Client(Client::new(url, token).with_brand(9));
        }
        let host = url.trim_start_matches("http://").trim_end_matches('/');
        let stream = tokio::net::TcpStream::connect(host)
            .await
            .expect("connect to the node");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (send, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
        tokio::spawn(conn);
        Conn::Raw(Raw {
            send,
            host: HeaderValue::from_str(host).expect("host header"),
            auth: HeaderValue::from_str(&format!("Bearer {token}")).expect("token header"),
        })
    }

    /// Creates `task`; panics unless it is created.
    pub async fn create(&mut self, task: &NewTask) {
        match self {
            Conn::Client(c) => {
                c.create_task(task, None).await.expect("create");
            }
            Conn::Raw(r) => {
                let body = serde_json::to_vec(task).expect("a task as JSON");
                r.call(Method::POST, "/tasks/", Some(body), StatusCode::CREATED)
                    .await;
            }
        }
    }

    /// Reads task `id`; panics unless it is found.
    pub async fn read(&mut self, id: u64) {
        match self {
            Conn::Client(c) => {
                c.get_task(&id.to_string()).await.expect("read");
            }
            Conn::Raw(r) => {
                r.call(Method::GET, &format!("/tasks/{id}/"), None, StatusCode::OK)
                    .await;
            }
        }
    }
}

impl Raw {
    /// Sends `method path` (with `body` as JSON when given) and reads the whole answer;
    /// panics unless its status is `expect`.
    async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        expect: StatusCode,
    ) {
        let Raw { send, host, auth } = self;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, host.clone())
            .header(AUTHORIZATION, auth.clone())
            .header("x-brand-id", HeaderValue::from_static("9"));
        if body.is_some() {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let req = req
            .body(Full::new(body.map(Bytes::from).unwrap_or_default()))
            .expect("a request");
        send.ready().await.expect("the connection is open");
        let answer = send.send_request(req).await.expect("an answer");
        let status = answer.status();
        let body = answer
            .into_body()
            .collect()
            .await
            .expect("the whole answer")
            .to_bytes();
        assert_eq!(status, expect, "{}", String::from_utf8_lossy(&body));
    }
}
