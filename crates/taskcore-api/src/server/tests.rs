use std::time::{Duration, Instant};

use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

async fn start(
    limits: HttpLimits,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = Router::new().route("/", get(|| async { "ok" }));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve(listener, app, limits, None, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (addr, stop, server)
}

/// Reads until the peer closes (Ok(bytes)) or `within` passes (Err).
async fn closed_within(s: &mut TcpStream, within: Duration) -> Result<Vec<u8>, ()> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, s.read_to_end(&mut out)).await {
        Ok(_) => Ok(out),
        Err(_) => Err(()),
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn a_client_that_never_finishes_its_head_is_closed() {
    let limits = HttpLimits {
        header_read_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (addr, _stop, _server) = start(limits).await;
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost:").await.unwrap();
    for s in [&mut silent, &mut slow] {
        assert!(
            closed_within(s, Duration::from_secs(10)).await.is_ok(),
            "kept open"
        );
    }
    // An idle keep-alive connection is closed after the same time.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(GET).await.unwrap();
    let answer = closed_within(&mut idle, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn connections_past_the_limit_wait_for_a_free_one() {
    let limits = HttpLimits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let (addr, _stop, _server) = start(limits).await;
    let held: Vec<TcpStream> = vec![
        TcpStream::connect(&addr).await.unwrap(),
        TcpStream::connect(&addr).await.unwrap(),
    ];
    let mut third = TcpStream::connect(&addr).await.unwrap();
    third.write_all(GET).await.unwrap();
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(waited.is_err(), "served past the limit");
    drop(held);
    let n = tokio::time::timeout(Duration::from_secs(10), third.read(&mut buf))
        .await
        .expect("served once a connection closed")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn a_shutdown_does_not_wait_for_idle_or_stalled_clients() {
    let limits = HttpLimits {
        header_read_timeout: Duration::from_secs(60),
        shutdown_grace: Duration::from_millis(500),
        ..Default::default()
    };
    let (addr, stop, server) = start(limits).await;
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(GET).await.unwrap();
    let mut buf = [0u8; 64];
    let _ = idle.read(&mut buf).await.unwrap();
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stopped")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    for s in [&mut idle, &mut stalled] {
        assert!(
            closed_within(s, Duration::from_secs(5)).await.is_ok(),
            "left open"
        );
    }
}
