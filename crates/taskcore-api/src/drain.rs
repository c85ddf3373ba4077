//! Lingering drain: the unread rest of a request body is read and thrown away before the answer
//! leaves.
//!
//! The edge often answers before it has read a body: 413 as soon as `Content-Length` exceeds the
//! limit, 401 or 415 before the body is looked at. If the connection then closes with bytes still
//! unread, the kernel resets it, and a client that is still writing its body sees "broken pipe"
//! instead of the answer. Like nginx's lingering close, the edge reads what is left — up to
//! [`DRAIN_MAX_BYTES`] and [`DRAIN_MAX_TIME`] — so that the answer arrives and the connection can
//! be reused. Past either bound it gives up and answers with `Connection: close`.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

/// The most bytes read and discarded after an early answer.
pub const DRAIN_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The longest the edge keeps reading a body it has already answered.
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(10);

/// The request body, shared between the handler (which may read some of it) and this layer
/// (which reads the rest).
struct Shared {
    body: Body,
    polled: bool,
}

struct SharedBody(Arc<Mutex<Shared>>);

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl HttpBody for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut shared = lock(&self.0);
        shared.polled = true;
        Pin::new(&mut shared.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        lock(&self.0).body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        lock(&self.0).body.size_hint()
    }
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Middleware: runs the request, then drains what the handler left unread.
pub(crate) async fn drain_unread(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let waits_for_continue = expects_continue(&parts.headers);
    let declared = declared_length(&parts.headers);
    let shared = Arc::new(Mutex::new(Shared {
        body,
        polled: false,
    }));
    let inner = Body::new(SharedBody(Arc::clone(&shared)));
    let mut response = next.run(Request::from_parts(parts, inner)).await;
    let (rest, polled) = {
        let mut shared = lock(&shared);
        (std::mem::take(&mut shared.body), shared.polled)
    };
    if rest.is_end_stream() || (waits_for_continue && !polled) {
        // Read to the end, or a client that sends nothing until told to continue: it never
        // will be, the answer tells it not to send.
        return response;
    }
    let drained = declared.is_none_or(|n| n <= DRAIN_MAX_BYTES) && drain(rest).await;
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads `body` to its end within the bounds; false when a bound or an error stopped it.
async fn drain(mut body: Body) -> bool {
    let read_all = async {
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > DRAIN_MAX_BYTES {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_MAX_TIME, read_all)
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::routing::post;
    use axum::Router;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt;

    use super::*;

    /// A body of `chunks` chunks of 64 KiB that counts the chunks read.
    struct Counted {
        left: usize,
        read: Arc<AtomicUsize>,
    }

    impl HttpBody for Counted {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            self.left -= 1;
            self.read.fetch_add(1, Ordering::SeqCst);
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 64 * 1024])))))
        }
    }

    /// Answers 413 without reading a byte, like the body extractor facing a large
    /// `Content-Length`.
    fn app() -> Router {
        Router::new()
            .route("/", post(|| async { StatusCode::PAYLOAD_TOO_LARGE }))
            .route(
                "/read",
                post(|body: Body| async move {
                    match axum::body::to_bytes(body, usize::MAX).await {
                        Ok(b) => b.len().to_string(),
                        Err(e) => e.to_string(),
                    }
                }),
            )
            .layer(axum::middleware::from_fn(drain_unread))
    }

    fn request(chunks: usize, read: &Arc<AtomicUsize>, headers: &[(&str, &str)]) -> Request {
        let mut b = Request::post("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::new(Counted {
            left: chunks,
            read: Arc::clone(read),
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn an_early_answer_waits_for_the_unread_body_to_be_drained() {
        let read = Arc::new(AtomicUsize::new(0));
        let r = app().oneshot(request(32, &read, &[])).await.unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(read.load(Ordering::SeqCst), 32, "every chunk was read");
        assert!(r.headers().get(header::CONNECTION).is_none());
    }

    #[tokio::test]
    async fn a_body_past_the_bound_is_not_drained_and_the_connection_closes() {
        let read = Arc::new(AtomicUsize::new(0));
        let huge = (DRAIN_MAX_BYTES + 1).to_string();
        let r = app()
            .oneshot(request(4, &read, &[("content-length", &huge)]))
            .await
            .unwrap();
        assert_eq!(read.load(Ordering::SeqCst), 0);
        assert_eq!(r.headers()[header::CONNECTION], "close");

        // Undeclared and endless: read up to the bound, then given up.
        let read = Arc::new(AtomicUsize::new(0));
        let chunks = (DRAIN_MAX_BYTES / (64 * 1024)) as usize + 10;
        let r = app().oneshot(request(chunks, &read, &[])).await.unwrap();
        assert_eq!(r.headers()[header::CONNECTION], "close");
        assert_eq!(read.load(Ordering::SeqCst), chunks - 9);
    }

    #[tokio::test]
    async fn a_client_waiting_for_continue_is_not_asked_to_send() {
        let read = Arc::new(AtomicUsize::new(0));
        let r = app()
            .oneshot(request(4, &read, &[("expect", "100-continue")]))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(read.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_handler_still_reads_the_whole_body() {
        let read = Arc::new(AtomicUsize::new(0));
        let mut req = request(3, &read, &[]);
        *req.uri_mut() = "/read".parse().unwrap();
        let r = app().oneshot(req).await.unwrap();
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(body, (3 * 64 * 1024).to_string());
    }

    /// Over a real socket: the client writes a 4 MiB body the node refuses at once, reads the
    /// 413, and sends its next request on the same connection.
    #[tokio::test]
    async fn over_a_socket_the_refused_body_is_read_and_the_connection_stays_usable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app()).await });
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let size = 4 * 1024 * 1024;
        let head = format!("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {size}\r\n\r\n");
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(&vec![b'x'; size]).await.unwrap();
        let second = "POST /read HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nok";
        conn.write_all(second.as_bytes()).await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(&seen).contains("\r\n\r\n2") {
            let n = tokio::time::timeout_at(deadline, conn.read(&mut buf))
                .await
                .expect("both answers within 10 s")
                .unwrap();
            assert!(
                n > 0,
                "connection closed: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&seen);
        assert!(text.starts_with("HTTP/1.1 413"), "{text}");
        assert!(text.contains("HTTP/1.1 200"), "{text}");
        server.abort();
    }
}
