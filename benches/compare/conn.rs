//! One keep-alive HTTP/1.1 connection, used the way etcd's load generator uses its gRPC client:
//! each request is written whole and its answer read whole and checked (the status), without
//! turning the answer into objects. The load generator shares the machine with the nodes, so
//! what it spends per request is taken from them; `taskcore-client` (reqwest, answers decoded
//! into `TaskBody`) cost about twice as much CPU per create.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// A connection to one node, as one user of brand 9.
pub struct Conn {
    send: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    auth: HeaderValue,
}

impl Conn {
    /// Connects to the node at `url` (`http://host:port`), authenticating with `token`.
    pub async fn open(url: &str, token: &str) -> Conn {
        let host = url.trim_start_matches("http://").trim_end_matches('/');
        let stream = tokio::net::TcpStream::connect(host)
            .await
            .expect("connect to the node");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (send, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .expect("HTTP handshake");
        tokio::spawn(conn);
        Conn {
            send,
            host: HeaderValue::from_str(host).expect("host header"),
            auth: HeaderValue::from_str(&format!("Bearer {token}")).expect("token header"),
        }
    }

    /// Sends `method path` (with `body` as JSON when given) and reads the whole answer;
    /// panics unless its status is `expect`.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        expect: StatusCode,
    ) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header("x-brand-id", HeaderValue::from_static("9"));
        if body.is_some() {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let req = req
            .body(Full::new(body.map(Bytes::from).unwrap_or_default()))
            .expect("a request");
        self.send.ready().await.expect("the connection is open");
        let answer = self.send.send_request(req).await.expect("an answer");
        let status = answer.status();
        let body = answer
            .into_body()
            .collect()
            .await
            .expect("the whole answer");
        let body = body.to_bytes();
        assert_eq!(status, expect, "{}", String::from_utf8_lossy(&body));
    }
}
